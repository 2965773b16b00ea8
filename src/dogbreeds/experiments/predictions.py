"""Saved predictions: a model's validation and test probabilities, written by notebook 04, read by notebook 05.

One compressed ``.npz`` per model holds, for each split, the true label ids, the probabilities in
label-map order and the photos' paths, so that notebook 05 compares models on the same photos
without running them again.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from dogbreeds.core.errors import DogbreedsError
from dogbreeds.core.fileio import write_npz_atomic
from dogbreeds.data.folder import ImageRecord
from dogbreeds.data.labels import LabelMap


class PredictionsError(DogbreedsError, ValueError):
    """A model's predictions cannot be made for these photos (an empty split, other breeds)."""


class PhotoPredictor(Protocol):
    """What :func:`predict_split` needs from a model: ``dogbreeds.models.bundle.Predictor`` has it."""

    @property
    def class_names(self) -> Sequence[str]: ...

    def photo_probabilities(self, paths: Sequence[str | os.PathLike | ImageRecord]) -> np.ndarray: ...


@dataclass(frozen=True)
class SplitPredictions:
    """A model's probabilities for the photos of one split, with their true label ids and files."""

    labels: np.ndarray  # (N,) label ids of the label map
    probabilities: np.ndarray  # (N, C), columns in label-map order
    paths: tuple[Path, ...]


def save_predictions(path: str | os.PathLike, *, val: SplitPredictions, test: SplitPredictions) -> Path:
    """Write a model's validation and test predictions (labels, probabilities, files) to one ``.npz``."""
    path = Path(path)
    arrays = {
        f"{part}_{name}": value
        for part, predictions in (("val", val), ("test", test))
        for name, value in (
            ("labels", predictions.labels),
            ("probabilities", predictions.probabilities),
            ("paths", np.array([str(p) for p in predictions.paths])),
        )
    }
    write_npz_atomic(path, arrays, compressed=True)
    return path


def load_predictions(path: str | os.PathLike) -> dict[str, SplitPredictions]:
    """The ``{"val": ..., "test": ...}`` predictions written by :func:`save_predictions`."""
    with np.load(Path(path), allow_pickle=False) as saved:
        return {
            part: SplitPredictions(
                saved[f"{part}_labels"], saved[f"{part}_probabilities"], tuple(Path(p) for p in saved[f"{part}_paths"])
            )
            for part in ("val", "test")
        }


def predict_split(predictor: PhotoPredictor, records: Sequence[ImageRecord], label_map: LabelMap) -> SplitPredictions:
    """Every breed's probability for each photo of ``records``, in the columns of ``label_map``.

    The model must know exactly the breeds of the label map (the run's breeds), in any order.
    Photos are cropped to their dog box when the model was trained on boxes (the bundle's crop).
    """
    if not records:
        raise PredictionsError("No photos to predict: the split is empty.")
    names, known = list(label_map.names), list(predictor.class_names)
    if len(known) != len(names):
        raise PredictionsError(
            f"The saved model knows {len(known)} breeds but this run has {len(names)}; it was trained on other "
            "breeds. Re-run notebook 04 with the same data_dir and breeds."
        )
    unknown = [breed for breed in known if breed not in names]
    if unknown:
        raise PredictionsError(
            f"The model predicts breed {unknown[0]!r}, which is not among this run's {len(names)} breeds "
            f"(e.g. {names[:3]}); the saved model was trained on other breeds. Re-run "
            "notebook 04 with the same data_dir and breeds."
        )
    probabilities = predictor.photo_probabilities(list(records))
    return SplitPredictions(
        labels=np.array([label_map.encode(record.label_id) for record in records], dtype=np.int64),
        probabilities=np.asarray(probabilities, dtype=np.float64)[:, [known.index(breed) for breed in names]],
        paths=tuple(Path(record.path) for record in records),
    )
