"""The shelter's head also learns from photos like a shelter's, and its thresholds are chosen out of fold.

``dogbreeds train --choose-on oxford-pet-dogs --not-dogs not-dogs`` trains notebook 04's best recipe on
the crops' train photos *and* the whole photos of the choosing half's dogs of known breeds (each photo and
its mirror image, repeated ``weight`` times: a few hundred photos among ten thousand crops). The choosing
half is also where the thresholds are chosen, so they must not be chosen on answers of a head that saw
those photos: :func:`out_of_fold_scores` splits the choosing half into ``folds`` seeded folds and scores
each fold's photos (dogs of every breed and not-dogs) with a head trained without that fold's dogs, with
its own temperature. The same folds give the *dog detector* (:func:`train_detector`: dogs against cats
and objects, over the pooled features) its out-of-fold answers. The reporting half is never read here.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import numpy as np

from dogbreeds.data.labels import LabelMap
from dogbreeds.data.pets import CHOOSING, PetPhoto, part_of, read_not_dogs, read_pet_dogs
from dogbreeds.models.transfer import FeatureSet
from dogbreeds.shelter.model import ShelterModel
from dogbreeds.shelter.pets import PetScores

PET_WEIGHT = 4
"""How many times each choosing photo (and its mirror image) joins the crops: chosen by 5-fold
cross-validation on the choosing half (``scripts/shelter_levers.py``: 1x 89.5 %, 4x 92.2 % top-1)."""
FOLDS = 5
DETECTOR_C = 0.1
"""Inverse regularisation of the dog detector's logistic regression (standardised features); not tuned: out of
fold it already flags every choosing not-dog that the ImageNet rule misses, and no dog more."""


@dataclasses.dataclass(frozen=True)
class ChoosingPhotos:
    """The choosing half: its dogs and not-dogs, their features through the model's views (views, N, D),
    the dogs' breed positions in the label map (-1: a breed the model does not know), each photo's fold.
    """

    dogs: list[PetPhoto]
    dog_views: np.ndarray
    labels: np.ndarray
    dog_folds: np.ndarray
    not_dogs: list[PetPhoto]
    not_dog_views: np.ndarray
    not_dog_folds: np.ndarray

    def training_rows(self, keep: np.ndarray, weight: int = PET_WEIGHT) -> FeatureSet:
        """Rows for a head: the kept dogs of known breeds, every view, ``weight`` times over."""
        rows = np.flatnonzero(np.asarray(keep, dtype=bool) & (self.labels >= 0))
        views = self.dog_views[:, rows].reshape(-1, self.dog_views.shape[-1])
        labels = np.tile(self.labels[rows], len(self.dog_views))
        return FeatureSet(np.tile(views, (weight, 1)), np.tile(labels, weight).astype(np.int32))

    def detector_rows(self, dog_keep: np.ndarray, not_dog_keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(dog rows, not-dog rows) for the dog detector: the kept photos of every breed, every view."""
        return _rows(self.dog_views, dog_keep), _rows(self.not_dog_views, not_dog_keep)


def _rows(views: np.ndarray, keep: np.ndarray) -> np.ndarray:
    return views[:, np.asarray(keep, dtype=bool)].reshape(-1, views.shape[-1])


def train_detector(
    dogs: np.ndarray, not_dogs: np.ndarray, *, c: float = DETECTOR_C, seed: int
) -> tuple[np.ndarray, float]:
    """The dog detector: a logistic regression telling dog feature rows from not-dog ones (both classes
    weighted alike, standardised features), as (kernel, bias) on the raw features.
    """
    from sklearn.linear_model import LogisticRegression

    rows = np.concatenate([dogs, not_dogs]).astype(np.float64)
    labels = np.r_[np.ones(len(dogs)), np.zeros(len(not_dogs))]
    mean, scale = rows.mean(0), rows.std(0) + 1e-6
    fit = LogisticRegression(C=c, class_weight="balanced", max_iter=5000, random_state=seed)
    fit.fit((rows - mean) / scale, labels)
    kernel = fit.coef_[0] / scale
    return kernel, float(fit.intercept_[0] - kernel @ mean)


def read_choosing_photos(
    backbone: str,
    views: tuple[str, ...],
    label_map: LabelMap,
    dogs_dir: str | os.PathLike,
    not_dogs_dir: str | os.PathLike,
    *,
    folds: int = FOLDS,
    seed: int,
    cache_dir: str | os.PathLike | None = None,
) -> ChoosingPhotos:
    """The choosing halves of the pet dogs and of the not-dogs, with their cached view features and folds."""
    from dogbreeds.shelter.measuring import view_features

    dogs = part_of(read_pet_dogs(dogs_dir), CHOOSING)
    not_dogs = part_of(read_not_dogs(not_dogs_dir), CHOOSING)

    def features(photos: list[PetPhoto]) -> np.ndarray:
        paths = [photo.path for photo in photos]
        return np.stack([view_features(backbone, paths, view, cache_dir=cache_dir) for view in views])

    positions = {label_id: i for i, label_id in enumerate(label_map.label_ids)}
    labels = np.array([positions.get(photo.stanford_folder, -1) for photo in dogs], dtype=np.int64)
    rng = np.random.default_rng(seed)
    return ChoosingPhotos(
        dogs,
        features(dogs),
        labels,
        rng.permutation(len(dogs)) % folds,
        not_dogs,
        features(not_dogs),
        rng.permutation(len(not_dogs)) % folds,
    )


def out_of_fold_scores(
    photos: ChoosingPhotos,
    model: ShelterModel,
    fold_model: Callable[[FeatureSet, str], ShelterModel],
    imagenet: Callable[[np.ndarray], np.ndarray],
    *,
    detector_dogs: np.ndarray,
    weight: int = PET_WEIGHT,
    seed: int,
) -> tuple[PetScores, PetScores]:
    """(dogs, not-dogs) scores of the choosing half, each photo's breeds and detector probability by a head
    and a detector that never saw its fold.

    ``fold_model(rows, name)`` trains the recipe on the crops plus ``rows`` and returns the shelter model with
    that head and its own temperature; ``imagenet`` turns view features into ImageNet probabilities;
    ``detector_dogs`` are more dog rows every detector trains on (the crops' validation photos).
    """
    folds = int(max(photos.dog_folds.max(initial=0), photos.not_dog_folds.max(initial=0))) + 1
    dog_probabilities = np.zeros((len(photos.dogs), len(model.config.label_ids)))
    not_dog_probabilities = np.zeros((len(photos.not_dogs), len(model.config.label_ids)))
    dog_detector, not_dog_detector = np.zeros(len(photos.dogs)), np.zeros(len(photos.not_dogs))
    for fold in range(folds):
        head = fold_model(photos.training_rows(photos.dog_folds != fold, weight), f"choosing half without fold {fold}")
        dogs, not_dogs = photos.dog_folds == fold, photos.not_dog_folds == fold
        dog_rows, not_dog_rows = photos.detector_rows(~dogs, ~not_dogs)
        detector = train_detector(np.concatenate([dog_rows, detector_dogs]), not_dog_rows, seed=seed)
        judged = ShelterModel(head.kernel, head.bias, head.config, detector)
        dog_probabilities[dogs] = judged.breed_probabilities(photos.dog_views[:, dogs])
        not_dog_probabilities[not_dogs] = judged.breed_probabilities(photos.not_dog_views[:, not_dogs])
        dog_detector[dogs] = judged.detector_probability(photos.dog_views[:, dogs])
        not_dog_detector[not_dogs] = judged.detector_probability(photos.not_dog_views[:, not_dogs])
    return (
        PetScores(photos.dogs, dog_probabilities, imagenet(photos.dog_views), dog_detector),
        PetScores(photos.not_dogs, not_dog_probabilities, imagenet(photos.not_dog_views), not_dog_detector),
    )
