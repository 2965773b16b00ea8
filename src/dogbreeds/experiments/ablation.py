"""Controlled ablations of the scratch recipe: train each variant of :mod:`dogbreeds.experiments.ablation_variants`.

Every variant trains on the same photos, for several seeds, with the same fixed schedule
(:func:`~dogbreeds.experiments.scratch_runs.train_seed`; runs are cached by code and data), and
is compared with its control on the same test photos: the difference of the mean accuracies
with a bootstrap interval over photos and seeds, and Holm's correction over the whole family of
comparisons (:mod:`dogbreeds.judge.intervals`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from dogbreeds.experiments.ablation_variants import AblationError, Variant, VariantInputs, describe_change
from dogbreeds.experiments.scratch_runs import RecipeSettings, SeedRun, cached_seed_run, run_key, train_seed
from dogbreeds.judge.intervals import (
    Comparison,
    Interval,
    holm_adjust,
    holm_verdicts,
    seeded_comparison,
    seeded_interval,
)
from dogbreeds.models.builders import CNNConfig

EVALUATION_KEYS = ("top1", "top5", "macro_f1", "kappa", "ece", "mce")
"""The ``evaluate()`` metrics averaged over seeds in a variant's record."""

TABLE_COLUMNS = (
    "variant",
    "change",
    "control",
    "test_accuracy",
    "test_accuracy_std",
    "val_accuracy",
    "difference",
    "difference_low",
    "difference_high",
    "p_value",
    "p_holm",
    "verdict",
    "seeds",
    "epochs_run",
    "epoch_kept",
    "train_seconds",
    "parameters",
    "test_images",
)


@dataclass(frozen=True)
class VariantResult:
    """All seeds of one variant, its settings and how they differ from its control."""

    variant: Variant
    settings: dict[str, Any]
    change: str
    runs: tuple[SeedRun, ...]
    test_labels: np.ndarray

    @property
    def parameters(self) -> int:
        return self.runs[0].parameters

    def correct(self) -> np.ndarray:
        """One row of per-photo test correctness per seed."""
        return np.array([run.test_correct(self.test_labels) for run in self.runs])

    def interval(self) -> Interval:
        """The mean test accuracy over seeds, with its bootstrap interval over photos and seeds."""
        return seeded_interval(self.correct())

    def metrics(self) -> dict[str, Any]:
        """Test metrics of ``evaluate()`` averaged over seeds, their interval, spread and the validation top-1."""
        first = self.runs[0].test_metrics
        interval = self.interval()
        metrics: dict[str, Any] = {"n": first["n"], "num_classes": first["num_classes"]}
        metrics.update({key: _mean([run.test_metrics.get(key) for run in self.runs]) for key in EVALUATION_KEYS})
        metrics.update(top1_low=interval.low, top1_high=interval.high)
        metrics["top1_std"] = _std([run.test_metrics["top1"] for run in self.runs])
        metrics["val_top1"] = _mean([run.val_metrics["top1"] for run in self.runs])
        return metrics

    def timings(self) -> dict[str, Any]:
        """Mean training time, epochs run and kept (the same for every seed of a fixed schedule), speed."""
        return {
            "train_seconds": _mean([run.train_seconds for run in self.runs]),
            "epochs_run": max(run.epochs_run for run in self.runs),
            "epoch_kept": max(run.epoch_kept for run in self.runs),
            "inference_ms_per_image": _mean([run.inference_ms_per_image for run in self.runs]),
        }

    def record_fields(self, comparison: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``metrics``, ``history`` (first seed), ``timings`` and ``params`` (with ``comparison``) for a record."""
        return {
            "metrics": self.metrics(),
            "history": self.runs[0].history,
            "timings": self.timings(),
            "params": {
                "variant": self.variant.name,
                "change": self.change,
                "control": self.variant.control,
                "settings": self.settings,
                "parameters": self.parameters,
                "seeds": [run.seed for run in self.runs],
                "per_seed": [run.summary() for run in self.runs],
                **({"comparison": dict(comparison)} if comparison else {}),
            },
        }


def run_variant(
    variant: Variant,
    inputs: VariantInputs,
    settings: RecipeSettings,
    *,
    seeds: Sequence[int],
    cache_dir: str | Path,
    control: Variant | None = None,
    base: CNNConfig | None = None,
) -> VariantResult:
    """Train ``variant`` once per seed (or read the seed back from ``cache_dir``) and gather the results."""
    if not seeds:
        raise AblationError("Give at least one seed.")
    if (control is None) != (variant.control is None) or (control and control.name != variant.control):
        raise AblationError(
            f"Variant {variant.name!r} is compared with {variant.control!r}; pass that variant "
            f"as control, got {control.name if control else None!r}."
        )
    data = inputs.for_variant(variant)
    config = variant.cnn_config(base)
    runs = []
    for seed in seeds:
        inputs_key = dict(seed=seed, augmentation=variant.augmentation, whitening=variant.whitening)
        key = run_key(config, data, settings, **inputs_key)

        def train(seed: int = seed) -> tuple[SeedRun, Any]:
            front = _whitening_front(inputs) if variant.whitening else None
            return train_seed(config, data, settings, seed=seed, augmentation=variant.augmentation, front=front)

        runs.append(cached_seed_run(cache_dir, key, train)[0])
    mine = variant.settings(inputs.image_size, base)
    theirs = control.settings(inputs.image_size, base) if control else None
    return VariantResult(variant, mine, describe_change(mine, theirs), tuple(runs), data.test.labels)


def run_ablation(
    variants: Sequence[Variant],
    inputs: VariantInputs,
    settings: RecipeSettings,
    *,
    seeds: Sequence[int],
    cache_dir: str | Path,
    base: CNNConfig | None = None,
    on_result: Callable[[VariantResult], Any] | None = None,
    progress: bool = True,
) -> list[VariantResult]:
    """Run every variant in order; ``on_result`` gets each result as soon as it is ready."""
    by_name = {variant.name: variant for variant in variants}
    if len(by_name) != len(variants):
        raise AblationError("Variant names must be unique.")
    missing = sorted({v.control for v in variants if v.control is not None} - set(by_name))
    if missing:
        raise AblationError(f"Control variant(s) {missing} are not in the study; add them or change the controls.")
    results = []
    bar = tqdm(variants, desc="ablation", unit="variant", disable=not progress)
    for variant in bar:
        bar.set_postfix_str(variant.name)
        control = by_name[variant.control] if variant.control is not None else None
        result = run_variant(variant, inputs, settings, seeds=seeds, cache_dir=cache_dir, control=control, base=base)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def compare_with_controls(results: Sequence[VariantResult]) -> dict[str, Comparison]:
    """Each variant with a control against it, on the same test photos (bootstrap over photos and seeds)."""
    by_name = {result.variant.name: result for result in results}
    return {
        result.variant.name: seeded_comparison(result.correct(), by_name[result.variant.control].correct())
        for result in results
        if result.variant.control is not None
    }


def ablation_table(results: Sequence[VariantResult]) -> pd.DataFrame:
    """One row per variant, in study order, with its comparison against its control and the Holm verdict.

    ``difference`` is the variant's mean test accuracy minus its control's, with a 95 % interval;
    ``p_holm`` is the p-value adjusted by Holm's correction over every comparison of the table, and
    the verdict counts a difference only when that adjusted p-value is under 5 % and the interval excludes 0.
    """
    if not results:
        raise AblationError("No results to tabulate; run the ablation first.")
    comparisons = compare_with_controls(results)
    names = list(comparisons)
    adjusted = dict(zip(names, holm_adjust([c.p_value for c in comparisons.values()]) if names else []))
    verdicts = dict(zip(names, holm_verdicts(list(comparisons.values())) if names else []))
    rows = []
    for result in results:
        name, metrics, timings = result.variant.name, result.metrics(), result.timings()
        comparison = comparisons.get(name)
        rows.append(
            {
                "variant": name,
                "change": result.change,
                "control": result.variant.control,
                "test_accuracy": metrics["top1"],
                "test_accuracy_std": metrics["top1_std"],
                "val_accuracy": metrics["val_top1"],
                "difference": comparison.difference.value if comparison else math.nan,
                "difference_low": comparison.difference.low if comparison else math.nan,
                "difference_high": comparison.difference.high if comparison else math.nan,
                "p_value": comparison.p_value if comparison else math.nan,
                "p_holm": float(adjusted[name]) if comparison else math.nan,
                "verdict": verdicts[name] if comparison else "reference",
                "seeds": len(result.runs),
                "epochs_run": timings["epochs_run"],
                "epoch_kept": timings["epoch_kept"],
                "train_seconds": timings["train_seconds"],
                "parameters": result.parameters,
                "test_images": metrics["n"],
            }
        )
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def comparison_fields(row: pd.Series) -> dict[str, Any]:
    """A table row's comparison, for its record: difference, interval, p-values and verdict."""
    keys = ("difference", "difference_low", "difference_high", "p_value", "p_holm", "verdict")
    return {key: row[key] for key in keys} | {"control": row["control"]}


def _whitening_front(inputs: VariantInputs) -> Any:
    """The fitted ZCA whitening as a fixed layer, scaled back to the pixel range the CNN rescales."""
    import keras

    return keras.Sequential([inputs.whitener().to_keras_layer(), keras.layers.Rescaling(255.0)], name="zca_front")


def _mean(values: Sequence[float | int | None]) -> float:
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(np.mean(finite)) if finite else math.nan


def _std(values: Sequence[float | int | None]) -> float:
    """Sample standard deviation (n - 1); NaN with fewer than two values."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(np.std(finite, ddof=1)) if len(finite) >= 2 else math.nan
