"""Keras input pipeline: integer labels with a saved label map, and a robust tf.data dataset.

Images are decoded with Pillow (``dogbreeds.data.images``) inside ``tf.numpy_function``, so the
files that break ``tf.io.decode_jpeg`` (PNG data named .jpg, CMYK JPEGs) load like any
other, and unusable files are skipped, logged once each and recorded in a ``ProblemLog``
instead of stopping training. TensorFlow is imported only when a dataset is built.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from dogbreeds.core.config import DEFAULT_SEED
from dogbreeds.data.boxes import crop_boxes
from dogbreeds.data.folder import CropChoice, ImageRecord, ProblemLog
from dogbreeds.data.images import ImageLoadError, load_resized
from dogbreeds.data.labels import LabelMap

if TYPE_CHECKING:
    import tensorflow as tf

logger = logging.getLogger(__name__)


# Long on purpose: one pipeline read top to bottom in its order; its syntax also keys the feature cache.
def make_dataset(
    records: Sequence[ImageRecord],
    label_map: LabelMap,
    image_size: tuple[int, int] = (224, 224),
    batch_size: int = 32,
    crop: CropChoice | None = None,
    crop_margin: float = 0.0,
    shuffle: bool = False,
    seed: int = DEFAULT_SEED,
    cache: bool | str | os.PathLike = True,
    shuffle_buffer: int = 1024,
    problems: ProblemLog | None = None,
) -> tf.data.Dataset:
    """A batched, prefetched ``tf.data.Dataset`` of (float32 images in 0..255, int32 labels).

    Steps: seeded shuffle of the file order -> Pillow decode (+ crop to the record's
    first or largest box) -> resize to ``image_size`` (height, width) -> skip unusable
    files -> cache the uint8 images (``True``: in memory; a path: on disk) -> per-epoch
    seeded shuffle -> batch -> float32 -> prefetch. The same seed gives the same batches.
    Skipped files and unreadable annotations (image used uncropped) go to ``problems``
    and are logged once each.
    """
    import tensorflow as tf

    records = list(records)
    if not records:
        raise ValueError("no records to make a dataset from")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    height, width = image_size
    labels = tf.constant([label_map.encode(record.label_id) for record in records], dtype=tf.int32)
    boxes, box_problems = crop_boxes(records, crop)
    problems = problems if problems is not None else ProblemLog()
    for problem in box_problems:
        if problems.add(problem):
            logger.warning("%s: %s", problem.path, problem.detail)

    def load(position: np.int64) -> tuple[np.ndarray, bool]:
        record = records[int(position)]
        try:
            return load_resized(record.path, (height, width), boxes[int(position)], crop_margin), np.bool_(True)
        except ImageLoadError as error:
            if problems.add(error.to_problem()):
                logger.warning("skipped %s", error)
            return np.zeros((height, width, 3), dtype=np.uint8), np.bool_(False)

    def decode(position: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        image, usable = tf.numpy_function(load, [position], [tf.uint8, tf.bool], name="load_image")
        image.set_shape((height, width, 3))
        usable.set_shape(())
        return image, tf.gather(labels, position), usable

    order = np.arange(len(records), dtype=np.int64)
    if shuffle:
        order = np.random.default_rng(seed).permutation(order)
    dataset = tf.data.Dataset.from_tensor_slices(order)
    dataset = dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.filter(_is_usable).map(_drop_usable_flag)
    if cache:
        dataset = dataset.cache("" if cache is True else os.fspath(cache))
    if shuffle:
        dataset = dataset.shuffle(min(len(records), shuffle_buffer), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    dataset = dataset.map(_to_float32, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _is_usable(image: tf.Tensor, label: tf.Tensor, usable: tf.Tensor) -> tf.Tensor:
    return usable


def _drop_usable_flag(image: tf.Tensor, label: tf.Tensor, usable: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    return image, label


def _to_float32(images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    import tensorflow as tf

    return tf.cast(images, tf.float32), labels
