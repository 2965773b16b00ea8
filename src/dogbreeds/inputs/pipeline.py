"""Keras input pipeline: integer labels with a saved label map, and a robust tf.data dataset.

Images are decoded with Pillow (`dogbreeds.data.images`) inside `tf.numpy_function`, so the
files that break `tf.io.decode_jpeg` (PNG data named .jpg, CMYK JPEGs) load like any
other, and unusable files are skipped, logged once each and recorded in a `ProblemLog`
instead of stopping training. TensorFlow is imported only when a dataset is built.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dogbreeds.core.config import DEFAULT_SEED
from dogbreeds.core.errors import DogbreedsError
from dogbreeds.core.fileio import write_bytes_atomic
from dogbreeds.data.boxes import crop_boxes
from dogbreeds.data.folder import CropChoice, ImageRecord, ProblemLog, breed_name
from dogbreeds.data.images import ImageLoadError, load_resized

if TYPE_CHECKING:
    import tensorflow as tf

logger = logging.getLogger(__name__)

LABEL_MAP_FORMAT = 1


class LabelMapError(DogbreedsError, ValueError):
    """A label map file is unreadable, or a label id is not in the map."""


@dataclass(frozen=True)
class LabelMap:
    """Ordered label ids (breed folder names); a label's integer id is its position."""

    label_ids: tuple[str, ...]
    _positions: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "label_ids", tuple(self.label_ids))
        if not self.label_ids:
            raise LabelMapError("a label map needs at least one label id")
        duplicates = sorted({label_id for label_id in self.label_ids if self.label_ids.count(label_id) > 1})
        if duplicates:
            raise LabelMapError(f"duplicate label ids: {', '.join(duplicates)}")
        object.__setattr__(self, "_positions", {label_id: position for position, label_id in enumerate(self.label_ids)})

    @classmethod
    def from_records(cls, records: Sequence[ImageRecord]) -> LabelMap:
        """The sorted label ids of the records."""
        return cls(tuple(sorted({record.label_id for record in records})))

    @property
    def names(self) -> tuple[str, ...]:
        """Readable breed names, in label order."""
        return tuple(breed_name(label_id) for label_id in self.label_ids)

    def __len__(self) -> int:
        return len(self.label_ids)

    def encode(self, label_id: str) -> int:
        """The integer id of a label id. Raises `LabelMapError` for an unknown one."""
        try:
            return self._positions[label_id]
        except KeyError:
            raise LabelMapError(
                f"label id {label_id!r} is not in the label map ({len(self)} breeds, "
                f"e.g. {self.label_ids[0]!r}); build the map from the same breeds"
            ) from None

    def decode(self, index: int) -> str:
        """The label id of an integer id."""
        if not 0 <= index < len(self):
            raise LabelMapError(f"label index {index} is out of range 0..{len(self) - 1}")
        return self.label_ids[int(index)]

    def name(self, index: int) -> str:
        """The readable breed name of an integer id."""
        return breed_name(self.decode(index))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the map as JSON, atomically (a temporary file renamed over the target)."""
        path = Path(path)
        content = json.dumps(
            {"format": LABEL_MAP_FORMAT, "label_ids": list(self.label_ids), "names": list(self.names)}, indent=2
        )
        write_bytes_atomic(path, (content + "\n").encode("utf-8"))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> LabelMap:
        """Read a map written by `save`. Raises `LabelMapError`."""
        path = Path(path)
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise LabelMapError(f"cannot read the label map {path}: {error}") from None
        label_ids = content.get("label_ids") if isinstance(content, dict) else None
        if not isinstance(label_ids, list) or not all(isinstance(label_id, str) for label_id in label_ids):
            raise LabelMapError(f"{path} is not a label map (it needs a 'label_ids' list of strings)")
        return cls(tuple(label_ids))


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
    """A batched, prefetched `tf.data.Dataset` of (float32 images in 0..255, int32 labels).

    Steps: seeded shuffle of the file order -> Pillow decode (+ crop to the record's
    first or largest box) -> resize to `image_size` (height, width) -> skip unusable
    files -> cache the uint8 images (`True`: in memory; a path: on disk) -> per-epoch
    seeded shuffle -> batch -> float32 -> prefetch. The same seed gives the same batches.
    Skipped files and unreadable annotations (image used uncropped) go to `problems`
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
