"""Run profiles: the parameter sets behind ``quick`` (CPU, minutes, the bundled sample), ``cpu`` (the real
study on a CPU, on the real folders of ../shared/datasets) and ``full`` (GPU, Stanford Dogs).

A run resolves its settings once (:func:`settings_for`) and writes them into its folder
(:func:`save_settings`, ``settings.json``); every notebook of the run reads them back with
:func:`load_settings`. A notebook opened by hand resolves a profile and its overrides itself.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dogbreeds.core.config import DEFAULT_SEED, REPO_ROOT, resolve_data_dir, shared_datasets_dir
from dogbreeds.core.fileio import write_json_atomic

STANDALONE_OUTPUT = REPO_ROOT / "runs" / "standalone"
SETTINGS_FILE = "settings.json"
"""The resolved :class:`RunSettings` of a run, in its run folder."""


PROFILES: dict[str, dict[str, Any]] = {
    "quick": dict(
        breeds=10,
        image_size=64,
        transfer_image_size=160,
        batch_size=32,
        epochs=2,
        fine_tune_epochs=2,  # a warm-up epoch, then the decay: what notebook 04's test checks
        tuner_trials=2,
        ablation_seeds=1,
        whitening_size=32,
        head_epochs=20,
        pets_sample=8,
        timing_passes=2,
        ablation_image_size=32,
        pretrain_epochs=1,
        pretrained_epochs=2,
        data_sizes=[4],
    ),
    "cpu": dict(
        data_dir=("stanford-dogs-crops224",),
        photos_dir=("stanford-dogs-10breeds",),
        breeds="all",
        image_size=64,
        transfer_image_size=None,
        batch_size=32,
        epochs=24,
        fine_tune_epochs=6,
        tuner_trials=5,
        ablation_seeds=3,
        whitening_size=32,
        val_fraction=0.1,
        ablation_image_size=32,
        pretrain_epochs=30,
        pretrained_epochs=100,
        scratch_cache=True,
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
        pretrain_epochs=60,
        pretrained_epochs=200,
    ),
}


@dataclass(frozen=True)
class Allowed:
    """What a setting takes, in words (``text``), and the test of a value (``accepts``)."""

    text: str
    accepts: Callable[[Any], bool]


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _allowed(text: str, accepts: Callable[[Any], bool], **field_options: Any) -> Any:
    """A dataclass field whose metadata says what the setting takes (see :meth:`RunSettings.check`)."""
    return dataclasses.field(metadata={"allowed": Allowed(text, accepts)}, **field_options)


def _whole(minimum: int, **field_options: Any) -> Any:
    return _allowed(f"a whole number >= {minimum}", lambda v: _is_whole(v) and v >= minimum, **field_options)


def _breeds_accepted(value: Any) -> bool:
    if isinstance(value, list):
        return len(value) >= 2 and all(isinstance(name, str) and name.strip() for name in value)
    return value == "all" or (_is_whole(value) and value >= 2)


def _folder(**field_options: Any) -> Any:
    return _allowed("a folder path", lambda v: isinstance(v, (str, Path)) and str(v).strip() != "", **field_options)


@dataclass(frozen=True)
class RunSettings:
    """Everything a notebook needs to know about the run it is part of.

    Each setting's field says what it takes (``Allowed`` in its metadata); :meth:`check` tests a value.
    """

    profile: str = _allowed(f"one of {', '.join(PROFILES)}", lambda v: v in PROFILES)
    data_dir: Path = _folder()  # the breeds benchmark: transfer learning (04) and the comparison (05)
    photos_dir: Path = _folder()  # whole photos: their sizes (01), preprocessing (02), the scratch CNN (03)
    output_dir: Path  # set by the runner, never through --set
    breeds: Any = _allowed('"all", a whole number >= 2 or a list of at least 2 breed names', _breeds_accepted)
    image_size: int = _whole(32)  # scratch CNN input side, pixels
    transfer_image_size: int | None = _whole(32)  # backbone input side, pixels (None: each backbone's own)
    batch_size: int = _whole(1)
    epochs: int = _whole(1)
    fine_tune_epochs: int = _whole(1)  # fine-tuning's fixed epoch budget (the best validation epoch is kept)
    tuner_trials: int = _whole(1)
    ablation_seeds: int = _whole(1)  # repeats of each ablation variant, for mean +/- std
    whitening_size: int = _whole(2)  # side at which PCA/ZCA whitening is fitted
    seed: int = _whole(0)
    head_epochs: int = _whole(1, default=200)  # most epochs of a head on cached features (early stopping ends it)
    timing_passes: int = _whole(1, default=5)  # timed passes over the test photos per model (the median is kept)
    val_fraction: float = _allowed(  # share of each breed's training photos held out for validation
        "a number between 0 and 1 (both excluded)",
        lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1,
        default=0.2,
    )
    pets_dir: Path | None = _folder(default=None)  # the shelter's reporting photos: Oxford-IIIT Pet dogs (05)
    not_dogs_dir: Path | None = _folder(default=None)  # and photos of cats and objects (05)
    pets_sample: int | None = _whole(1, default=None)  # a seeded draw of that many of each (None: every photo)
    ablation_image_size: int | None = _whole(8, default=None)  # side of the scratch ablations (None: image_size)
    pretrain_epochs: int = _whole(1, default=30)  # epochs of the scratch CNN's pre-training on data_dir's train list
    pretrained_epochs: int | None = _whole(1, default=None)  # then its epochs on the photos (None: epochs)
    data_sizes: list[int] = _allowed(  # training photos a breed of the data-size curve
        "a list of whole numbers >= 1",
        lambda v: isinstance(v, list) and bool(v) and all(_is_whole(n) and n >= 1 for n in v),
        default_factory=lambda: [10, 25, 50, 100],
    )
    scratch_cache: bool = _allowed("true or false", lambda v: isinstance(v, bool), default=False)
    # keep the scratch runs and the pre-training in the checkout's cache (reused by later runs), not in the run
    deterministic: bool = _allowed("true or false", lambda v: isinstance(v, bool), default=True)
    # deterministic TensorFlow ops: bit-identical reruns; set False on a GPU whose ops have no deterministic
    # kernel (slower or refused there)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable copy (paths as strings)."""
        return {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunSettings:
        """The settings of :meth:`to_dict`'s output (folders back to paths); unknown names are refused."""
        fields = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise ValueError(f"unknown setting(s) {unknown}; known: {sorted(fields)}")
        folders = {"data_dir", "photos_dir", "output_dir", "pets_dir", "not_dogs_dir"}
        return cls(
            **{key: Path(value) if key in folders and value is not None else value for key, value in values.items()}
        )

    @classmethod
    def check(cls, name: str, value: Any) -> None:
        """Raise ValueError naming the setting, the value and what it takes, unless ``value`` fits ``name``.

        None always fits: it means "the profile's default".
        """
        allowed = next(f for f in dataclasses.fields(cls) if f.name == name).metadata.get("allowed")
        if value is not None and allowed is not None and not allowed.accepts(value):
            raise ValueError(f"{name}={json.dumps(value, default=str)} is not allowed: {name} takes {allowed.text}")


def profile_folder(profile: str, name: str) -> Path | None:
    """The data folder a profile names for ``name`` ("data_dir" or "photos_dir"), under the shared data sets."""
    folder = PROFILES.get(profile, {}).get(name)
    return shared_datasets_dir().joinpath(*folder) if folder else None


def settings_for(
    profile: str = "quick",
    *,
    data_dir: str | Path | None = None,
    output_dir: str | Path | None = None,
    seed: int | None = DEFAULT_SEED,
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
    for name, value in overrides.items():
        RunSettings.check(name, value)
    values.update({k: v for k, v in overrides.items() if v is not None})
    data = resolve_data_dir(data_dir or profile_folder(profile, "data_dir"))
    photos = values.pop("photos_dir", None) or profile_folder(profile, "photos_dir")
    for name, folder in (("pets_dir", "oxford-pet-dogs"), ("not_dogs_dir", "not-dogs")):
        values[name] = Path(values.get(name) or shared_datasets_dir() / folder)  # the same in every profile
    return RunSettings(
        profile=profile,
        data_dir=data,
        photos_dir=Path(photos) if photos else data,
        output_dir=Path(output_dir) if output_dir else STANDALONE_OUTPUT,
        seed=DEFAULT_SEED if seed is None else seed,
        **values,
    )


def save_settings(settings: RunSettings, run_dir: str | Path) -> Path:
    """Write ``settings`` as the run's ``settings.json`` (atomically); returns its path."""
    path = Path(run_dir) / SETTINGS_FILE
    write_json_atomic(path, settings.to_dict())
    return path


def load_settings(run_dir: str | Path) -> RunSettings:
    """The settings a run resolved once (its ``settings.json``), as every notebook of the run reads them."""
    path = Path(run_dir) / SETTINGS_FILE
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(
            f"Cannot read the run's settings {path}: {error}. Run the notebooks with dogbreeds run."
        ) from error
    return RunSettings.from_dict(values)
