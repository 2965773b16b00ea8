"""Project-wide settings: where data, caches and runs live, and the default seed."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
SAMPLE_DATA_DIR = REPO_ROOT / "data" / "sample"
DATA_DIR_ENV = "DOGBREEDS_DATA_DIR"
SHARED_DATASETS_ENV = "DOGBREEDS_SHARED_DATASETS"
DEFAULT_SEED = 42


def default_data_dir() -> Path:
    """The data folder to use when none is given: $DOGBREEDS_DATA_DIR, else the bundled sample."""
    value = os.environ.get(DATA_DIR_ENV)
    return Path(value).expanduser() if value else SAMPLE_DATA_DIR


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path:
    """An explicit data folder, or the default one."""
    return Path(data_dir).expanduser() if data_dir else default_data_dir()


def shared_datasets_dir() -> Path:
    """The folder of real data sets beside the checkout: $DOGBREEDS_SHARED_DATASETS, else ../shared/datasets."""
    value = os.environ.get(SHARED_DATASETS_ENV)
    return Path(value).expanduser() if value else REPO_ROOT.parent / "shared" / "datasets"
