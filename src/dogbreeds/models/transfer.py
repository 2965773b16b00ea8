"""Transfer learning on frozen ImageNet backbones: features, heads, flip TTA, ensembles.

The cheap path computes each backbone's pooled features once (cached by ``features.py``)
and trains small heads on them in seconds::

    feats = split_features("mobilenet_v2", split, label_map)              # train / val / test
    flipped = split_features("mobilenet_v2", split, label_map, flip=True)  # mirrored images
    head = train_head(feats["train"], feats["val"], kind="keras")          # or kind="logreg"
    probabilities = predict_with_flip(head, feats["test"], flipped["test"])

Ensembles either join features of several backbones (:func:`concat_features`) or
average the probabilities of several heads (:func:`average_probabilities`).
:func:`~dogbreeds.models.fine_tuning.fine_tune` is the expensive path: the backbone's last
layers are trained too.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import keras
import numpy as np
import tensorflow as tf
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from dogbreeds.core.config import DEFAULT_SEED
from dogbreeds.core.errors import DogbreedsError
from dogbreeds.data.folder import CropChoice, ImageRecord
from dogbreeds.data.labels import LabelMap
from dogbreeds.data.splits import SPLIT_NAMES, Split
from dogbreeds.models.backbones import build_imagenet_classifier, imagenet_wnids
from dogbreeds.models.builders import build_feature_head
from dogbreeds.models.features import backbone_features
from dogbreeds.models.training import fit

HeadKind = Literal["keras", "logreg", "imagenet"]


class TransferError(DogbreedsError, ValueError):
    """Features, heads or probabilities that cannot be combined or trained as asked."""


@dataclass(frozen=True)
class FeatureSet:
    """Feature vectors of some images (one row each) with their integer labels.

    ``seconds`` is how long getting them took (extraction, or loading from the cache
    when ``from_cache``), ``sources`` the backbones (and flips) they come from.
    """

    features: np.ndarray
    labels: np.ndarray
    seconds: float = 0.0
    from_cache: bool = False
    sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        features = np.asarray(self.features, dtype=np.float32)
        labels = np.asarray(self.labels, dtype=np.int32).reshape(-1)
        if features.ndim != 2:
            raise TransferError(f"features must be a 2-D array (images x dimensions), got shape {features.shape}.")
        if len(features) != len(labels):
            raise TransferError(f"{len(features)} feature rows but {len(labels)} labels; they must match one to one.")
        object.__setattr__(self, "features", features)
        object.__setattr__(self, "labels", labels)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def dim(self) -> int:
        """Number of feature dimensions."""
        return int(self.features.shape[1])

    def subset(self, rows: Sequence[int] | np.ndarray) -> FeatureSet:
        """The given rows, in that order (same timing and sources)."""
        rows = np.asarray(rows, dtype=np.int64)
        return FeatureSet(self.features[rows], self.labels[rows], self.seconds, self.from_cache, self.sources)


def split_features(
    backbone_name: str,
    split: Split | Mapping[str, Sequence[ImageRecord]],
    label_map: LabelMap,
    *,
    image_size: tuple[int, int] | None = None,
    crop: CropChoice | None = None,
    flip: bool = False,
    batch_size: int = 32,
    cache_dir: str | os.PathLike | None = None,
) -> dict[str, FeatureSet]:
    """Pooled features of backbone ``backbone_name`` for each non-empty split ("train", "val", "test").

    ``split`` is a :class:`~dogbreeds.data.folder.Split` or a mapping of split name to records.
    Features go through the cache of ``features.py`` (keyed by backbone, files, size,
    crop and flip), so a second call with the same settings only loads them.
    ``flip`` mirrors every image first (for flip test-time augmentation or training).
    """
    parts = {name: getattr(split, name) for name in SPLIT_NAMES} if isinstance(split, Split) else dict(split)
    result: dict[str, FeatureSet] = {}
    for name, records in parts.items():
        if not records:
            continue
        start = time.perf_counter()
        cached = backbone_features(
            backbone_name,
            records,
            label_map,
            image_size=image_size,
            crop=crop,
            flip=flip,
            batch_size=batch_size,
            cache_dir=cache_dir,
        )
        source = f"{backbone_name}{'+flip' if flip else ''}"
        result[name] = FeatureSet(
            cached.features, cached.labels, time.perf_counter() - start, cached.from_cache, (source,)
        )
    if not result:
        raise TransferError("Every split is empty: there are no images to compute features for.")
    return result


def concat_features(parts: Sequence[FeatureSet]) -> FeatureSet:
    """One feature set whose rows join the rows of ``parts`` side by side (a feature ensemble).

    The parts must describe the same images in the same order (identical labels).
    """
    if not parts:
        raise TransferError("concat_features needs at least one feature set.")
    first = parts[0]
    for part in parts[1:]:
        if len(part) != len(first) or not np.array_equal(part.labels, first.labels):
            raise TransferError(
                "Feature sets to join must cover the same images in the same order; "
                f"got {len(first)} and {len(part)} rows with different labels. Compute them from the same split."
            )
    return FeatureSet(
        np.concatenate([part.features for part in parts], axis=1),
        first.labels,
        sum(part.seconds for part in parts),
        all(part.from_cache for part in parts),
        tuple(source for part in parts for source in part.sources),
    )


def stack_features(parts: Sequence[FeatureSet]) -> FeatureSet:
    """One feature set holding the rows of every part, one after the other.

    Used to train on original and mirrored images together (flip augmentation on features).
    """
    if not parts:
        raise TransferError("stack_features needs at least one feature set.")
    dims = {part.dim for part in parts}
    if len(dims) > 1:
        raise TransferError(f"Feature sets to stack must have the same dimension, got {sorted(dims)}.")
    return FeatureSet(
        np.concatenate([part.features for part in parts]),
        np.concatenate([part.labels for part in parts]),
        sum(part.seconds for part in parts),
        all(part.from_cache for part in parts),
        tuple(dict.fromkeys(source for part in parts for source in part.sources)),
    )


@dataclass
class TrainedHead:
    """A classifier over features: its model, how it was trained and how long it took."""

    kind: str
    model: keras.Model | Pipeline
    num_classes: int
    train_seconds: float
    params: dict[str, Any] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int | None = None

    def predict_proba(self, features: FeatureSet | np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Class probabilities, one row per feature row and one column per class."""
        values = features.features if isinstance(features, FeatureSet) else np.asarray(features, dtype=np.float32)
        if isinstance(self.model, keras.Model):
            expected = int(self.model.input_shape[-1])
            if values.ndim != 2 or values.shape[1] != expected:
                raise TransferError(f"This head takes {expected} features per row, got shape {values.shape}.")
            return np.asarray(self.model.predict(values, batch_size=batch_size, verbose=0), dtype=np.float64)
        known = self.model.predict_proba(values)
        probabilities = np.zeros((len(values), self.num_classes))
        probabilities[:, self.model.classes_] = known  # classes absent from training get probability 0
        return probabilities


def train_head(
    train: FeatureSet,
    val: FeatureSet | None = None,
    *,
    kind: HeadKind = "keras",
    num_classes: int | None = None,
    dropout: float = 0.5,
    hidden: int | None = None,
    learning_rate: float = 1e-3,
    label_smoothing: float = 0.0,
    epochs: int = 200,
    patience: int = 10,
    batch_size: int = 64,
    initial_weights: tuple[np.ndarray, np.ndarray] | None = None,
    refit_on: FeatureSet | None = None,
    c: float = 1.0,
    max_iter: int = 1000,
    seed: int = DEFAULT_SEED,
    progress: bool = True,
) -> TrainedHead:
    """Train a classifier head on ``train`` features.

    ``kind="keras"``: dropout + dense softmax (``models.build_feature_head``) trained with
    Adam and early stopping on ``val`` loss (best weights restored; without ``val`` it
    runs all ``epochs``). ``initial_weights`` = (kernel, bias) starts the softmax layer
    from given weights, e.g. :func:`imagenet_head_weights`. With ``refit_on`` (usually the
    validation rows), a fresh head is then trained on ``train`` + ``refit_on`` for the best
    epoch count found by early stopping, so no labelled image is left out of the final head.
    ``kind="logreg"``: standardised features + scikit-learn multinomial logistic
    regression with inverse regularisation strength ``c`` (``val`` is not used).
    ``num_classes`` defaults to the largest label + 1 over ``train`` and ``val``.
    """
    num_classes = _checked_num_classes(train, val, kind, num_classes)
    if kind == "logreg":
        return _train_logreg(train, num_classes, c=c, max_iter=max_iter, seed=seed)
    settings = dict(
        dropout=dropout,
        hidden=hidden,
        learning_rate=learning_rate,
        label_smoothing=label_smoothing,
        patience=patience,
        batch_size=batch_size,
        initial_weights=initial_weights,
        seed=seed,
        progress=progress,
    )
    head = _train_keras_head(train, val, num_classes, epochs=epochs, **settings)
    if refit_on is None:
        return head
    if val is None:
        raise TransferError("refit_on needs val: the refit uses the epoch count chosen by early stopping on val.")
    return _refit_keras_head(head, stack_features([train, refit_on]), num_classes, settings)


def _checked_num_classes(train: FeatureSet, val: FeatureSet | None, kind: str, num_classes: int | None) -> int:
    """The number of classes a ``kind`` head is trained for, once ``train`` and ``val`` are found fit for it."""
    if kind not in ("keras", "logreg"):
        raise TransferError(
            f"Unknown head kind {kind!r}; train_head trains 'keras' or 'logreg' heads "
            "(use imagenet_zero_shot_head for 'imagenet')."
        )
    if len(train) == 0:
        raise TransferError("No training features: train must hold at least one row.")
    if val is not None and val.dim != train.dim:
        raise TransferError(f"train has {train.dim} features per row but val has {val.dim}.")
    seen = np.concatenate([train.labels, val.labels if val is not None else []]).astype(np.int64)
    num_classes = int(num_classes if num_classes is not None else seen.max() + 1)
    if seen.min() < 0 or seen.max() >= num_classes:
        raise TransferError(f"Labels must lie in 0..{num_classes - 1}, found {seen.min()}..{seen.max()}.")
    if len(np.unique(train.labels)) < 2:
        raise TransferError("train holds a single class; a classifier needs at least two.")
    return num_classes


def _refit_keras_head(head: TrainedHead, rows: FeatureSet, num_classes: int, settings: dict[str, Any]) -> TrainedHead:
    """A fresh keras head trained on ``rows`` for ``head``'s early-stopped epoch count, keeping its history."""
    refit = _train_keras_head(rows, None, num_classes, epochs=head.best_epoch, **settings)
    refit.params |= {"refit_rows": len(rows), "early_stopping_epochs_run": head.params["epochs_run"]}
    refit.train_seconds += head.train_seconds
    refit.history, refit.best_epoch = head.history, head.best_epoch
    return refit


def _train_logreg(train: FeatureSet, num_classes: int, *, c: float, max_iter: int, seed: int) -> TrainedHead:
    if c <= 0:
        raise TransferError(f"c (inverse regularisation strength) must be > 0, got {c}.")
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=max_iter, random_state=seed))
    start = time.perf_counter()
    model.fit(train.features, train.labels)
    seconds = time.perf_counter() - start
    return TrainedHead(
        "logreg",
        model,
        num_classes,
        seconds,
        params={"c": c, "max_iter": max_iter, "iterations": int(model[-1].n_iter_.max())},
    )


def _train_keras_head(
    train: FeatureSet,
    val: FeatureSet | None,
    num_classes: int,
    *,
    dropout: float,
    hidden: int | None,
    learning_rate: float,
    label_smoothing: float,
    epochs: int,
    patience: int,
    batch_size: int,
    initial_weights: tuple[np.ndarray, np.ndarray] | None,
    seed: int,
    progress: bool,
) -> TrainedHead:
    keras.utils.set_random_seed(seed)
    loss = "categorical_crossentropy" if label_smoothing else "sparse_categorical_crossentropy"
    model = build_feature_head(
        train.dim,
        num_classes,
        dropout=dropout,
        hidden=hidden,
        learning_rate=learning_rate,
        loss=loss,
        label_smoothing=label_smoothing,
    )
    if initial_weights is not None:
        set_softmax_weights(model, *initial_weights)
    train_ds = (
        tf.data.Dataset.from_tensor_slices((train.features, train.labels))
        .shuffle(len(train), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    val_ds = None if val is None else tf.data.Dataset.from_tensor_slices((val.features, val.labels)).batch(1024)
    result = fit(model, train_ds, val_ds, epochs=epochs, patience=patience, progress=progress)
    params = {
        "dropout": dropout,
        "hidden": hidden,
        "learning_rate": learning_rate,
        "label_smoothing": label_smoothing,
        "batch_size": batch_size,
        "max_epochs": epochs,
        "patience": patience,
        "epochs_run": result.epochs_run,
        "initial_weights": "given" if initial_weights is not None else "random",
    }
    return TrainedHead("keras", model, num_classes, result.wall_time_s, params, result.history, result.best_epoch)


def set_softmax_weights(model: keras.Model, kernel: np.ndarray, bias: np.ndarray) -> None:
    """Set the final softmax layer (named ``predictions``) of ``model`` to ``kernel`` and ``bias``."""
    layer = model.get_layer("predictions")
    expected = [tuple(weight.shape) for weight in layer.weights]
    given = [tuple(np.shape(kernel)), tuple(np.shape(bias))]
    if given != expected:
        raise TransferError(f"The softmax layer takes weights of shapes {expected}, got {given}.")
    layer.set_weights([np.asarray(kernel, dtype=np.float32), np.asarray(bias, dtype=np.float32)])


def imagenet_head_weights(backbone_name: str, label_map: LabelMap) -> tuple[np.ndarray, np.ndarray]:
    """(kernel, bias) of the backbone's ImageNet classifier restricted to the breeds of ``label_map``.

    Stanford Dogs breeds are ImageNet-1k classes (a label id starts with its WordNet id),
    so the ImageNet head already scores them. Caveat: Stanford Dogs images come from
    ImageNet, and the test images may have been in the backbone's ImageNet training set.
    """
    positions = {wnid: position for position, wnid in enumerate(imagenet_wnids())}
    classes = []
    for label_id in label_map.label_ids:
        wnid = label_id.split("-", 1)[0]
        if wnid not in positions:
            raise TransferError(
                f"Label id {label_id!r} does not start with an ImageNet-1k WordNet id "
                "(e.g. 'n02085620-Chihuahua'), so no ImageNet class matches it."
            )
        classes.append(positions[wnid])
    kernel, bias = build_imagenet_classifier(backbone_name).get_layer("predictions").get_weights()
    return kernel[:, classes], bias[classes]


def imagenet_zero_shot_head(backbone_name: str, label_map: LabelMap) -> TrainedHead:
    """A head that is the backbone's own ImageNet classifier over the breeds of ``label_map`` (no training)."""
    kernel, bias = imagenet_head_weights(backbone_name, label_map)
    model = build_feature_head(kernel.shape[0], len(label_map), dropout=0.0)
    set_softmax_weights(model, kernel, bias)
    return TrainedHead("imagenet", model, len(label_map), 0.0, params={"backbone": backbone_name})


def average_probabilities(probabilities: Sequence[np.ndarray], weights: Sequence[float] | None = None) -> np.ndarray:
    """The (weighted) mean of several probability arrays of the same shape: an ensemble's prediction."""
    if not probabilities:
        raise TransferError("average_probabilities needs at least one probability array.")
    arrays = [np.asarray(p, dtype=np.float64) for p in probabilities]
    shapes = {array.shape for array in arrays}
    if len(shapes) > 1:
        raise TransferError(f"Probability arrays must have the same shape to be averaged, got {sorted(shapes)}.")
    weights = np.ones(len(arrays)) if weights is None else np.asarray(weights, dtype=np.float64)
    if weights.shape != (len(arrays),) or np.any(weights < 0) or weights.sum() <= 0:
        raise TransferError(f"weights must be {len(arrays)} non-negative numbers with a positive sum, got {weights}.")
    return np.tensordot(weights / weights.sum(), np.stack(arrays), axes=1)


def predict_with_flip(head: TrainedHead, features: FeatureSet, flipped: FeatureSet) -> np.ndarray:
    """Flip test-time augmentation: the mean of the probabilities on original and mirrored images."""
    if len(features) != len(flipped) or not np.array_equal(features.labels, flipped.labels):
        raise TransferError("features and flipped must describe the same images in the same order.")
    return average_probabilities([head.predict_proba(features), head.predict_proba(flipped)])
