"""One seed of the scratch recipe trained and scored, and a cache of such runs keyed by code and data.

Every run of notebook 03 (an ablation arm's seed, the tuned CNN, a data-size point, the
pre-trained CNN's last stage) goes through :func:`cached_seed_run`: the recipe of
:mod:`dogbreeds.models.recipes` on a fixed schedule (no early stopping, the last epoch is
kept), scored once on the validation and test photos. A run is saved (``.npz``, atomically)
under a key made of the CNN, the inputs, the training settings, the pixels and the code
that trains and scores, and read back by a later run with the same key.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dogbreeds.core.config import REPO_ROOT
from dogbreeds.core.fileio import dumps_json, json_digest, write_npz_atomic
from dogbreeds.core.provenance import code_fingerprint
from dogbreeds.inputs.arrays import SplitArrays, predict_timed
from dogbreeds.inputs.augmentation import ResizedCropConfig
from dogbreeds.judge.evaluation import evaluate
from dogbreeds.judge.intervals import correctness
from dogbreeds.models.builders import CNNConfig, count_params
from dogbreeds.models.recipes import ScratchRecipe, warmup_epochs_for
from dogbreeds.models.training import set_seed

if TYPE_CHECKING:
    import keras

CACHE_FORMAT = 1
SHARED_CACHE = REPO_ROOT / ".cache" / "scratch"
"""Where runs and pre-trainings are kept for later runs of the study, beside the feature cache."""
_CODE_MODULES = (
    "dogbreeds.experiments.scratch_runs",
    "dogbreeds.inputs.arrays",
    "dogbreeds.inputs.augmentation",
    "dogbreeds.judge.evaluation",
    "dogbreeds.models.builders",
    "dogbreeds.models.compiling",
    "dogbreeds.models.recipes",
    "dogbreeds.models.training",
)
"""The code that turns pixels into a seed's result: a change to it is a new result."""


@dataclass(frozen=True)
class SeedRun:
    """What one seed of a recipe gave: metrics, history, epochs, timings and its probabilities."""

    seed: int
    val_metrics: dict[str, Any]
    test_metrics: dict[str, Any]
    history: dict[str, list[float | None]]
    epochs_run: int
    epoch_kept: int
    train_seconds: float
    inference_ms_per_image: float
    parameters: int
    val_probabilities: np.ndarray
    test_probabilities: np.ndarray
    from_cache: bool = False

    def test_correct(self, labels: np.ndarray) -> np.ndarray:
        """One flag per test photo: is the first answer right?"""
        return correctness(labels, self.test_probabilities)

    def summary(self) -> dict[str, Any]:
        """The seed's line in a record: accuracies, epochs run and kept, time, whether it was read back."""
        return {
            "seed": self.seed,
            "val_top1": self.val_metrics["top1"],
            "test_top1": self.test_metrics["top1"],
            "epochs_run": self.epochs_run,
            "epoch_kept": self.epoch_kept,
            "train_seconds": self.train_seconds,
            "from_cache": self.from_cache,
        }


@dataclass(frozen=True)
class RecipeSettings:
    """What every scratch run of a study shares: the fixed schedule, the batch size and the crops."""

    epochs: int
    batch_size: int
    crop: ResizedCropConfig = ResizedCropConfig()

    def recipe(self, config: CNNConfig, image_size: int, seed: int, augmentation: bool) -> ScratchRecipe:
        """The recipe of one run (its warm-up follows the number of epochs)."""
        crop = self.crop if augmentation else None
        return ScratchRecipe(config, image_size, self.batch_size, warmup_epochs_for(self.epochs), crop, seed, False)

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values (with the warm-up they imply)."""
        return {
            "epochs": self.epochs,
            "warmup_epochs": warmup_epochs_for(self.epochs),
            "batch_size": self.batch_size,
            "crop": self.crop.to_dict(),
        }


def train_seed(
    config: CNNConfig,
    data: SplitArrays,
    settings: RecipeSettings,
    *,
    seed: int,
    augmentation: bool = True,
    front: keras.Layer | None = None,
    start_from: keras.Model | None = None,
) -> tuple[SeedRun, keras.Model]:
    """Train ``config`` on ``data.train`` with the recipe (seeded, fixed schedule) and score the last epoch."""
    import keras

    keras.backend.clear_session()  # many models in one process: start each from a blank Keras state
    set_seed(seed)
    recipe = settings.recipe(config, data.input_shape[0], seed, augmentation)
    model, fit = recipe.train(data.train, data.num_classes, settings.epochs, data.val, start_from, front=front)
    val = model.predict(data.val.images.astype(np.float32), batch_size=settings.batch_size, verbose=0)
    test = predict_timed(model, data.test.images, settings.batch_size)
    run = SeedRun(
        seed=seed,
        val_metrics=evaluate(data.val.labels, val, data.class_names),
        test_metrics=evaluate(data.test.labels, test.probabilities, data.class_names),
        history=fit.history,
        epochs_run=fit.epochs_run,
        epoch_kept=fit.epochs_run,  # a fixed schedule keeps its last epoch
        train_seconds=fit.wall_time_s,
        inference_ms_per_image=test.ms_per_image,
        parameters=count_params(model).total,
        val_probabilities=np.asarray(val),
        test_probabilities=test.probabilities,
    )
    return run, model


def run_key(config: CNNConfig, data: SplitArrays, settings: RecipeSettings, **inputs: Any) -> str:
    """What a seed's result depends on: the CNN, the inputs (``inputs``), the settings, the pixels and code."""
    return json_digest(
        {
            "format": CACHE_FORMAT,
            **_training_code(),
            "config": config.to_dict(),
            "recipe": settings.to_dict(),
            "data": data_digest(data),
            **inputs,
        }
    )


def cached_seed_run(
    folder: str | Path,
    key: str,
    train: Callable[[], tuple[SeedRun, keras.Model]],
    *,
    keep_model: bool = False,
) -> tuple[SeedRun, keras.Model | None]:
    """The run saved in ``folder`` under ``key``, else ``train()``'s (saved there as soon as it is known).

    With ``keep_model``, the trained model is saved too (``<key>.keras``) and loaded back with the run.
    """
    path = Path(folder) / f"{key}.npz"
    model_path = path.with_suffix(".keras")
    saved = _load(path)
    if saved is not None and (not keep_model or model_path.exists()):
        import keras

        return saved, keras.models.load_model(model_path) if keep_model else None
    run, model = train()
    if keep_model:
        _save_model(model, model_path)
    _save(path, run)
    return run, model


def cache_folder(shared: bool, run_dir: str | Path, notebook: str) -> Path:
    """The shared cache of the checkout when ``shared``, else a folder of the run itself (resumes that run only)."""
    return SHARED_CACHE if shared else Path(run_dir) / "cache" / notebook


def data_digest(data: SplitArrays) -> str:
    """SHA-256 over every split's pixels (with shape and type), labels, and the class names."""
    digest = hashlib.sha256(json.dumps(list(data.class_names)).encode())
    for split in (data.train, data.val, data.test):
        images = np.ascontiguousarray(split.images)
        digest.update(f"{images.shape} {images.dtype}".encode())
        digest.update(images)  # the buffer itself: no copy of the pixels
        digest.update(np.asarray(split.labels, dtype=np.int64).tobytes())
    return digest.hexdigest()


@functools.cache
def _training_code() -> dict[str, Any]:
    """The training code's fingerprint and the numerical libraries' versions, read once per process."""
    import keras
    import tensorflow as tf

    return {
        "code": code_fingerprint(_CODE_MODULES),
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__},
    }


def _save(path: Path, run: SeedRun) -> None:
    fields = {key: value for key, value in dataclasses.asdict(run).items() if not key.endswith("probabilities")}
    fields.pop("from_cache")
    write_npz_atomic(
        path,
        {
            "val_probabilities": run.val_probabilities,
            "test_probabilities": run.test_probabilities,
            "fields": np.array(dumps_json(fields)),
        },
        compressed=True,
    )


def _load(path: Path) -> SeedRun | None:
    """The run saved at ``path``; None when absent or unreadable (a NaN in a history comes back as None)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            fields: Mapping[str, Any] = json.loads(str(saved["fields"]))
            return SeedRun(
                **fields,
                val_probabilities=saved["val_probabilities"],
                test_probabilities=saved["test_probabilities"],
                from_cache=True,
            )
    except (OSError, ValueError, TypeError, KeyError) as error:
        warnings.warn(f"Ignoring unreadable scratch run {path} ({error}); training it again.", stacklevel=3)
        return None


def _save_model(model: keras.Model, path: Path) -> None:
    """``model`` saved as ``path`` (a ``.keras`` file) atomically."""
    partial = path.with_name(f".partial-{path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(partial)
    partial.replace(path)
