"""The study's results records read back as a table, and what a model's record must carry.

Records are written by :mod:`dogbreeds.core.recordfile`; here a run's folder of them becomes a table
(one row per record, the newest of each run on demand), and a model's record is checked to carry the
fields notebook 05 compares.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from dogbreeds.core.recordfile import RecordError, load_record

TABLE_SECTIONS = ("params", "metrics", "timings", "data", "versions")

MODEL_KINDS = ("scratch", "transfer")
"""Record kinds that describe a complete model: their records must carry a :class:`ModelResult`."""


@dataclass(frozen=True)
class ModelResult:
    """What every model's record (kind "scratch" or "transfer") carries, typed: what notebook 05 compares.

    :meth:`from_record` reads it from a record's sections (see ``SECTIONS``) and refuses a missing,
    empty or mistyped field, so a notebook that forgets one fails when it writes the record.
    """

    model: str
    parameters: int
    top1: float
    top5: float
    macro_f1: float
    kappa: float
    train_seconds: float
    inference_ms_per_image: float
    val_top1: float | None = None
    ece: float | None = None
    model_path: str | None = None

    SECTIONS: ClassVar[dict[str, str]] = {
        "model": "params",
        "parameters": "params",
        "model_path": "params",
        "train_seconds": "timings",
        "inference_ms_per_image": "timings",
        "top1": "metrics",
        "top5": "metrics",
        "macro_f1": "metrics",
        "kappa": "metrics",
        "val_top1": "metrics",
        "ece": "metrics",
    }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ModelResult:
        """The model fields of ``record``; :class:`RecordError` names every missing or wrong one."""
        values, problems = {}, []
        for field in dataclasses.fields(cls):
            where = f"{cls.SECTIONS[field.name]}.{field.name}"
            value = (record.get(cls.SECTIONS[field.name]) or {}).get(field.name)
            if value is None:
                if field.default is dataclasses.MISSING:
                    problems.append(f"{where} is missing")
                continue
            if field.name in ("model", "model_path"):
                ok = isinstance(value, str) and bool(value.strip())
            elif field.name == "parameters":
                ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
            else:
                ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            if not ok:
                problems.append(f"{where} is {value!r}")
            values[field.name] = value
        if problems:
            raise RecordError(
                f"The {record.get('kind')} record {record.get('run_name')!r} cannot be compared: {'; '.join(problems)}."
            )
        return cls(**values)


def check_model_record(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """``record``, once a model's record (kind in ``MODEL_KINDS``) is checked to carry every :class:`ModelResult` field.

    Study records go through it when written, so a notebook that forgets a field fails there, not in notebook 05.
    """
    if record.get("kind") in MODEL_KINDS:
        ModelResult.from_record(record)
    return record


def latest_records(table: pd.DataFrame) -> pd.DataFrame:
    """The newest record of each (kind, run_name) in a :func:`load_records` table.

    A notebook run again (``--from``) writes its records anew; the older ones stay in
    the folder but no longer stand behind any number.
    """
    return table.sort_values("timestamp", kind="stable").drop_duplicates(["kind", "run_name"], keep="last")


def most_breeds(table: pd.DataFrame) -> pd.DataFrame:
    """The records of the task with the most breeds (the 120-breed benchmark, not the ten breeds' whole photos)."""
    if table.empty or "data.num_classes" not in table or table["data.num_classes"].isna().all():
        return table
    return table[table["data.num_classes"] == table["data.num_classes"].max()]


def load_records(folder: str | os.PathLike) -> pd.DataFrame:
    """All records of ``folder`` as a table: one row per record, nested sections flattened.

    Columns: run_name, kind, timestamp, source, seed, notes, path, then ``params.*``,
    ``metrics.*``, ``timings.*``, ``data.*`` and ``versions.*``; the per-epoch history
    stays in the files (``load_record``). Rows are sorted by timestamp.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise RecordError(f"Results folder {folder} does not exist; runs create it when they write a record.")
    base = ["run_name", "kind", "timestamp", "source", "seed", "notes", "path"]
    rows = []
    for path in sorted(folder.glob("*.json")):
        if path.name.startswith("."):
            continue
        record = load_record(path)
        rows.append(
            {
                **{key: record.get(key) for key in base if key != "path"},
                "path": str(path),
                **{section: record.get(section) or {} for section in TABLE_SECTIONS},
            }
        )
    if not rows:
        return pd.DataFrame(columns=base)
    table = pd.json_normalize(rows)
    return table.sort_values(["timestamp", "run_name"], kind="stable").reset_index(drop=True)
