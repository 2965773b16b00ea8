"""Notebook 05's logic: the table of all trained models, the best one, and the advice for the shelter.

Inputs are the results table of :func:`dogbreeds.experiments.records.load_records`, a loaded
prediction bundle and plain arrays of labels and probabilities; nothing here trains.

    table = comparison_table(load_records(results_dir), data_dir=settings.data_dir)
    best = choose_best(table)                       # by validation accuracy when recorded
    saved = choose_best(table, saved_only=True)     # the best model that can be reloaded
    test = predict_split(load_bundle(resolve_model_path(saved, output_dir)), split.test, label_map)
    advice = shelter_advice(val.labels, val.probabilities, test.labels, test.probabilities, 0.95)
    Markdown(shelter_markdown(advice, saved.model, num_classes=len(label_map)))
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dogbreeds.core.errors import DogbreedsError
from dogbreeds.data.folder import ImageRecord
from dogbreeds.experiments.records import MODEL_KINDS, latest_records

COLUMNS = {
    "model": "params.model",
    "kind": "kind",
    "run_name": "run_name",
    "top1": "metrics.top1",
    "top5": "metrics.top5",
    "macro_f1": "metrics.macro_f1",
    "kappa": "metrics.kappa",
    "ece": "metrics.ece",
    "val_top1": "metrics.val_top1",
    "parameters": "params.parameters",
    "train_seconds": "timings.train_seconds",
    "inference_ms_per_image": "timings.inference_ms_per_image",
    "model_path": "params.model_path",
    "dataset": "params.dataset",
    "breeds": "data.num_classes",
}
"""Comparison table column -> results-record column. Records lacking an optional one get NaN there."""

DISPLAY_COLUMNS = {
    "kind": "kind",
    "top1": "top-1",
    "top5": "top-5",
    "macro_f1": "macro F1",
    "kappa": "kappa",
    "ece": "ECE",
    "parameters": "parameters (M)",
    "train_seconds": "training (s)",
    "inference_ms_per_image": "ms / photo",
    "dataset": "data",
    "breeds": "breeds",
}
"""Comparison table column -> short heading of :func:`readable_table`."""

ACCURACY_COLUMNS = ("kind", "top1", "top5", "macro_f1", "kappa", "ece")
COST_COLUMNS = ("kind", "parameters", "train_seconds", "inference_ms_per_image")

REQUIRED_COLUMNS = (
    "model",
    "top1",
    "top5",
    "macro_f1",
    "kappa",
    "parameters",
    "train_seconds",
    "inference_ms_per_image",
)


class ComparisonError(DogbreedsError, ValueError):
    """The results cannot be compared as asked; the message says what to run or fix."""


class NoModelRecordsError(ComparisonError):
    """No scratch or transfer model has been recorded yet."""


def comparison_table(
    records: pd.DataFrame, data_dir: str | os.PathLike | None = None, num_classes: int | None = None
) -> pd.DataFrame:
    """One row per model (records of kind scratch or transfer), best test top-1 first.

    Only records of the same data folder and number of breeds are kept when these are
    given, and of several records with the same kind and run name the latest wins (a
    resumed or re-run notebook rewrites its records). Columns: see :data:`COLUMNS`.
    """
    models = records[records["kind"].isin(MODEL_KINDS)] if "kind" in records else records.iloc[0:0]
    if data_dir is not None and "params.data_dir" in models:
        models = models[models["params.data_dir"] == str(data_dir)]
    if num_classes is not None and "data.num_classes" in models:
        models = models[models["data.num_classes"] == num_classes]
    if models.empty:
        where = f" for data {data_dir}" if data_dir is not None else ""
        raise NoModelRecordsError(
            f"No model results records (kind {' or '.join(MODEL_KINDS)}){where}: notebooks 03 (scratch CNN) and "
            "04 (transfer learning) write them. Run them first, e.g. `dogbreeds run --until 05`, or with the "
            "same output_dir and data_dir as this notebook."
        )
    models = latest_records(models)
    missing = [f"{COLUMNS[name]} ({name})" for name in REQUIRED_COLUMNS if COLUMNS[name] not in models]
    if missing:
        raise ComparisonError(
            f"Model records lack {', '.join(missing)}; every scratch/transfer record must "
            "carry them (see notebooks 03 and 04)."
        )
    table = pd.DataFrame({name: models.get(column, np.nan) for name, column in COLUMNS.items()})
    incomplete = table.loc[table[list(REQUIRED_COLUMNS)].isna().any(axis=1), "run_name"].tolist()
    if incomplete:
        raise ComparisonError(
            f"Model records {incomplete} have empty values in {list(REQUIRED_COLUMNS)}; "
            "re-run the notebook that wrote them."
        )
    table["parameters"] = table["parameters"].astype("int64")
    return table.sort_values(["top1", "run_name"], ascending=[False, True]).reset_index(drop=True)


@dataclass(frozen=True)
class BestModel:
    """The model chosen from a comparison table, and on what grounds."""

    run_name: str
    model: str
    kind: str
    criterion: str  # "validation top-1" or "test top-1"
    score: float
    model_path: str | None  # saved bundle, relative to the run's output folder

    @property
    def chosen_on_test(self) -> bool:
        """True when no validation accuracy was recorded, so the test set picked the model (optimistic)."""
        return self.criterion.startswith("test")


def choose_best(table: pd.DataFrame, saved_only: bool = False) -> BestModel:
    """The model with the best validation top-1 when every candidate recorded one, else the best test top-1.

    Ties go to the smaller model (never to the test score), as notebook 04 does, then to a saved one.
    ``saved_only`` keeps the models saved as a bundle (``model_path``), the ones that can be reloaded.
    """
    candidates = table[table["model_path"].notna()] if saved_only else table
    if candidates.empty:
        raise ComparisonError(
            "No model in the comparison was saved as a bundle (params.model_path); notebook 04 saves the best "
            "transfer model. Run notebook 04 with the same output_dir."
        )
    by_validation = candidates["val_top1"].notna().all()
    key = "val_top1" if by_validation else "top1"
    ranked = candidates.assign(saved=candidates["model_path"].notna()).sort_values(
        [key, "parameters", "saved", "run_name"], ascending=[False, True, False, True]
    )
    row = ranked.iloc[0]
    return BestModel(
        run_name=str(row["run_name"]),
        model=str(row["model"]),
        kind=str(row["kind"]),
        criterion="validation top-1" if by_validation else "test top-1",
        score=float(row[key]),
        model_path=None if pd.isna(row["model_path"]) else str(row["model_path"]),
    )


def readable_table(
    table: pd.DataFrame, columns: Sequence[str] = (*ACCURACY_COLUMNS, *COST_COLUMNS[1:])
) -> pd.DataFrame:
    """Some columns of the comparison table for display: one row per model, short headings, rounded.

    Parameters are shown in millions; ``columns`` are names of :data:`DISPLAY_COLUMNS`.
    """
    unknown = [column for column in columns if column not in DISPLAY_COLUMNS]
    if unknown:
        raise ComparisonError(f"Cannot display {unknown}; choose among {list(DISPLAY_COLUMNS)}.")
    shown = table.set_index("model")[list(columns)].rename(columns=DISPLAY_COLUMNS)
    if "parameters (M)" in shown:
        shown["parameters (M)"] = shown["parameters (M)"] / 1e6
    return shown.round(
        {
            "top-1": 3,
            "top-5": 3,
            "macro F1": 3,
            "kappa": 3,
            "ECE": 3,
            "parameters (M)": 2,
            "training (s)": 1,
            "ms / photo": 1,
        }
    )


def worst_breed(per_breed: pd.DataFrame) -> str:
    """The breed with the lowest accuracy in a :func:`dogbreeds.judge.evaluation.per_breed_accuracy` table.

    Ties go to the breed with more test photos (more evidence), then alphabetical order.
    """
    rated = per_breed.dropna(subset=["accuracy"])
    if rated.empty:
        raise ComparisonError("No breed has test photos, so none can be called the worst.")
    return str(rated.sort_values(["accuracy", "n", "breed"], ascending=[True, False, True]).iloc[0]["breed"])


def pick_photos(records: Sequence[ImageRecord], count: int, seed: int) -> list[int]:
    """Positions in ``records`` of ``count`` photos spread over the breeds (one per breed in turn), seeded."""
    if count < 1:
        raise ComparisonError(f"count must be at least 1, got {count}.")
    rng = np.random.default_rng(seed)
    by_breed: dict[str, list[int]] = {}
    for position in sorted(range(len(records)), key=lambda i: (records[i].label_id, str(records[i].path))):
        by_breed.setdefault(records[position].label_id, []).append(position)
    queues = {label: [group[i] for i in rng.permutation(len(group))] for label, group in by_breed.items()}
    labels = sorted(queues)
    breeds = [labels[i] for i in rng.permutation(len(labels))]
    picked: list[int] = []
    while len(picked) < count and any(queues.values()):
        for label in breeds:
            if queues[label] and len(picked) < count:
                picked.append(queues[label].pop(0))
    return picked


def comparison_markdown(table: pd.DataFrame, breeds: int | None = None) -> str:
    """What the comparison table says, in words: the best model, and transfer against scratch when both exist.

    With ``breeds``, the best model is chosen among the models of that many breeds; models trained on
    another data set are described beside it, with their chance level, never ranked against it.
    """
    if breeds is not None and "breeds" in table and (table["breeds"] != breeds).any():
        same = table[table["breeds"] == breeds]
        lines = [comparison_markdown(same)] if not same.empty else []
        for (dataset, count), others in table[table["breeds"] != breeds].groupby(["dataset", "breeds"], dropna=False):
            best = choose_best(others)
            row = others.set_index("run_name").loc[best.run_name]
            families = " and ".join(sorted(set(others["kind"])))
            lines.append(
                f"Other {families} models were trained and tested on another data set ({dataset}, {int(count)} "
                f"breeds, chance {1 / count:.0%}): the one chosen on its {best.criterion}, {best.model}, reaches "
                f"{percent(row['top1'])} test top-1, {row['top1'] * count:.1f} times chance, against "
                f"{percent(same['top1'].max())} ({same['top1'].max() * breeds:.0f} times chance) for the best model "
                f"on the {breeds} breeds."
                if not same.empty
                else f"The {families} models ({dataset}, {int(count)} breeds) reach at best {percent(row['top1'])}."
            )
        return " ".join(lines)
    best = choose_best(table)
    lines = [(f"**Best model: {best.model}** ({best.kind}), chosen on its {best.criterion} ({percent(best.score)}).")]
    if best.chosen_on_test:
        lines.append(
            "No validation accuracy was recorded for every model, so the test set picked it: its test "
            "numbers are then slightly optimistic."
        )
    kinds = set(table["kind"])
    if kinds != set(MODEL_KINDS):
        lines.append(
            f"Only {' and '.join(sorted(kinds))} models were trained on these photos; the two families meet on "
            "the same photos in the comparison of scratch against transfer."
        )
        return " ".join(lines)
    row = {
        kind: table.set_index("run_name").loc[choose_best(table[table["kind"] == kind]).run_name]
        for kind in MODEL_KINDS
    }
    scratch, transfer = row["scratch"], row["transfer"]
    gap = round(100 * (transfer["top1"] - scratch["top1"]))
    difference = "as much" if gap == 0 else f"{abs(gap)} percentage points {'more' if gap > 0 else 'less'}"
    lines.append(
        f"The best transfer model ({transfer['model']}) reaches {percent(transfer['top1'])} test top-1 against "
        f"{percent(scratch['top1'])} for the best CNN trained from scratch ({scratch['model']}), {difference}, "
        "with "
        f"{transfer['parameters'] / scratch['parameters']:.1f} times the parameters, "
        f"{transfer['train_seconds']:.0f} s of training against {scratch['train_seconds']:.0f} s, and "
        f"{transfer['inference_ms_per_image']:.1f} ms against {scratch['inference_ms_per_image']:.1f} ms per photo."
    )
    return " ".join(lines)


def studied_markdown(studied: BestModel, best: BestModel, validation: int, test: int) -> str:
    """Which saved model is studied photo by photo, on how many photos, and whether a better one was not saved."""
    text = (
        f"Studied below: **{studied.model}**, chosen on its {studied.criterion}, on {validation:,} validation "
        f"and {test:,} test photos."
    )
    if best.run_name == studied.run_name:
        return text
    return f"{text} The best model overall, **{best.model}**, was not saved."


def percent(share: float) -> str:
    """A share as a whole percentage, with one decimal where rounding would claim 0% or 100%."""
    return f"{share:.1%}" if 0 < share < 0.005 or 0.995 <= share < 1 else f"{share:.0%}"


def resolve_model_path(best: BestModel, output_dir: str | os.PathLike) -> Path:
    """The saved bundle folder of a model (its ``model_path`` is relative to the run's output folder)."""
    if best.model_path is None:
        raise ComparisonError(f"Model {best.run_name!r} was not saved as a bundle; choose with saved_only=True.")
    folder = Path(output_dir) / best.model_path
    if not folder.is_dir():
        raise ComparisonError(
            f"The saved model of {best.run_name!r} is missing: {folder} does not exist. Re-run notebook 04 "
            "with this output_dir."
        )
    return folder
