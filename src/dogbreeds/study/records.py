"""Results records: one JSON file per run, written atomically, read back as a table.

A record holds the run's name and kind, its parameters, test metrics, per-epoch
history, timings, data counts, seed, library versions, the command or notebook that
produced it and a UTC timestamp. Values are stored as strict JSON: NumPy scalars and
arrays become plain numbers and lists, and non-finite floats (NaN, +-inf) become ``null``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
import platform
import re
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from dogbreeds.core.errors import DogbreedsError
from dogbreeds.core.fileio import (
    dumps_json,
    safe_name,
    to_jsonable,
    write_temp_file,
)

SCHEMA_VERSION = 1
REQUIRED_KEYS = ("schema", "run_name", "kind", "timestamp")
TABLE_SECTIONS = ("params", "metrics", "timings", "data", "versions")

# Name shown in the record -> installed distributions that provide it (first one found wins).
_DISTRIBUTIONS = {
    "tensorflow": ("tensorflow-cpu", "tensorflow"),
    "keras": ("keras",),
    "keras-tuner": ("keras-tuner",),
    "numpy": ("numpy",),
    "scikit-learn": ("scikit-learn",),
    "opencv": ("opencv-python-headless", "opencv-python"),
    "pillow": ("pillow",),
    "pandas": ("pandas",),
}


class RecordError(DogbreedsError, ValueError):
    """A results record cannot be written or read."""


def library_versions() -> dict[str, str | None]:
    """Versions of Python and the libraries that shape results (``None`` when not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for label, distributions in _DISTRIBUTIONS.items():
        versions[label] = next((v for v in map(_installed_version, distributions) if v), None)
    return versions


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


def make_record(
    run_name: str,
    kind: str,
    *,
    params: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    history: Mapping[str, Any] | None = None,
    timings: Mapping[str, Any] | None = None,
    data_counts: Mapping[str, int] | None = None,
    num_classes: int | None = None,
    seed: int | None = None,
    source: str | None = None,
    data_hash: str | None = None,
    notes: str = "",
) -> dict[str, Any]:
    """A JSON-ready results record.

    ``kind`` says what was trained ("scratch", "transfer", "feature_head", "fine_tune",
    "tuning", ...); ``metrics`` are the test metrics (e.g. top1, top5, macro_f1);
    ``history`` the per-epoch values from training; ``data_counts`` the number of images
    per split; ``data_hash`` the content hash of the data used (``provenance.data_hash``).
    ``source`` defaults to the running command (or notebook); ``device`` is filled in.
    """
    from dogbreeds.core.provenance import device_name  # provenance writes with this module's helpers

    if not run_name or not run_name.strip():
        raise RecordError("run_name must be a non-empty string naming the run.")
    if not kind or not kind.strip():
        raise RecordError("kind must be a non-empty string such as 'scratch' or 'transfer'.")
    record = {
        "schema": SCHEMA_VERSION,
        "run_name": run_name,
        "kind": kind,
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "source": source if source is not None else _default_source(),
        "seed": seed,
        "device": device_name(),
        "params": dict(params or {}),
        "metrics": dict(metrics or {}),
        "history": dict(history or {}),
        "timings": dict(timings or {}),
        "data": {"counts": dict(data_counts or {}), "num_classes": num_classes, "hash": data_hash},
        "versions": library_versions(),
        "notes": notes,
    }
    record = to_jsonable(record)
    if kind in MODEL_KINDS:
        ModelResult.from_record(record)  # a model's record carries every field the comparison reads
    return record


def write_record(record: Mapping[str, Any], folder: str | os.PathLike) -> Path:
    """Writes ``record`` into ``folder`` under a new, unique, filesystem-safe name; returns the path.

    The file appears complete or not at all: it is written to a temporary file first,
    then hard-linked to its final name, which never replaces an existing record.
    """
    _check_record(record, "the record to write")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    text = dumps_json(record)
    stamp = re.sub(r"[^0-9T]", "", str(record["timestamp"]))[:15]
    stem = f"{stamp}-{safe_name(str(record['run_name']))}"
    temp = write_temp_file(folder, ".record-", text.encode("utf-8"))
    try:
        for attempt in range(1, 10_000):
            target = folder / (f"{stem}.json" if attempt == 1 else f"{stem}-{attempt}.json")
            try:
                os.link(temp, target)
            except FileExistsError:
                continue
            return target
        raise RecordError(f"Could not find a free file name for {stem!r} in {folder}.")
    finally:
        temp.unlink()


def load_record(path: str | os.PathLike) -> dict[str, Any]:
    """One record, as written by ``write_record``."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RecordError(f"Cannot read results record {path}: {error}") from error
    _check_record(record, str(path))
    return record


def latest_records(table: pd.DataFrame) -> pd.DataFrame:
    """The newest record of each (kind, run_name) in a :func:`load_records` table.

    A notebook run again (``--from``) writes its records anew; the older ones stay in
    the folder but no longer stand behind any number.
    """
    return table.sort_values("timestamp", kind="stable").drop_duplicates(["kind", "run_name"], keep="last")


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


def _check_record(record: Any, where: str) -> None:
    if not isinstance(record, Mapping):
        raise RecordError(f"{where} is not a results record (a JSON object was expected).")
    missing = [key for key in REQUIRED_KEYS if key not in record]
    if missing:
        raise RecordError(f"{where} is not a results record: missing {missing}. Build records with make_record().")


def _installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _default_source() -> str:
    notebook = os.environ.get("JPY_SESSION_NAME")
    if notebook and "ipykernel" in sys.modules:
        return notebook
    return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv and sys.argv[0] else "python"
