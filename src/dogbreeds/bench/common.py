"""What the benchmarks share: where their records go, their record kind, writing one, and their error."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dogbreeds.core.config import REPO_ROOT
from dogbreeds.core.errors import DogbreedsError
from dogbreeds.core.recordfile import make_record, write_record

DEFAULT_RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
BENCH_KIND = "benchmark"


class BenchError(DogbreedsError, ValueError):
    """A benchmark was asked for with data or settings it cannot run on."""


def write_bench_record(
    run_name: str,
    bench: str,
    data_dir: str | os.PathLike,
    results_dir: str | os.PathLike,
    *,
    params: Mapping[str, Any],
    **fields: Any,
) -> Path:
    """Write one benchmark's results record into ``results_dir``; returns its path.

    Its ``params`` open with the benchmark's name and the resolved ``data_dir``; ``fields`` are
    the other keyword arguments of :func:`~dogbreeds.core.recordfile.make_record`.
    """
    resolved = str(Path(data_dir).resolve())
    record = make_record(run_name, BENCH_KIND, params={"bench": bench, "data_dir": resolved, **params}, **fields)
    return write_record(record, results_dir)
