"""Run profiles: the parameter sets behind `quick` (CPU, minutes) and `full` (GPU, Stanford Dogs).

Notebooks take `profile` plus optional overrides in their papermill `parameters`
cell and call `settings_for` to get one resolved, JSON-serializable settings object.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dogbreeds.config import DEFAULT_SEED, resolve_data_dir


@dataclass(frozen=True)
class RunSettings:
    """Everything a notebook needs to know about the run it is part of."""

    profile: str
    data_dir: Path
    output_dir: Path
    breeds: Any  # "all", an int N (the N most represented), or a list of breeds
    image_size: int  # scratch CNN input side, pixels
    transfer_image_size: int  # backbone input side, pixels
    batch_size: int
    epochs: int
    fine_tune_epochs: int
    tuner_trials: int
    ablation_seeds: int  # repeats of each ablation variant, for mean +/- std
    whitening_size: int  # side at which PCA/ZCA whitening is fitted
    seed: int
    deterministic: bool = True  # deterministic TensorFlow ops: bit-identical reruns; set False on a GPU
    # whose ops have no deterministic kernel (slower or refused there)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable copy (paths as strings)."""
        return {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(self).items()}


PROFILES: dict[str, dict[str, Any]] = {
    "quick": dict(
        breeds=10, image_size=64, transfer_image_size=160, batch_size=32, epochs=8,
        fine_tune_epochs=2, tuner_trials=2, ablation_seeds=1, whitening_size=32,
    ),
    "full": dict(
        breeds="all", image_size=128, transfer_image_size=224, batch_size=64, epochs=60,
        fine_tune_epochs=10, tuner_trials=20, ablation_seeds=3, whitening_size=32,
    ),
}


def settings_for(
    profile: str = "quick",
    *,
    data_dir: str | Path | None = None,
    output_dir: str | Path | None = None,
    seed: int = DEFAULT_SEED,
    **overrides: Any,
) -> RunSettings:
    """Resolve a profile and overrides (None means "profile default") into RunSettings."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {sorted(PROFILES)}")
    values = dict(PROFILES[profile])
    known = {field.name for field in dataclasses.fields(RunSettings)} - {"profile", "data_dir", "output_dir", "seed"}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(known)}")
    values.update({k: v for k, v in overrides.items() if v is not None})
    out = Path(output_dir) if output_dir else Path("runs") / "standalone"
    return RunSettings(
        profile=profile, data_dir=resolve_data_dir(data_dir), output_dir=out, seed=seed, **values
    )
