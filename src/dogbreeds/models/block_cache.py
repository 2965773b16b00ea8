"""Cached block activations: what enters a backbone's last blocks, computed once, so that fine-tuning
trains only those blocks.

An inverted-residual backbone (MobileNetV2, EfficientNet-Lite) is cut before its last ``blocks``
blocks (``blocks=0``: before the final 1x1 convolution). The frozen front runs once over the photos
(:func:`block_activations`) and the tensors entering the cut are cached on disk, keyed as the feature
cache is (``features.py``): the code that makes them, the files and labels, the backbone, the image
size, the mirroring and the cut. :func:`tail_model` is the rest of the backbone, sharing its layers,
so training the tail on cached activations trains the backbone itself.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from dogbreeds.core.config import REPO_ROOT
from dogbreeds.core.errors import DogbreedsError
from dogbreeds.core.fileio import safe_name
from dogbreeds.core.provenance import code_fingerprint
from dogbreeds.data.folder import ImageRecord
from dogbreeds.data.labels import LabelMap
from dogbreeds.inputs.pipeline import make_dataset
from dogbreeds.models.backbones import build_backbone, get_backbone, preprocess
from dogbreeds.models.backbones.invres import block_prefix
from dogbreeds.models.features import (
    FEATURE_CODE_MODULES,
    feature_cache_key,
    files_fingerprint,
    load_cached,
    save_cached,
)

DEFAULT_ACTIVATION_DIR = REPO_ROOT / ".cache" / "activations"
FINAL_CONV = "Conv_1"
"""The backbone's final 1x1 convolution (before pooling), trained at every fine-tuning depth."""


class BlockCacheError(DogbreedsError, ValueError):
    """A backbone cannot be cut as asked, or activations cannot be cached."""


@dataclass(frozen=True)
class Activations:
    """Activations entering a cut (one row per photo, in the records' order), their labels and their cost."""

    values: np.ndarray
    labels: np.ndarray
    seconds: float
    from_cache: bool
    path: Path


def block_ids(backbone: keras.Model) -> list[int]:
    """The inverted-residual blocks of ``backbone``, by number (0 is the first), from its layer names."""
    found = {0} if any(layer.name.startswith(block_prefix(0)) for layer in backbone.layers) else set()
    for layer in backbone.layers:
        parts = layer.name.split("_")
        if parts[0] == "block" and len(parts) > 2 and parts[1].isdigit():
            found.add(int(parts[1]))
    return sorted(found)


def cut_layer(backbone: keras.Model, blocks: int) -> str:
    """The name of the first layer after the cut that leaves the last ``blocks`` blocks and the final conv."""
    ids = block_ids(backbone)
    if not ids or FINAL_CONV not in {layer.name for layer in backbone.layers}:
        raise BlockCacheError(f"{backbone.name} is not an inverted-residual backbone with named blocks.")
    if not 0 <= blocks <= len(ids):
        raise BlockCacheError(f"blocks must be between 0 and {len(ids)} for {backbone.name}, got {blocks}.")
    if blocks == 0:
        return FINAL_CONV
    prefix = block_prefix(ids[len(ids) - blocks])
    return next(layer.name for layer in backbone.layers if layer.name.startswith(prefix))


def tail_model(backbone: keras.Model, blocks: int) -> keras.Model:
    """The backbone after the cut (its last ``blocks`` blocks, final conv and pooling), sharing its layers."""
    cut = backbone.get_layer(cut_layer(backbone, blocks)).input
    return keras.Model(cut, backbone.output, name=f"{backbone.name}_tail_{blocks}")


def tail_layers(backbone: keras.Model, blocks: int) -> list[keras.Layer]:
    """The layers of the tail (after the cut), in the backbone's order."""
    names = [layer.name for layer in backbone.layers]
    return backbone.layers[names.index(cut_layer(backbone, blocks)) :]


def front_model(backbone: keras.Model, depths: Sequence[int]) -> keras.Model:
    """The frozen backbone up to each cut of ``depths``: one output per depth, in that order."""
    outputs = [backbone.get_layer(cut_layer(backbone, blocks)).input for blocks in depths]
    return keras.Model(backbone.input, outputs, name=f"{backbone.name}_front")


def block_activations(
    name: str,
    records: Sequence[ImageRecord],
    label_map: LabelMap,
    *,
    depths: Sequence[int],
    image_size: tuple[int, int] | None = None,
    flip: bool = False,
    batch_size: int = 32,
    cache_dir: str | os.PathLike | None = None,
) -> dict[int, Activations]:
    """Activations entering the last ``blocks`` blocks of backbone ``name``, for each ``blocks`` in ``depths``.

    Photos are read as the feature cache reads them (``make_dataset``, no crop), mirrored first when
    ``flip``. Depths missing from the cache are computed together, in one pass of the backbone.
    """
    spec = get_backbone(name)
    size = spec.image_size(image_size)
    records, depths = list(records), sorted(set(depths))
    labels = [label_map.encode(record.label_id) for record in records]
    data_id = hashlib.sha256(
        (files_fingerprint([record.path for record in records]) + json.dumps(labels)).encode()
    ).hexdigest()
    folder = Path(cache_dir) if cache_dir is not None else DEFAULT_ACTIVATION_DIR
    entries: dict[int, tuple[str, Path]] = {}
    for blocks in depths:
        extra = {"weights": spec.weights, "code": _code_fingerprint(), "cut_blocks": blocks}
        key = feature_cache_key(backbone=name, data_id=data_id, image_size=size, crop=None, flip=flip, extra=extra)
        stem = f"{safe_name(name)}-{size[0]}x{size[1]}-last{blocks}{'-flip' if flip else ''}-{key[:24]}.npz"
        entries[blocks] = key, folder / stem
    found: dict[int, Activations] = {}
    for blocks, (key, path) in entries.items():
        start = time.perf_counter()
        cached = load_cached(path, key)
        if cached is not None:
            found[blocks] = Activations(cached[0], cached[1], time.perf_counter() - start, True, path)
    missing = [blocks for blocks in depths if blocks not in found]
    if missing:
        start = time.perf_counter()
        computed = _extract(name, records, label_map, size, missing, flip, batch_size)
        seconds = (time.perf_counter() - start) / len(missing)  # one pass made them all: an equal share each
        expected = np.asarray(labels, dtype=np.int32)
        for blocks, values in zip(missing, computed):
            key, path = entries[blocks]
            meta = {"key": key, "backbone": name, "image_size": list(size), "flip": flip, "cut_blocks": blocks}
            save_cached(path, values, expected, meta)
            found[blocks] = Activations(values, expected, seconds, False, path)
    return found


def _extract(
    name: str,
    records: Sequence[ImageRecord],
    label_map: LabelMap,
    size: tuple[int, int],
    depths: Sequence[int],
    flip: bool,
    batch_size: int,
) -> list[np.ndarray]:
    """Activations at each cut of ``depths`` for ``records``, in order (float32, one array per depth)."""
    run, shapes = _front_function(name, size, tuple(depths))
    arrays = [np.empty((len(records), *shape), dtype=np.float32) for shape in shapes]
    dataset = make_dataset(records, label_map, size, batch_size, shuffle=False, cache=False)
    row = 0
    with tqdm(total=len(records), unit="img", desc=f"{name} block activations{' (flipped)' if flip else ''}") as bar:
        for images, _ in dataset:
            if flip:
                images = tf.image.flip_left_right(images)
            for array, output in zip(arrays, run(images)):
                array[row : row + len(images)] = output.numpy()
            row += len(images)
            bar.update(len(images))
    if row != len(records):
        raise BlockCacheError(f"The photos gave {row} images for {len(records)} records; remove unreadable files.")
    return arrays


@functools.lru_cache(maxsize=1)
def _front_function(name: str, size: tuple[int, int], depths: tuple[int, ...]) -> tuple[Callable, list[tuple]]:
    """A compiled function from 0..255 images to the activations at each cut of ``depths``, and their shapes.

    The last one built is kept, so the parts of a split (and their mirror images) share one backbone.
    """
    front = front_model(build_backbone(name, include_top=False, pooling="avg", input_shape=(*size, 3)), depths)

    @tf.function(reduce_retracing=True)
    def run(images: tf.Tensor) -> list[tf.Tensor]:
        outputs = front(preprocess(name, images), training=False)
        return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]

    return run, [tuple(tensor.shape[1:]) for tensor in front.outputs]


@functools.cache
def _code_fingerprint() -> str:
    """The fingerprint of the code that turns photos into block activations, read once per process."""
    return code_fingerprint((*FEATURE_CODE_MODULES, __name__))
