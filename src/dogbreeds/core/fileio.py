"""File writing for every module: strict JSON values and their digests, atomic writes, safe file names, standard
error redirected. No domain knowledge.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import io
import json
import math
import os
import re
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dogbreeds.core.errors import DogbreedsError


class UnstorableValueError(DogbreedsError, ValueError):
    """A value with no strict-JSON form (the message names its type)."""


def to_jsonable(value: Any) -> Any:
    """``value`` as strict-JSON types; NaN and infinities become ``None``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return [to_jsonable(item) for item in sorted(value)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(value.to_dict() if hasattr(value, "to_dict") else dataclasses.asdict(value))
    raise UnstorableValueError(
        f"Cannot store a {type(value).__name__} in a results record; convert it to numbers, strings, lists or dicts."
    )


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """Writes ``data`` as strict JSON to ``path`` atomically (see ``write_bytes_atomic``)."""
    write_bytes_atomic(path, dumps_json(data).encode("utf-8"))


def write_bytes_atomic(path: str | os.PathLike, content: bytes) -> None:
    """Writes ``content`` to a temporary file beside ``path``, then renames it over ``path``.

    Readers see the old file or the new one, never a partial one. The file mode follows
    the umask, like any newly created file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = write_temp_file(path.parent, f".{path.name}.", content)
    try:
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def write_npz_atomic(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], *, compressed: bool = False) -> None:
    """Writes ``arrays`` as one NumPy ``.npz`` file (zip-compressed when ``compressed``), atomically."""
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    write_bytes_atomic(path, buffer.getvalue())


def safe_name(name: str) -> str:
    """``name`` reduced to letters, digits, dots, dashes and underscores (at most 80), for file names."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    return slug[:80] or "run"


def write_temp_file(folder: Path, prefix: str, content: bytes) -> Path:
    """``content`` written and synced to a new, uniquely named ``.partial`` file in ``folder``; its path."""
    temp = folder / f"{prefix}{uuid.uuid4().hex}.partial"
    handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def dumps_json(data: Any) -> str:
    """``data`` as indented strict JSON (NaN and infinities as null), with a final newline."""
    return json.dumps(to_jsonable(data), indent=2, allow_nan=False) + "\n"


def loads_strict_json(text: str | bytes) -> Any:
    """The value of JSON ``text``; ValueError for NaN, infinities (``1e400`` too) and nesting too deep to read."""
    try:
        return json.loads(text, parse_constant=_refuse_number, parse_float=_finite_float)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply to read") from None


def _refuse_number(text: str) -> float:
    raise ValueError(f"{text} is not a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    return value if math.isfinite(value) else _refuse_number(text)


def json_digest(data: Any) -> str:
    """SHA-256 (hex) of ``data`` written as :func:`dumps_json`: a key made from settings."""
    return hashlib.sha256(dumps_json(data).encode()).hexdigest()


@contextlib.contextmanager
def standard_error_to(fd: int) -> Iterator[None]:
    """While the block runs, standard error (file descriptor 2, which child processes inherit) writes
    to ``fd``; it is restored whatever ends the block.
    """
    terminal = os.dup(2)
    try:
        sys.stderr.flush()
        os.dup2(fd, 2)
        yield
    finally:
        try:
            sys.stderr.flush()
        finally:
            os.dup2(terminal, 2)
            os.close(terminal)
