"""What the benchmarks share: where their records go, their record kind and their error."""

from __future__ import annotations

from dogbreeds.core.config import REPO_ROOT
from dogbreeds.core.errors import DogbreedsError

DEFAULT_RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
BENCH_KIND = "benchmark"


class BenchError(DogbreedsError, ValueError):
    """A benchmark was asked for with data or settings it cannot run on."""
