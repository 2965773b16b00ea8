"""Results records: one JSON file per run, written atomically and never overwritten.

A record holds the run's name and kind, its parameters, test metrics, per-epoch
history, timings, data counts, seed, library versions, the command or notebook that
produced it and a UTC timestamp. Values are stored as strict JSON: NumPy scalars and
arrays become plain numbers and lists, and non-finite floats (NaN, +-inf) become ``null``.
The study reads records back as a table (:mod:`dogbreeds.experiments.records`); the
benchmarks and the shelter's training write them too.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import shlex
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from dogbreeds.core.errors import DogbreedsError
from dogbreeds.core.fileio import dumps_json, safe_name, to_jsonable, write_temp_file

SCHEMA_VERSION = 1
REQUIRED_KEYS = ("schema", "run_name", "kind", "timestamp")

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
    from dogbreeds.core.provenance import device_name

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
    return to_jsonable(record)


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
