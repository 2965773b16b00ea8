"""Backbone feature caching: compute features once, train heads on them in seconds.

A cache entry is keyed by a SHA-256 hash of everything that shapes the features: the
backbone name, the data identity (every file's path, size and modification time, in
order, plus the labels), the image size, the crop mode, whether images were flipped
(for flip test-time augmentation) and any extra settings. A changed input therefore
never reuses a stale entry. Entries are ``.npz`` files written atomically.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import warnings
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from dogbreeds.core.config import REPO_ROOT
from dogbreeds.core.errors import DogbreedsError
from dogbreeds.core.fileio import safe_name, to_jsonable, write_npz_atomic
from dogbreeds.core.provenance import code_fingerprint
from dogbreeds.data.folder import CropChoice, ImageRecord
from dogbreeds.data.labels import LabelMap
from dogbreeds.inputs.pipeline import make_dataset
from dogbreeds.models.backbones import build_backbone, get_backbone, preprocess

DEFAULT_CACHE_DIR = REPO_ROOT / ".cache" / "features"
CACHE_FORMAT = 1
# The code that turns image files into backbone features, and only that: decoding, cropping and
# resizing the pixels, the backbones' input scaling, graphs and weight port. Changing what any of it
# does (not its comments, docstrings or layout) invalidates the cached features of
# ``backbone_features`` (a fixed weight port must not reuse old features); editing anything else
# (the folder layout, summaries, class names, Keras weight files' locations, which enter the key as
# ``weights``) does not.
FEATURE_CODE_MODULES = (
    "dogbreeds.data.boxes",
    "dogbreeds.data.images",
    "dogbreeds.inputs.pipeline",
    "dogbreeds.models.backbones.registry",
    "dogbreeds.models.backbones.invres",
    "dogbreeds.models.backbones.torch_port",
    "dogbreeds.models.backbones.torch_weights",
)

Extractor = keras.Model | Callable[[tf.Tensor], Any]


class FeatureCacheError(DogbreedsError, RuntimeError):
    """Features cannot be computed or cached as asked."""


@dataclass(frozen=True)
class CachedFeatures:
    """Features of a data set (rows in the data set's order) and where they were cached."""

    features: np.ndarray
    labels: np.ndarray
    key: str
    path: Path
    from_cache: bool


def files_fingerprint(paths: Iterable[str | os.PathLike]) -> str:
    """SHA-256 over each file's absolute path, size and modification time, in the given order."""
    digest = hashlib.sha256()
    for path in paths:
        resolved = Path(path).resolve()
        try:
            stat = resolved.stat()
        except OSError as error:
            raise FeatureCacheError(f"Cannot read {resolved} to fingerprint the data: {error}") from error
        digest.update(f"{resolved}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def feature_cache_key(
    *,
    backbone: str,
    data_id: str,
    image_size: tuple[int, int],
    crop: Any,
    flip: bool,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """The cache key (hex SHA-256) of features computed under these settings."""
    settings = {
        "format": CACHE_FORMAT,
        "backbone": backbone,
        "data": data_id,
        "image_size": list(image_size),
        "crop": crop,
        "flip": bool(flip),
        "extra": dict(extra or {}),
    }
    return hashlib.sha256(json.dumps(to_jsonable(settings), sort_keys=True).encode()).hexdigest()


def cached_features(
    extractor: Extractor,
    dataset: tf.data.Dataset | Callable[[], tf.data.Dataset],
    *,
    backbone: str,
    files: Sequence[str | os.PathLike],
    labels: Sequence[int],
    image_size: tuple[int, int],
    crop: Any,
    flip: bool = False,
    extra: Mapping[str, Any] | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> CachedFeatures:
    """Features of ``dataset`` from the cache, or computed with ``extractor`` and cached.

    ``dataset`` (or a function building it, called only on a cache miss) yields batches
    of (images, labels) for ``files`` in that order, unshuffled, at ``image_size`` with
    ``crop``; ``labels`` are their labels (checked against the data set). ``extractor``
    maps a batch of images to one feature vector per image (a model built with global
    pooling, including its own preprocessing). With ``flip``, images are mirrored left to
    right first (flip test-time augmentation). ``extra`` holds any other setting that
    changes the features (e.g. weights version); it goes into the cache key.
    """
    if len(files) != len(labels):
        raise FeatureCacheError(f"Got {len(files)} files but {len(labels)} labels; they must match one to one.")
    data_id = hashlib.sha256(
        (files_fingerprint(files) + json.dumps([int(label) for label in labels])).encode()
    ).hexdigest()
    key = feature_cache_key(
        backbone=backbone, data_id=data_id, image_size=image_size, crop=crop, flip=flip, extra=extra
    )
    folder = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR
    path = folder / f"{safe_name(backbone)}-{image_size[0]}x{image_size[1]}{'-flip' if flip else ''}-{key[:24]}.npz"

    cached = load_cached(path, key)
    if cached is not None:
        return CachedFeatures(features=cached[0], labels=cached[1], key=key, path=path, from_cache=True)

    data = dataset() if callable(dataset) else dataset
    features, found_labels = extract_features(
        extractor, data, flip=flip, desc=f"{backbone} features{' (flipped)' if flip else ''}", total=len(files)
    )
    expected = np.asarray(labels, dtype=np.int32)
    if features.shape[0] != len(files) or not np.array_equal(found_labels, expected):
        raise FeatureCacheError(
            f"The data set yielded {features.shape[0]} images whose labels do not match the {len(files)} "
            "files/labels given, in order. Build it from the same records with shuffle=False, and remove "
            "unreadable files first (`dogbreeds data scan`): a skipped image shifts every later row."
        )
    meta = {"key": key, "backbone": backbone, "image_size": list(image_size), "crop": crop, "flip": flip}
    save_cached(path, features, expected, meta)
    return CachedFeatures(features=features, labels=expected, key=key, path=path, from_cache=False)


def backbone_features(
    name: str,
    records: Sequence[ImageRecord],
    label_map: LabelMap,
    *,
    image_size: tuple[int, int] | None = None,
    crop: CropChoice | None = None,
    crop_margin: float = 0.0,
    flip: bool = False,
    batch_size: int = 32,
    cache_dir: str | os.PathLike | None = None,
) -> CachedFeatures:
    """Pooled ImageNet features of ``records`` from backbone ``name`` (see ``backbones``), cached.

    The backbone is built only on a cache miss. ``image_size`` defaults to the backbone's
    input size; ``crop``/``crop_margin`` are passed to ``make_dataset`` (and the annotation
    files join the cache key when cropping); ``flip`` mirrors the images first. The cache
    key also covers the weights and the source of the loading and backbone modules.
    """
    spec = get_backbone(name)
    size = spec.image_size(image_size)
    records = list(records)
    annotations = [r.annotation_path for r in records if r.annotation_path is not None] if crop else []
    extra = {
        "weights": spec.weights,
        "code": _code_fingerprint(),
        "crop_margin": crop_margin,
        "annotations": files_fingerprint(annotations) if annotations else None,
    }

    def extract(images: tf.Tensor) -> Any:
        return feature_extractor(name, size)(images)

    return cached_features(
        extract,
        lambda: make_dataset(
            records, label_map, size, batch_size, crop=crop, crop_margin=crop_margin, shuffle=False, cache=False
        ),
        backbone=name,
        files=[record.path for record in records],
        labels=[label_map.encode(record.label_id) for record in records],
        image_size=size,
        crop=crop,
        flip=flip,
        extra=extra,
        cache_dir=cache_dir,
    )


@functools.lru_cache(maxsize=1)
def feature_extractor(name: str, image_size: tuple[int, int]) -> Callable[[tf.Tensor], tf.Tensor]:
    """A compiled function mapping 0..255 images to pooled features of backbone ``name``.

    The last one built is kept, so the train, test and flipped passes share one backbone.
    """
    backbone = build_backbone(name, include_top=False, pooling="avg", input_shape=(*image_size, 3))

    @tf.function(reduce_retracing=True)
    def extract(images: tf.Tensor) -> tf.Tensor:
        return backbone(preprocess(name, images), training=False)

    return extract


def extract_features(
    extractor: Extractor,
    dataset: tf.data.Dataset,
    *,
    flip: bool = False,
    desc: str = "features",
    total: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels) of every batch of ``dataset``; no caching. ``total`` images sizes the progress bar."""
    feature_parts: list[np.ndarray] = []
    label_parts: list[np.ndarray] = []
    with tqdm(total=total, unit="img", desc=desc) as bar:
        for images, batch_labels in dataset:
            if flip:
                images = tf.image.flip_left_right(images)
            if isinstance(extractor, keras.Model):
                output = extractor.predict_on_batch(images)
            else:
                output = extractor(images)
            values = np.asarray(keras.ops.convert_to_numpy(output), dtype=np.float32)
            if values.ndim != 2:
                raise FeatureCacheError(
                    f"The extractor returned shape {values.shape}; it must return one vector per image "
                    "(build the backbone with global pooling)."
                )
            feature_parts.append(values)
            label_parts.append(np.asarray(batch_labels, dtype=np.int32).reshape(-1))
            bar.update(len(values))
    if not feature_parts:
        raise FeatureCacheError("The data set is empty: there is nothing to extract features from.")
    return np.concatenate(feature_parts), np.concatenate(label_parts)


def load_cached(path: Path, key: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The (values, labels) cached at ``path`` under ``key``; None (with a warning if the file is there) otherwise."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            if meta.get("key") == key:
                return stored["features"], stored["labels"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        warnings.warn(f"Ignoring unreadable feature cache {path} ({error}); recomputing it.", stacklevel=3)
        return None
    warnings.warn(f"Feature cache {path} belongs to other settings; recomputing it.", stacklevel=3)
    return None


def save_cached(path: Path, features: np.ndarray, labels: np.ndarray, meta: Mapping[str, Any]) -> None:
    """Cache ``features`` and ``labels`` at ``path`` atomically, with ``meta`` (holding the key) beside them."""
    write_npz_atomic(path, {"features": features, "labels": labels, "meta": np.array(json.dumps(to_jsonable(meta)))})


@functools.cache
def _code_fingerprint() -> str:
    """The feature code's fingerprint (see :func:`dogbreeds.core.provenance.code_fingerprint`), read once per
    process: editing a file while features are being computed cannot change the keys of a run halfway.
    """
    return code_fingerprint(FEATURE_CODE_MODULES)
