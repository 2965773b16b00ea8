"""The results records of notebook 03: ablation arms, seeded and single models, data-size points.

Each function returns ``(run_name, kind, fields)`` or the fields of one record, for ``Study.record``:
accuracies with their 95 % interval, epochs run and kept, and the relative paths of the saved predictions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from dogbreeds.data.splits import Split
from dogbreeds.experiments.ablation import VariantResult, comparison_fields
from dogbreeds.experiments.scratch_runs import RecipeSettings, SeedRun
from dogbreeds.experiments.scratch_study import SizedRun, prediction_path, predictions_paths
from dogbreeds.inputs.arrays import SplitArrays
from dogbreeds.judge.intervals import Comparison, accuracy_interval

BASELINE_RUN = "scratch_baseline"
TUNED_RUN = "scratch_tuned"
PRETRAINED_RUN = "scratch_pretrained"
SEARCH_RUN = "scratch_search"


def size_run_name(per_breed: int) -> str:
    """The record name of the data-size point trained on ``per_breed`` photos a breed."""
    return f"scratch_size_{per_breed}"


def ablation_records(
    results: Sequence[VariantResult],
    table: pd.DataFrame,
    arrays: SplitArrays,
    split: Split,
    output_dir: Path,
    settings: RecipeSettings,
) -> list[tuple[str, str, dict[str, Any]]]:
    """One ``ablation`` record per arm (with its comparison), and the baseline again as a ``scratch`` model.

    Every seed's predictions are saved; the records name them.
    """
    rows = table.set_index("variant")
    records = []
    for result in results:
        name = result.variant.name
        run_name = BASELINE_RUN if result.variant.control is None else f"ablation_{name}"
        predictions = predictions_paths(result.runs, arrays, split, output_dir, run_name)
        comparison = comparison_fields(rows.loc[name]) if result.variant.control is not None else None
        fields = result.record_fields(comparison)
        fields["params"] |= {"predictions": predictions, "recipe": settings.to_dict()}
        records.append((f"ablation_{name}", "ablation", fields))
        if result.variant.control is None:
            model = seeded_model_fields(result, "Scratch CNN, baseline recipe", predictions, settings)
            records.append((BASELINE_RUN, "scratch", model))
    return records


def seeded_model_fields(
    result: VariantResult,
    model_name: str,
    predictions: list[str],
    settings: RecipeSettings,
    comparison: Comparison | None = None,
) -> dict[str, Any]:
    """A ``scratch`` model record for a recipe trained with several seeds: mean metrics and their interval."""
    fields = result.record_fields()
    fields["params"] |= {"model": model_name, "predictions": predictions, "recipe": settings.to_dict()}
    if comparison is not None:
        fields["params"]["comparison"] = comparison_dict(comparison, "baseline")
    return fields


def comparison_dict(comparison: Comparison, against: str) -> dict[str, Any]:
    """A comparison with another recipe or model, as a record stores it."""
    return {
        "control": against,
        "difference": comparison.difference.value,
        "difference_low": comparison.difference.low,
        "difference_high": comparison.difference.high,
        "p_value": comparison.p_value,
        "verdict": comparison.verdict,
        "method": comparison.method,
    }


def single_model_fields(
    run: SeedRun, model_name: str, predictions: str, settings: RecipeSettings, **params: Any
) -> dict[str, Any]:
    """A model record's fields for one run: its metrics with a Wilson interval, epochs run and kept, timings."""
    metrics = dict(run.test_metrics)
    interval = accuracy_interval(round(metrics["top1"] * metrics["n"]), metrics["n"])
    metrics |= {"top1_low": interval.low, "top1_high": interval.high, "val_top1": run.val_metrics["top1"]}
    return {
        "metrics": metrics,
        "history": run.history,
        "timings": {
            "train_seconds": run.train_seconds,
            "epochs_run": run.epochs_run,
            "epoch_kept": run.epoch_kept,
            "inference_ms_per_image": run.inference_ms_per_image,
        },
        "params": {
            "model": model_name,
            "parameters": run.parameters,
            "recipe": settings.to_dict(),
            "seed": run.seed,
            "from_cache": run.from_cache,
            "predictions": predictions,
            **params,
        },
    }


def data_size_records(
    runs: Sequence[SizedRun], arrays: SplitArrays, split: Split, output_dir: Path, settings: RecipeSettings
) -> list[tuple[str, str, dict[str, Any]]]:
    """One ``data_size`` record per point: photos a breed, test top-1 with its Wilson interval, predictions."""
    records = []
    for sized in runs:
        name = size_run_name(sized.per_breed)
        predictions = prediction_path(sized.run, arrays, split, output_dir, name)
        fields = single_model_fields(
            sized.run,
            f"Scratch CNN, {sized.per_breed} photos a breed",
            predictions,
            settings,
            per_breed=sized.per_breed,
            train_images=sized.images,
            val_in_training=sized.val_in_training,
        )
        records.append((name, "data_size", fields))
    return records
