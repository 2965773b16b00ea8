"""Random image augmentation as seeded Keras preprocessing layers.

:func:`make_augmentation` builds a ``keras.Sequential`` from a preset name, an
:class:`AugmentationConfig` or a dict of its fields. Like every Keras
augmentation layer it changes images only when called with ``training=True``
(which ``model.fit`` does) and passes them through unchanged at inference, so
it can sit at the front of a model::

    model = keras.Sequential([keras.Input((224, 224, 3)), make_augmentation("standard", seed=42), ...])

or be mapped over a ``tf.data`` pipeline with ``training=True``. Careful: a
direct call without ``training`` (``augmentation(images)``) augments, as Keras'
augmentation layers default to training mode; ``predict`` and ``evaluate`` do not.

Images are expected with pixel values in 0..255 (before any rescaling) and
come out as float32 in 0..255.

Presets (ranges are symmetric: a value ``r`` means uniform in ``[-r, r]``):

=========  ========  ======  =====  ====  ===============  ========
preset     rotation  shifts  shear  zoom  horizontal flip  contrast
=========  ========  ======  =====  ====  ===============  ========
none       0         0       0      0     no               0
light      10 deg    0.1     0      0.1   yes              0
standard   20 deg    0.2     0.2    0.2   yes              0
strong     30 deg    0.25    0.3    0.3   yes              0.3
=========  ========  ======  =====  ====  ===============  ========

``standard`` is the classic ``ImageDataGenerator(rotation_range=20,
width_shift_range=0.2, height_shift_range=0.2, shear_range=0.2,
zoom_range=0.2, horizontal_flip=True)`` recipe, with one deliberate
difference: ``ImageDataGenerator`` read ``shear_range`` in degrees (0.2 degrees,
a barely visible shear), whereas here ``shear`` is the shear factor of
``keras.layers.RandomShear`` (0.2: points move by up to 20 % of the image
across, about 11 degrees), along both axes. Zoom keeps the aspect ratio.

:func:`resized_crop_dataset` is the other recipe, for small data sets trained from
scratch: an Inception-style random resized crop (a random part of the photo, of
random area and aspect ratio, resized to the model's input), a horizontal flip and
a colour jitter, computed in ``tf.data`` from images held in memory, with stateless
random ops so that a seed gives the same epochs on every run. No pixel is invented
(no fill mode), and the photo is cropped from a larger copy when one is loaded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

import keras
import numpy as np

from dogbreeds.core.config import DEFAULT_SEED
from dogbreeds.core.errors import DogbreedsError

FillMode: TypeAlias = Literal["reflect", "nearest", "constant", "wrap"]
FILL_MODES: tuple[str, ...] = ("reflect", "nearest", "constant", "wrap")


class AugmentationError(DogbreedsError, ValueError):
    """An augmentation preset or setting is not valid."""


@dataclasses.dataclass(frozen=True)
class AugmentationConfig:
    """Ranges of the random transforms; zero (or ``False``) switches one off.

    ``rotation_degrees``: up to this many degrees either way. ``width_shift`` /
    ``height_shift``: fraction of the width / height. ``shear``: shear factor
    along x and y. ``zoom``: zoom in or out by up to this fraction.
    ``contrast``: contrast scaled by a factor in ``[1 - contrast, 1 + contrast]``.
    ``fill_mode``: how uncovered pixels are filled (Keras' modes; ``constant`` is black).
    """

    rotation_degrees: float = 0.0
    width_shift: float = 0.0
    height_shift: float = 0.0
    shear: float = 0.0
    zoom: float = 0.0
    horizontal_flip: bool = False
    vertical_flip: bool = False
    contrast: float = 0.0
    fill_mode: FillMode = "reflect"

    def __post_init__(self) -> None:
        limits = {
            "rotation_degrees": 180.0,
            "width_shift": 1.0,
            "height_shift": 1.0,
            "shear": 1.0,
            "zoom": 1.0,
            "contrast": 1.0,
        }
        for name, upper in limits.items():
            value = getattr(self, name)
            if not 0.0 <= value <= upper:
                raise AugmentationError(f"{name} must be in [0, {upper:g}], got {value!r}.")
        if self.zoom == 1.0:
            raise AugmentationError("zoom must be below 1: a zoom of 1 can shrink an image to nothing.")
        if self.fill_mode not in FILL_MODES:
            raise AugmentationError(f"Unknown fill_mode {self.fill_mode!r}; use one of {FILL_MODES}.")

    @property
    def is_identity(self) -> bool:
        """Whether no transform is switched on."""
        return self == AugmentationConfig(fill_mode=self.fill_mode)


PRESETS: Mapping[str, AugmentationConfig] = MappingProxyType(
    {
        "none": AugmentationConfig(),
        "light": AugmentationConfig(
            rotation_degrees=10.0, width_shift=0.1, height_shift=0.1, zoom=0.1, horizontal_flip=True
        ),
        "standard": AugmentationConfig(
            rotation_degrees=20.0,
            width_shift=0.2,
            height_shift=0.2,
            shear=0.2,
            zoom=0.2,
            horizontal_flip=True,
        ),
        "strong": AugmentationConfig(
            rotation_degrees=30.0,
            width_shift=0.25,
            height_shift=0.25,
            shear=0.3,
            zoom=0.3,
            horizontal_flip=True,
            contrast=0.3,
        ),
    }
)
"""Named augmentation settings; see the module docstring for the table."""


def resolve_config(preset_or_config: str | AugmentationConfig | Mapping[str, Any]) -> AugmentationConfig:
    """An :class:`AugmentationConfig` from a preset name, a config, or a dict of config fields."""
    if isinstance(preset_or_config, AugmentationConfig):
        return preset_or_config
    if isinstance(preset_or_config, str):
        if preset_or_config not in PRESETS:
            raise AugmentationError(
                f"Unknown augmentation preset {preset_or_config!r}; use one of {sorted(PRESETS)}, "
                "an AugmentationConfig, or a dict of its fields."
            )
        return PRESETS[preset_or_config]
    if isinstance(preset_or_config, Mapping):
        fields = {field.name for field in dataclasses.fields(AugmentationConfig)}
        unknown = sorted(set(preset_or_config) - fields)
        if unknown:
            raise AugmentationError(f"Unknown augmentation settings {unknown}; the settings are {sorted(fields)}.")
        return AugmentationConfig(**preset_or_config)
    raise AugmentationError(
        f"Expected a preset name, an AugmentationConfig or a dict, got {type(preset_or_config).__name__}."
    )


def make_augmentation(
    preset_or_config: str | AugmentationConfig | Mapping[str, Any] = "standard",
    seed: int = DEFAULT_SEED,
) -> keras.Sequential:
    """A seeded ``keras.Sequential`` of random transforms, active only with ``training=True``.

    Each layer gets its own seed derived from ``seed``, so two pipelines built
    with the same arguments produce the same sequence of augmentations.
    """
    config = resolve_config(preset_or_config)
    name = preset_or_config if isinstance(preset_or_config, str) else "custom"
    common = {"fill_mode": config.fill_mode, "interpolation": "bilinear"}
    layers: list[keras.layers.Layer] = []
    flip_mode = {
        (True, False): "horizontal",
        (False, True): "vertical",
        (True, True): "horizontal_and_vertical",
    }.get((config.horizontal_flip, config.vertical_flip))
    if flip_mode:
        layers.append(keras.layers.RandomFlip(flip_mode, seed=seed, name="flip"))
    if config.rotation_degrees:
        layers.append(
            keras.layers.RandomRotation(config.rotation_degrees / 360.0, seed=seed + 1, name="rotation", **common)
        )
    if config.width_shift or config.height_shift:
        layers.append(
            keras.layers.RandomTranslation(
                config.height_shift, config.width_shift, seed=seed + 2, name="shift", **common
            )
        )
    if config.shear:
        layers.append(keras.layers.RandomShear(config.shear, config.shear, seed=seed + 3, name="shear", **common))
    if config.zoom:
        layers.append(keras.layers.RandomZoom(config.zoom, None, seed=seed + 4, name="zoom", **common))
    if config.contrast:
        layers.append(
            keras.layers.RandomContrast(config.contrast, value_range=(0, 255), seed=seed + 5, name="contrast")
        )
    if not layers:
        layers.append(keras.layers.Identity(name="identity"))
    return keras.Sequential(layers, name=f"augmentation_{name}")


@dataclasses.dataclass(frozen=True)
class ResizedCropConfig:
    """Ranges of the random resized crop recipe (see :func:`resized_crop_dataset`).

    ``area``: the crop covers this fraction of the image (uniform). ``aspect_ratio``:
    width / height of the crop before resizing. ``color_jitter`` = j: brightness
    shifted by up to ``j / 2`` of the pixel range, contrast and saturation scaled by a
    factor in ``[1 - j, 1 + j]``; 0 switches it off.
    """

    area: tuple[float, float] = (0.35, 1.0)
    aspect_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    horizontal_flip: bool = True
    color_jitter: float = 0.2

    def __post_init__(self) -> None:
        object.__setattr__(self, "area", tuple(float(v) for v in self.area))
        object.__setattr__(self, "aspect_ratio", tuple(float(v) for v in self.aspect_ratio))
        low, high = self.area
        if not 0.0 < low <= high <= 1.0:
            raise AugmentationError(f"area must satisfy 0 < low <= high <= 1, got {self.area}.")
        low, high = self.aspect_ratio
        if not 0.0 < low <= high:
            raise AugmentationError(f"aspect_ratio must satisfy 0 < low <= high, got {self.aspect_ratio}.")
        if not 0.0 <= self.color_jitter < 1.0:
            raise AugmentationError(f"color_jitter must be in [0, 1), got {self.color_jitter}.")

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values."""
        return {**dataclasses.asdict(self), "area": list(self.area), "aspect_ratio": list(self.aspect_ratio)}


def random_resized_crop(image: Any, size: tuple[int, int], config: ResizedCropConfig, seed: Any) -> Any:
    """One augmented float32 ``size`` (height, width) image in 0..255 from a uint8 or float ``(H, W, 3)`` image.

    ``seed`` is a stateless seed (a shape ``[2]`` integer tensor); the same seed gives
    the same crop, flip and jitter.
    """
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=6)
    begin, crop_size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image),
        tf.zeros([1, 0, 4], tf.float32),
        seed=seeds[0],
        min_object_covered=0.0,
        aspect_ratio_range=config.aspect_ratio,
        area_range=config.area,
        max_attempts=20,
        use_image_if_no_bounding_boxes=True,
    )
    crop = tf.slice(image, begin, crop_size)
    out = tf.image.resize(tf.cast(crop, tf.float32), size, method="bilinear", antialias=True)
    if config.horizontal_flip:
        out = tf.image.stateless_random_flip_left_right(out, seeds[1])
    if config.color_jitter:
        jitter = config.color_jitter
        out = tf.image.stateless_random_brightness(out, 127.5 * jitter, seeds[2])
        out = tf.image.stateless_random_contrast(out, 1 - jitter, 1 + jitter, seeds[3])
        out = tf.image.stateless_random_saturation(tf.clip_by_value(out, 0.0, 255.0), 1 - jitter, 1 + jitter, seeds[4])
    return tf.clip_by_value(out, 0.0, 255.0)


def resized_crop_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    size: tuple[int, int],
    batch_size: int,
    config: ResizedCropConfig | None = None,
    seed: int = DEFAULT_SEED,
) -> Any:
    """A shuffled, augmented ``tf.data.Dataset`` of (float32 ``size`` images in 0..255, labels) batches.

    ``images``: a uint8 ``(N, H, W, 3)`` array, ideally loaded larger than ``size`` so
    that crops keep detail. Every epoch reshuffles and draws new crops; the whole
    sequence of epochs is fixed by ``seed``. The last incomplete batch is dropped
    (batch-norm statistics of a 3-image batch are noise) unless it is the only one.
    """
    import tensorflow as tf

    config = config or ResizedCropConfig()
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise AugmentationError(f"images must be an (N, height, width, 3) array, got shape {images.shape}.")
    if len(images) != len(labels) or not len(images):
        raise AugmentationError(f"need as many labels as images (at least one), got {len(images)} and {len(labels)}.")
    if batch_size < 1:
        raise AugmentationError(f"batch_size must be at least 1, got {batch_size}.")
    size = (int(size[0]), int(size[1]))
    pairs = tf.data.Dataset.from_tensor_slices((images, labels))
    pairs = pairs.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    dataset = tf.data.Dataset.zip((pairs, seeds)).map(
        lambda pair, element_seed: (random_resized_crop(pair[0], size, config, element_seed), pair[1]),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    dataset = dataset.batch(batch_size, drop_remainder=len(images) >= batch_size)
    return dataset.prefetch(tf.data.AUTOTUNE)


def preview_augmentations(
    image: np.ndarray,
    augmentation: str | AugmentationConfig | Mapping[str, Any] | keras.Layer = "standard",
    count: int = 8,
    seed: int = DEFAULT_SEED,
) -> np.ndarray:
    """``count`` random augmentations of one ``(H, W, 3)`` image, as a ``uint8`` ``(count, H, W, 3)`` array.

    ``augmentation`` is a ready layer (``seed`` is then unused) or anything
    :func:`make_augmentation` accepts. For plots, e.g. a row of ``imshow``.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise AugmentationError(f"Expected one image of shape (height, width, 3), got {image.shape}.")
    if count < 1:
        raise AugmentationError(f"count must be at least 1, got {count}.")
    layer = augmentation if isinstance(augmentation, keras.Layer) else make_augmentation(augmentation, seed)
    batch = np.repeat(image[None].astype(np.float32), count, axis=0)
    augmented = keras.ops.convert_to_numpy(layer(batch, training=True))
    return np.clip(np.round(augmented), 0, 255).astype(np.uint8)
