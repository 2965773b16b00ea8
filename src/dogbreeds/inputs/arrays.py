"""A split's images held in memory: loaded once, transformed per experiment, fed to Keras.

Studies that train many small models on the same photos (ablations, a tuner search)
load the train, validation and test images once into ``uint8`` arrays and derive what
each experiment needs in memory (resized, equalized, whitened), which on a CPU is much
faster than decoding the JPEG files again for every model::

    arrays = load_split_arrays(data.split, data.label_map, size=64)
    equalized = arrays.map_images(lambda images: apply_named(images, "equalize_luma"))
    model.fit(arrays.train.dataset(32, shuffle_seed=42), validation_data=arrays.val.dataset(32))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dogbreeds.core.errors import DogbreedsError
from dogbreeds.core.timing import alternating_passes
from dogbreeds.data.folder import CropChoice, ImageRecord, ProblemLog
from dogbreeds.data.images import load_images_array
from dogbreeds.data.labels import LabelMap
from dogbreeds.data.splits import SPLIT_NAMES, Split
from dogbreeds.inputs.preprocessing import cv_resize, map_images

if TYPE_CHECKING:
    import keras
    import tensorflow as tf


class ArraysError(DogbreedsError, ValueError):
    """Images and labels that do not fit together, or a split that cannot be used."""


@dataclass(frozen=True)
class LabeledImages:
    """``images`` (N, height, width, 3), pixel values in 0..255, and their integer ``labels`` (N,)."""

    images: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        images, labels = np.asarray(self.images), np.asarray(self.labels)
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ArraysError(f"images must have shape (N, height, width, 3), got {images.shape}.")
        if labels.shape != (len(images),):
            raise ArraysError(f"labels must have shape ({len(images)},), one label per image, got {labels.shape}.")
        if labels.size and (labels.dtype.kind not in "iu" or labels.min() < 0):
            raise ArraysError("labels must be non-negative integer label ids; encode breeds with a LabelMap.")
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "labels", labels.astype(np.int32))

    def __len__(self) -> int:
        return len(self.labels)

    def dataset(self, batch_size: int, *, shuffle_seed: int | None = None) -> tf.data.Dataset:
        """Batches of (float32 images, int32 labels); reshuffled every epoch when ``shuffle_seed`` is given."""
        import tensorflow as tf

        if batch_size < 1:
            raise ArraysError(f"batch_size must be >= 1, got {batch_size}.")
        dataset = tf.data.Dataset.from_tensor_slices((self.images, self.labels))
        if shuffle_seed is not None:
            dataset = dataset.shuffle(len(self), seed=shuffle_seed, reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size).map(lambda x, y: (tf.cast(x, tf.float32), y))
        return dataset.prefetch(tf.data.AUTOTUNE)


@dataclass(frozen=True)
class SplitArrays:
    """The train, validation and test images of one data split, with the breed names in label order."""

    train: LabeledImages
    val: LabeledImages
    test: LabeledImages
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_names", tuple(self.class_names))
        for name in SPLIT_NAMES:
            part: LabeledImages = getattr(self, name)
            if not len(part):
                raise ArraysError(f"the {name} split has no images; every split needs at least one.")
            if part.labels.max() >= len(self.class_names):
                raise ArraysError(
                    f"the {name} split has label id {part.labels.max()} but there are only "
                    f"{len(self.class_names)} class names."
                )
            if part.images.shape[1:] != self.train.images.shape[1:]:
                raise ArraysError(
                    f"the {name} images are {part.images.shape[1:]}, the train images "
                    f"{self.train.images.shape[1:]}; all splits need one image shape."
                )

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(height, width, 3), the input shape of a model for these images."""
        height, width, channels = self.train.images.shape[1:]
        return int(height), int(width), int(channels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def counts(self) -> dict[str, int]:
        """Images per split."""
        return {name: len(getattr(self, name)) for name in SPLIT_NAMES}

    def map_images(self, function: Callable[[np.ndarray], np.ndarray]) -> SplitArrays:
        """A copy whose images are ``function(images)`` of each split (a whole batch per call); labels kept."""
        parts = {}
        for name in SPLIT_NAMES:
            part: LabeledImages = getattr(self, name)
            mapped = np.asarray(function(part.images))
            if len(mapped) != len(part):
                raise ArraysError(f"the function turned {len(part)} {name} images into {len(mapped)}.")
            parts[name] = LabeledImages(mapped, part.labels)
        return SplitArrays(**parts, class_names=self.class_names)

    def resized(self, size: int | tuple[int, int], *, progress: bool = True) -> SplitArrays:
        """A copy with every image resized to ``size`` (height, width; an int is a square), stretched."""
        return self.map_images(
            lambda images: map_images(
                images, lambda image: cv_resize(image, size, "stretch"), description="resizing", progress=progress
            )
        )


def load_split_arrays(
    split: Split,
    label_map: LabelMap,
    size: int | tuple[int, int],
    *,
    crop: CropChoice | None = None,
    progress: bool = True,
) -> SplitArrays:
    """Load the train, validation and test images of ``split`` at ``size`` (stretched) into memory.

    ``crop`` ("first" or "largest") crops to the dog's box for records that have an
    annotation. Unreadable images are skipped with a warning, their labels with them.
    """
    height, width = (size, size) if isinstance(size, int) else size
    parts = {
        name: load_labeled_images(getattr(split, name), label_map, (height, width), crop=crop, progress=progress)
        for name in SPLIT_NAMES
    }
    return SplitArrays(**parts, class_names=label_map.names)


def load_labeled_images(
    records: Sequence[ImageRecord],
    label_map: LabelMap,
    size: tuple[int, int],
    *,
    crop: CropChoice | None = None,
    progress: bool = True,
) -> LabeledImages:
    """Load ``records`` at ``size`` (height, width; stretched) with their encoded labels.

    Unreadable images are skipped with a warning, their labels with them.
    """
    problems = ProblemLog()
    images = load_images_array(records, size, crop=crop, on_error="skip", problems=problems, progress=progress)
    skipped = {problem.path for problem in problems.skipped}
    labels = [label_map.encode(record.label_id) for record in records if record.path not in skipped]
    return LabeledImages(images, np.asarray(labels, dtype=np.int32).reshape(-1))


@dataclass(frozen=True)
class TimedPredictions:
    """A model's class probabilities for a batch of images and how long predicting took."""

    probabilities: np.ndarray
    seconds: float

    @property
    def ms_per_image(self) -> float:
        """Milliseconds per image, batched prediction, after a warm-up call."""
        return 1000.0 * self.seconds / max(len(self.probabilities), 1)


def predict_timed(
    model: keras.Model, images: np.ndarray, batch_size: int = 32, *, repeats: int = 1
) -> TimedPredictions:
    """``model``'s probabilities for ``images`` (0..255), timed after one warm-up batch.

    The warm-up call traces the prediction function, so the time is that of steady-state
    inference, as a deployed model would see it. With ``repeats`` > 1 the images are
    predicted that many times and the median time is kept (one pass over a few dozen
    photos varies by a factor of two on a busy machine).
    """
    import tensorflow as tf

    if len(images) == 0:
        raise ArraysError("no images to predict.")
    if repeats < 1:
        raise ArraysError(f"repeats must be at least 1, got {repeats}.")
    batches = tf.data.Dataset.from_tensor_slices(images).batch(batch_size).map(lambda x: tf.cast(x, tf.float32))
    model.predict(batches.take(1), verbose=0)
    predicted = {}

    def predict() -> None:
        predicted["probabilities"] = model.predict(batches, verbose=0)

    seconds = alternating_passes({"predict": predict}, repeats, progress=False)["predict"]
    return TimedPredictions(np.asarray(predicted["probabilities"]), float(np.median(seconds)))
