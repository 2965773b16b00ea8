"""Run profiles: the parameter sets behind `quick` (CPU, minutes, the bundled sample), `cpu` (the real
study on a CPU, on the real folders of ../shared/datasets) and `full` (GPU, Stanford Dogs).

Notebooks take `profile` plus optional overrides in their papermill `parameters`
cell and call `settings_for` to get one resolved, JSON-serializable settings object.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dogbreeds.core.config import DEFAULT_SEED, REPO_ROOT, resolve_data_dir, shared_datasets_dir

STANDALONE_OUTPUT = REPO_ROOT / "runs" / "standalone"


@dataclass(frozen=True)
class RunSettings:
    """Everything a notebook needs to know about the run it is part of."""

    profile: str
    data_dir: Path  # the breeds benchmark: transfer learning (04) and the comparison (05)
    photos_dir: Path  # whole photos: their sizes (01), preprocessing (02), the scratch CNN (03)
    output_dir: Path
    breeds: Any  # "all", an int N (the N most represented), or a list of breeds
    image_size: int  # scratch CNN input side, pixels
    transfer_image_size: int | None  # backbone input side, pixels (None: each backbone's own)
    batch_size: int
    epochs: int
    fine_tune_epochs: int
    tuner_trials: int
    ablation_seeds: int  # repeats of each ablation variant, for mean +/- std
    whitening_size: int  # side at which PCA/ZCA whitening is fitted
    seed: int
    head_epochs: int = 200  # most epochs of a head on cached features (early stopping ends it sooner)
    val_fraction: float = 0.2  # share of each breed's training photos held out for validation
    fine_tune_per_breed: int | None = None  # training photos per breed when fine-tuning (None: all)
    deterministic: bool = True  # deterministic TensorFlow ops: bit-identical reruns; set False on a GPU
    # whose ops have no deterministic kernel (slower or refused there)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable copy (paths as strings)."""
        return {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(self).items()}


PROFILES: dict[str, dict[str, Any]] = {
    "quick": dict(
        breeds=10,
        image_size=64,
        transfer_image_size=160,
        batch_size=32,
        epochs=8,
        fine_tune_epochs=2,
        tuner_trials=2,
        ablation_seeds=1,
        whitening_size=32,
        head_epochs=20,
    ),
    "cpu": dict(
        data_dir=("stanford-dogs-crops224",),
        photos_dir=("stanford-dogs-10breeds",),
        breeds="all",
        image_size=64,
        transfer_image_size=None,
        batch_size=32,
        epochs=30,
        fine_tune_epochs=2,
        tuner_trials=10,
        ablation_seeds=3,
        whitening_size=32,
        val_fraction=0.1,
        fine_tune_per_breed=10,
    ),
    "full": dict(
        breeds="all",
        image_size=128,
        transfer_image_size=224,
        batch_size=64,
        epochs=60,
        fine_tune_epochs=10,
        tuner_trials=20,
        ablation_seeds=3,
        whitening_size=32,
    ),
}


def profile_folder(profile: str, name: str) -> Path | None:
    """The data folder a profile names for ``name`` ("data_dir" or "photos_dir"), under the shared data sets."""
    folder = PROFILES.get(profile, {}).get(name)
    return shared_datasets_dir().joinpath(*folder) if folder else None


def settings_for(
    profile: str = "quick",
    *,
    data_dir: str | Path | None = None,
    output_dir: str | Path | None = None,
    seed: int = DEFAULT_SEED,
    **overrides: Any,
) -> RunSettings:
    """Resolve a profile and overrides (None means "profile default") into RunSettings.

    The data folder is ``data_dir``, else the profile's own (``cpu``: the shared real folders), else
    $DOGBREEDS_DATA_DIR or the bundled sample; ``photos_dir`` is the override, else the profile's, else ``data_dir``.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {sorted(PROFILES)}")
    values = {k: v for k, v in PROFILES[profile].items() if k not in ("data_dir", "photos_dir")}
    known = {field.name for field in dataclasses.fields(RunSettings)} - {"profile", "data_dir", "output_dir", "seed"}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(known)}")
    values.update({k: v for k, v in overrides.items() if v is not None})
    data = resolve_data_dir(data_dir or profile_folder(profile, "data_dir"))
    photos = values.pop("photos_dir", None) or profile_folder(profile, "photos_dir")
    return RunSettings(
        profile=profile,
        data_dir=data,
        photos_dir=Path(photos) if photos else data,
        output_dir=Path(output_dir) if output_dir else STANDALONE_OUTPUT,
        seed=seed,
        **values,
    )
