"""Scratch against transfer on the same photos: the study's central table and its data-size curve.

Notebook 03 trains CNNs from scratch on the whole photos of the ten breeds, notebook 04 trains heads on
backbone features of the same photos; each saves its test predictions (:func:`predictions_path`) and
names the file in its record (params "predictions"). Here the records and files become one table
(:func:`load_contenders`, :func:`head_to_head_table`), one paired comparison of the best of each family
(:func:`best_pair`), and the data-size curve (:func:`data_size_curve`)::

    contenders = load_contenders(load_records(results_dir), output_dir)
    table = head_to_head_table(contenders)

Words for the notebooks are in :mod:`~dogbreeds.experiments.head_to_head_text`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dogbreeds.data.folder import ImageRecord
from dogbreeds.experiments.predictions import load_predictions
from dogbreeds.experiments.records import latest_records, load_records
from dogbreeds.judge.intervals import (
    Comparison,
    Interval,
    accuracy_interval,
    paired_comparison,
    seeded_comparison,
    seeded_interval,
)

SIZES = (10, 25, 50, 100)
"""Training photos a breed on the data-size curve."""

PHOTOS_PREFIX = "photos_"
"""Run names of notebook 04's heads on the whole photos: ``photos_<backbone>``."""

SIZE_KIND = "data_size"
"""The record kind of a point of the data-size curve (params "per_breed")."""

TRANSFER_SIZE_PREFIX = "transfer_size_"
SCRATCH_SIZE_PREFIX = "scratch_size_"

SCRATCH_RUNS = {
    "scratch_baseline": "CNN from scratch, random weights",
    "scratch_pretrained": "CNN from scratch, pre-trained on the 120-breed crops",
}
"""Notebook 03's runs on the whole photos, by run name, and how the table names them."""

FAMILIES = ("from scratch", "transfer")


@dataclass(frozen=True)
class Contender:
    """One model of the central table: its test correctness (one row per seed) and its costs.

    ``correct`` is None when its predictions file is missing; ``top1`` and ``photos`` then come from its record.
    """

    run_name: str
    model: str
    family: str
    top1: float
    photos: int
    train_photos: int | None
    train_seconds: float | None
    val_top1: float | None = None
    correct: np.ndarray | None = None
    keys: tuple[str, ...] = ()

    def interval(self) -> Interval:
        """95 % interval of the test top-1: Wilson for one run, a bootstrap over photos and seeds for several."""
        if self.correct is None:
            return accuracy_interval(round(self.top1 * self.photos), self.photos)
        return seeded_interval(self.correct)


def per_breed_rows(records: Sequence[ImageRecord], per_breed: int, seed: int) -> np.ndarray:
    """Positions in ``records`` of at most ``per_breed`` photos of each breed, drawn with ``seed``.

    Each breed's photos are shuffled once per seed, so the subsets are nested: the 10 photos of a
    breed are among its 25, its 25 among its 50.
    """
    rng = np.random.default_rng(seed)
    by_breed: dict[str, list[int]] = {}
    for position, record in enumerate(records):
        by_breed.setdefault(record.label_id, []).append(position)
    chosen = [rng.permutation(group)[:per_breed] for _, group in sorted(by_breed.items())]
    return np.sort(np.concatenate(chosen)) if chosen else np.empty(0, dtype=np.int64)


def predictions_path(output_dir: str | os.PathLike, run_name: str) -> Path:
    """Where a run's test predictions go: ``<output_dir>/predictions/<run_name>.npz``."""
    return Path(output_dir) / "predictions" / f"{run_name}.npz"


def photo_key(path: str | os.PathLike) -> str:
    """A photo's breed folder and file name: the same photo whatever folder the data set sits in."""
    parts = Path(path).parts
    return "/".join(parts[-2:])


def _value(row: pd.Series, column: str) -> Any:
    value = row.get(column)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value


def _prediction_files(row: pd.Series, output_dir: Path) -> list[Path]:
    named = _value(row, "params.predictions")
    if named is None:
        found = sorted((output_dir / "predictions").glob(f"{row['run_name']}-seed*.npz"))
        return found or [p for p in [predictions_path(output_dir, row["run_name"])] if p.is_file()]
    names = [named] if isinstance(named, str) else list(named)
    return [output_dir / name for name in names]


def _test_correctness(files: Sequence[Path]) -> tuple[np.ndarray, tuple[str, ...]] | None:
    """One row of test correctness per file, its photos ordered by key; None when a file is missing."""
    if not files or not all(path.is_file() for path in files):
        return None
    rows, keys = [], None
    for path in files:
        test = load_predictions(path)["test"]
        order = sorted(range(len(test.paths)), key=lambda i: photo_key(test.paths[i]))
        these = tuple(photo_key(test.paths[i]) for i in order)
        if keys is not None and these != keys:
            return None
        keys = these
        rows.append((np.asarray(test.probabilities).argmax(axis=1) == np.asarray(test.labels))[order])
    return np.stack(rows), keys


def _contender(row: pd.Series, model: str, family: str, output_dir: Path) -> Contender:
    loaded = _test_correctness(_prediction_files(row, output_dir))
    photos = _value(row, "metrics.n") or _value(row, "data.counts.test")
    return Contender(
        run_name=row["run_name"],
        model=model,
        family=family,
        top1=float(loaded[0].mean()) if loaded else float(row["metrics.top1"]),
        photos=int(loaded[0].shape[1]) if loaded else int(photos),
        train_photos=None if _value(row, "data.counts.train") is None else int(row["data.counts.train"]),
        train_seconds=_value(row, "timings.train_seconds"),
        val_top1=_value(row, "metrics.val_top1"),
        correct=loaded[0] if loaded else None,
        keys=loaded[1] if loaded else (),
    )


def load_contenders(records: pd.DataFrame, output_dir: str | os.PathLike) -> list[Contender]:
    """The central table's models found in a run's records (newest of each): scratch first, then transfer by size."""
    if records.empty or "params.model" not in records:
        return []
    latest = latest_records(records).drop_duplicates("run_name", keep="last").set_index("run_name", drop=False)
    output_dir = Path(output_dir)
    scratch = [
        _contender(latest.loc[name], label, "from scratch", output_dir)
        for name, label in SCRATCH_RUNS.items()
        if name in latest.index
    ]
    heads = latest[(latest["kind"] == "transfer") & latest["run_name"].str.startswith(PHOTOS_PREFIX)]
    heads = heads.sort_values("params.parameters", kind="stable")  # the smallest model first
    transfer = [_contender(row, row["params.model"], "transfer", output_dir) for _, row in heads.iterrows()]
    return scratch + transfer


def head_to_head_table(contenders: Sequence[Contender]) -> pd.DataFrame:
    """One row per model: family, test top-1 with its interval, test photos, training photos and time."""
    rows = []
    for contender in contenders:
        interval = contender.interval()
        rows.append(
            {
                "model": contender.model,
                "family": contender.family,
                "runs": 1 if contender.correct is None else len(contender.correct),
                "test top-1": interval.value,
                "low": interval.low,
                "high": interval.high,
                "test photos": contender.photos,
                "training photos": contender.train_photos,
                "training (s)": contender.train_seconds,
            }
        )
    columns = ["model", "family", "runs", "test top-1", "low", "high", "test photos", "training photos", "training (s)"]
    return pd.DataFrame(rows, columns=columns)


def readable_head_to_head(table: pd.DataFrame) -> pd.DataFrame:
    """The table as text for a page: the top-1 with its interval in one cell, counts and seconds formatted."""

    def whole(value: Any) -> str:
        return "" if value is None or pd.isna(value) else f"{value:,.0f}"

    return pd.DataFrame(
        {
            "model": table["model"],
            "trained": table["family"],
            "runs": table["runs"].map(str),
            "test top-1 (95 % interval)": [
                Interval(row["test top-1"], row["low"], row["high"]).text() for _, row in table.iterrows()
            ],
            "test photos": table["test photos"].map(whole),
            "training photos": table["training photos"].map(whole),
            "training time (s)": table["training (s)"].map(whole),
        }
    ).reset_index(drop=True)


def _best(contenders: Sequence[Contender], family: str) -> Contender | None:
    """The family's model with the best validation top-1 (test top-1 when one lacks it) and predictions."""
    found = [c for c in contenders if c.family == family and c.correct is not None]
    if not found:
        return None
    chosen_on_val = all(c.val_top1 is not None for c in found)
    return max(found, key=lambda c: c.val_top1 if chosen_on_val else c.top1)


def best_pair(contenders: Sequence[Contender]) -> tuple[Contender, Contender, Comparison] | None:
    """The best transfer model against the best scratch CNN, matched photo by photo (transfer minus scratch).

    Several seeds of the scratch CNN: a bootstrap over photos and seeds; else a paired bootstrap and McNemar's test.
    None when either family has no predictions or they share no photo.
    """
    scratch, transfer = _best(contenders, "from scratch"), _best(contenders, "transfer")
    if scratch is None or transfer is None:
        return None
    shared = sorted(set(scratch.keys) & set(transfer.keys))
    if not shared:
        return None
    a = transfer.correct[:, [transfer.keys.index(key) for key in shared]]
    b = scratch.correct[:, [scratch.keys.index(key) for key in shared]]
    comparison = seeded_comparison(a, b) if len(a) > 1 or len(b) > 1 else paired_comparison(a[0], b[0])
    return scratch, transfer, comparison


def _size(row: pd.Series) -> int | None:
    value = _value(row, "params.per_breed")
    if value is not None:
        return int(value)
    found = re.match(rf"{SCRATCH_SIZE_PREFIX}(\d+)", row["run_name"])  # scratch_size_<n>, maybe a seed after it
    return int(found.group(1)) if found else None


def data_size_curve(records: pd.DataFrame) -> pd.DataFrame:
    """Test top-1 (with a Wilson interval) against training photos a breed, for scratch and transfer.

    Points are the records named ``scratch_size_<n>`` and the data-size records of the transfer heads;
    several records of one model and size (seeds) make one point, their mean, its interval on the test photos.
    """
    columns = ["family", "model", "per breed", "training photos", "test top-1", "low", "high"]
    if records.empty:
        return pd.DataFrame(columns=columns)
    latest = latest_records(records)
    names = latest["run_name"]
    scratch = latest[names.str.startswith(SCRATCH_SIZE_PREFIX)]
    transfer = latest[names.str.startswith(TRANSFER_SIZE_PREFIX) & (latest["kind"] == SIZE_KIND)]
    rows = []
    for family, found in (("from scratch", scratch), ("transfer", transfer)):
        for _, row in found.iterrows():
            photos = int(_value(row, "metrics.n") or row["data.counts.test"])
            trained = _value(row, "params.train_photos")
            if family == "from scratch":  # one recipe at every size: one curve, named as in the central table
                model = SCRATCH_RUNS["scratch_baseline"]
                if trained is None and _size(row) is not None and _value(row, "data.num_classes") is not None:
                    # at most that many a breed: every breed here has at least the largest size's photos
                    trained = min(_size(row) * int(row["data.num_classes"]), _value(row, "data.counts.train") or 0)
            else:
                model = _value(row, "params.model")
            rows.append([family, model, _size(row), trained, float(row["metrics.top1"]), photos])
    found = pd.DataFrame(rows, columns=[*columns[:5], "photos"]).dropna(subset=["per breed"])
    found["training photos"] = pd.to_numeric(found["training photos"], errors="coerce")  # None: not recorded
    points = found.groupby(columns[:3], sort=False, as_index=False).mean(numeric_only=True)
    intervals = [
        accuracy_interval(round(point["test top-1"] * point["photos"]), round(point["photos"]))
        for _, point in points.iterrows()
    ]
    points["low"] = [interval.low for interval in intervals]
    points["high"] = [interval.high for interval in intervals]
    curve = points[columns] if len(points) else pd.DataFrame(columns=columns)
    return curve.sort_values(["family", "model", "per breed"], kind="stable").reset_index(drop=True)


def central_table(output_dir: str | os.PathLike) -> pd.DataFrame:
    """The central table of a run folder, as text (:func:`readable_head_to_head`): for the report's summary."""
    records = load_records(Path(output_dir) / "results")
    return readable_head_to_head(head_to_head_table(load_contenders(records, output_dir)))
