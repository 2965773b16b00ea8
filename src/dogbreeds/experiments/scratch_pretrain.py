"""Pre-training the scratch CNN on another folder's training photos (the 120-breed crops), cached and resumable.

No ImageNet weight is involved: the CNN starts from random weights and learns the 120 breeds
with the scratch recipe; its layers, all but the classifier, then start the 10-breed training.
The pre-trained model is cached under a key made of the code, the files (path, size, time),
the labels and the settings, like the backbone features. While it trains, the model and its
optimizer are saved after every epoch, so an interrupted pre-training resumes from its last
saved epoch. A pre-training photo that is a test photo of the study is an error.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from dogbreeds.core.errors import DogbreedsError
from dogbreeds.core.fileio import json_digest, write_json_atomic
from dogbreeds.core.provenance import code_fingerprint
from dogbreeds.data.splits import official_split
from dogbreeds.experiments.scratch_runs import RecipeSettings
from dogbreeds.inputs.arrays import load_labeled_images
from dogbreeds.models.builders import CNNConfig
from dogbreeds.models.features import files_fingerprint

PRETRAIN_FORMAT = 1
MODEL_NAME, INFO_NAME = "model.keras", "info.json"
PARTIAL_NAME, PROGRESS_NAME = "partial.keras", "progress.json"
_CODE_MODULES = (
    "dogbreeds.data.images",
    "dogbreeds.data.splits",
    "dogbreeds.experiments.scratch_pretrain",
    "dogbreeds.inputs.arrays",
    "dogbreeds.inputs.augmentation",
    "dogbreeds.models.builders",
    "dogbreeds.models.compiling",
    "dogbreeds.models.recipes",
    "dogbreeds.models.training",
)
"""The code that turns the pre-training files into the pre-trained model."""


class PretrainError(DogbreedsError, ValueError):
    """A pre-training that cannot be run as asked (e.g. it would train on the study's test photos)."""


@dataclass(frozen=True)
class Pretrained:
    """The pre-trained CNN and what a record says of it (``info``)."""

    model: keras.Model
    key: str
    info: dict[str, Any]


def refuse_test_photos(pretrain: Sequence[Any], test: Sequence[Any]) -> None:
    """Raise :class:`PretrainError` when a pre-training photo has the file name of a test photo."""
    test_names = {Path(record.path).name for record in test}
    shared = sorted(test_names & {Path(record.path).name for record in pretrain})
    if shared:
        raise PretrainError(
            f"{len(shared)} pre-training photo(s) are test photos of the study (first: {shared[0]}); "
            "pre-train on data that leaves the test list out."
        )


def pretrained_cnn(
    pretrain_dir: str | os.PathLike,
    test: Sequence[Any],
    config: CNNConfig,
    image_size: int,
    settings: RecipeSettings,
    *,
    cache_dir: str | os.PathLike,
    seed: int,
    progress: bool = True,
) -> Pretrained:
    """The CNN trained from random weights on ``pretrain_dir``'s train list, from the cache when it is there.

    ``test``: the study's test photos, none of which may be a pre-training photo.
    """
    split, label_map = official_split(pretrain_dir)
    refuse_test_photos(split.train, test)
    paths = [record.path for record in split.train]
    key = json_digest(
        {
            "format": PRETRAIN_FORMAT,
            "code": code_fingerprint(_CODE_MODULES),
            "files": files_fingerprint(paths),
            "labels": [record.label_id for record in split.train],
            "config": config.to_dict(),
            "image_size": image_size,
            "recipe": settings.to_dict(),
            "seed": seed,
            "versions": {"tensorflow": keras.__version__},
        }
    )
    folder = Path(cache_dir) / key
    if (folder / MODEL_NAME).exists() and (folder / INFO_NAME).exists():
        info = json.loads((folder / INFO_NAME).read_text()) | {"from_cache": True}
        return Pretrained(keras.models.load_model(folder / MODEL_NAME), key, info)
    images = load_labeled_images(split.train, label_map, (image_size, image_size), progress=progress)
    recipe = settings.recipe(config, image_size, seed, True)
    saver = EpochSaver(folder)
    model, start = saver.resume()
    model, _ = recipe.train(
        images, len(label_map), settings.epochs, model=model, initial_epoch=start, callbacks=[saver]
    )
    history = saver.history
    info = {
        "data_dir": str(Path(pretrain_dir).resolve()),
        "images": len(images),
        "breeds": len(label_map),
        "epochs": settings.epochs,
        "image_size": image_size,
        "resumed_from_epoch": start,
        "train_seconds": saver.elapsed(),
        "final_train_accuracy": history["accuracy"][-1],
        "history": history,
    }
    saver.finish(model, info)
    return Pretrained(model, key, info | {"from_cache": False})


class EpochSaver(keras.callbacks.Callback):
    """Saves the model (with its optimizer) and the history after every epoch into ``folder``, atomically."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder
        self.history: dict[str, list[float]] = {}
        self.seconds = 0.0
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(float(value))
        self._save(self.model, PARTIAL_NAME)
        progress = {"epoch": epoch + 1, "history": self.history, "seconds": self.elapsed()}
        write_json_atomic(self.folder / PROGRESS_NAME, progress)

    def elapsed(self) -> float:
        """Seconds of training, the earlier sessions' included."""
        return self.seconds + time.perf_counter() - self.started

    def resume(self) -> tuple[keras.Model | None, int]:
        """The model saved after the last finished epoch and that epoch (None, 0 when nothing was saved)."""
        progress_path, model_path = self.folder / PROGRESS_NAME, self.folder / PARTIAL_NAME
        if not (progress_path.exists() and model_path.exists()):
            return None, 0
        progress = json.loads(progress_path.read_text())
        self.history, self.seconds = progress["history"], float(progress["seconds"])
        self.started = time.perf_counter()
        return keras.models.load_model(model_path), int(progress["epoch"])

    def finish(self, model: keras.Model, info: dict[str, Any]) -> None:
        """Save the finished model and its info, then drop the epoch-by-epoch saves."""
        self._save(model, MODEL_NAME)
        write_json_atomic(self.folder / INFO_NAME, info)
        for name in (PARTIAL_NAME, PROGRESS_NAME):
            (self.folder / name).unlink(missing_ok=True)

    def _save(self, model: keras.Model, name: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.folder / f".saving-{os.getpid()}.keras"
        model.save(partial)
        os.replace(partial, self.folder / name)
