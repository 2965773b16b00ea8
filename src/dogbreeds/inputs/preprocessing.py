"""Image preprocessing with Pillow and OpenCV, on RGB images.

Every function takes a PIL image or a ``uint8`` numpy array of shape
``(height, width, 3)`` in RGB order, and returns a new ``uint8`` RGB array of
that kind; inputs are never modified. OpenCV works in BGR internally; the
conversions happen here, so callers only ever see RGB.

Sizes are ``(height, width)``, as in the output array's shape (Pillow and
OpenCV themselves take ``(width, height)``); an ``int`` means a square.

Shape-keeping operations are also registered by name in :data:`PREPROCESSORS`,
so that an experiment can switch its preprocessing with a string::

    apply_named(images, "equalize_luma")           # (N, H, W, 3) -> (N, H, W, 3)
    apply_named(images, "clahe+denoise_bilateral") # applied left to right
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Literal, TypeAlias

import cv2
import numpy as np
from PIL import Image, ImageOps
from tqdm.auto import tqdm

from dogbreeds.core.errors import DogbreedsError

ImageLike: TypeAlias = Image.Image | np.ndarray
Size: TypeAlias = int | tuple[int, int]
ResizeMode: TypeAlias = Literal["pad", "crop", "stretch"]
ColorSpace: TypeAlias = Literal["ycrcb", "lab"]
RGB: TypeAlias = tuple[int, int, int]

RESIZE_MODES: tuple[str, ...] = ("pad", "crop", "stretch")
"""``pad``: keep the aspect ratio, fit inside and pad; ``crop``: keep the aspect
ratio, cover and crop the centre; ``stretch``: scale each axis independently."""

_LUMA_CONVERSIONS: Mapping[str, tuple[int, int]] = MappingProxyType(
    {
        "ycrcb": (cv2.COLOR_RGB2YCrCb, cv2.COLOR_YCrCb2RGB),
        "lab": (cv2.COLOR_RGB2LAB, cv2.COLOR_LAB2RGB),
    }
)


class PreprocessingError(DogbreedsError, ValueError):
    """A preprocessing function was given an argument it cannot use."""


class InvalidImageError(PreprocessingError):
    """The input is not an RGB image this module can work on."""


class UnknownPreprocessorError(PreprocessingError):
    """A preprocessing name is not in the registry."""


# --------------------------------------------------------------------------- #
# Conversions and validation
# --------------------------------------------------------------------------- #


def to_rgb_array(image: ImageLike) -> np.ndarray:
    """The image as a ``uint8`` ``(height, width, 3)`` RGB array (PIL images of any mode are converted)."""
    if isinstance(image, Image.Image):
        return np.asarray(image if image.mode == "RGB" else image.convert("RGB")).copy()
    if not isinstance(image, np.ndarray):
        raise InvalidImageError(f"Expected a PIL image or a numpy array, got {type(image).__name__}.")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InvalidImageError(
            f"Expected a uint8 RGB array of shape (height, width, 3), got a {image.dtype} array "
            f"of shape {image.shape}. Convert floats with np.clip(x, 0, 255).astype(np.uint8) "
            "and grayscale arrays with np.repeat(x[..., None], 3, axis=-1)."
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InvalidImageError(f"The image is empty (shape {image.shape}).")
    return np.ascontiguousarray(image)


def to_pil(image: ImageLike) -> Image.Image:
    """The image as an RGB PIL image."""
    if isinstance(image, Image.Image) and image.mode == "RGB":
        return image
    return Image.fromarray(to_rgb_array(image))


def _parse_size(size: Size) -> tuple[int, int]:
    """``(height, width)`` from an int or a pair, checked to be positive integers."""
    pair = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in pair):
        raise PreprocessingError(f"A size is a positive int or a (height, width) pair of positive ints, got {size!r}.")
    return int(pair[0]), int(pair[1])


def _parse_fill(fill: RGB) -> RGB:
    values = tuple(fill)
    if len(values) != 3 or not all(0 <= int(v) <= 255 for v in values):
        raise PreprocessingError(f"A fill colour is an (R, G, B) triple in 0..255, got {fill!r}.")
    return int(values[0]), int(values[1]), int(values[2])


# --------------------------------------------------------------------------- #
# Resize geometry, shared by both backends so that their results line up
# --------------------------------------------------------------------------- #


def _fit_inside(height: int, width: int, target: tuple[int, int]) -> tuple[int, int]:
    """The largest aspect-keeping size that fits inside ``target``."""
    scale = min(target[0] / height, target[1] / width)
    return (
        min(target[0], max(1, round(height * scale))),
        min(target[1], max(1, round(width * scale))),
    )


def _center_crop_box(height: int, width: int, target: tuple[int, int]) -> tuple[int, int, int, int]:
    """``(top, left, crop_height, crop_width)``: the central region with the target's aspect ratio."""
    target_ratio = target[1] / target[0]
    if width / height > target_ratio:
        crop_height, crop_width = height, max(1, min(width, round(height * target_ratio)))
    else:
        crop_height, crop_width = max(1, min(height, round(width / target_ratio))), width
    return (height - crop_height) // 2, (width - crop_width) // 2, crop_height, crop_width


def _resize_with_mode(
    image: ImageLike,
    size: Size,
    mode: ResizeMode,
    fill: RGB,
    stretch: Callable[[np.ndarray, tuple[int, int]], np.ndarray],
) -> np.ndarray:
    """Apply a resize ``mode`` using ``stretch(array, (height, width))`` for the resampling."""
    array = to_rgb_array(image)
    target = _parse_size(size)
    height, width = array.shape[:2]
    if mode == "stretch":
        scaled_size, source = target, array
    elif mode == "crop":
        top, left, crop_height, crop_width = _center_crop_box(height, width, target)
        scaled_size, source = target, array[top : top + crop_height, left : left + crop_width]
    elif mode == "pad":
        scaled_size, source = _fit_inside(height, width, target), array
    else:
        raise PreprocessingError(f"Unknown resize mode {mode!r}; use one of {RESIZE_MODES}.")
    if source.shape[:2] == scaled_size:
        scaled = source.copy()
    else:
        scaled = stretch(np.ascontiguousarray(source), scaled_size)
    if scaled.shape[:2] == target:
        return scaled
    canvas = np.empty((*target, 3), dtype=np.uint8)
    canvas[...] = _parse_fill(fill)
    top, left = (target[0] - scaled_size[0]) // 2, (target[1] - scaled_size[1]) // 2
    canvas[top : top + scaled_size[0], left : left + scaled_size[1]] = scaled
    return canvas


# --------------------------------------------------------------------------- #
# Pillow
# --------------------------------------------------------------------------- #


def pil_resize(
    image: ImageLike,
    size: Size,
    mode: ResizeMode = "pad",
    *,
    resample: Image.Resampling = Image.Resampling.BICUBIC,
    fill: RGB = (0, 0, 0),
) -> np.ndarray:
    """Resize with Pillow to ``size`` (height, width) by ``mode``: ``"pad"``, ``"crop"`` or ``"stretch"``.

    Pillow's filters are antialiased when downscaling, so every ``resample``
    filter is usable for shrinking; ``fill`` colours the padding.
    """

    def stretch(array: np.ndarray, target: tuple[int, int]) -> np.ndarray:
        return np.asarray(Image.fromarray(array).resize((target[1], target[0]), resample))

    return _resize_with_mode(image, size, mode, fill, stretch)


def pil_grayscale(image: ImageLike) -> np.ndarray:
    """Pillow's ITU-R 601 luma (``L = 0.299 R + 0.587 G + 0.114 B``) in all three channels."""
    return np.asarray(to_pil(image).convert("L").convert("RGB"))


def pil_autocontrast(image: ImageLike, cutoff: float = 0.0, *, preserve_tone: bool = False) -> np.ndarray:
    """Stretch each channel to 0..255, ignoring ``cutoff`` percent of pixels at each end.

    With ``preserve_tone`` the stretch is computed on the luminance and applied
    to all channels alike, so colours keep their balance.
    """
    if not 0.0 <= cutoff < 50.0:
        raise PreprocessingError(f"cutoff is a percentage in [0, 50), got {cutoff}.")
    return np.asarray(ImageOps.autocontrast(to_pil(image), cutoff=cutoff, preserve_tone=preserve_tone))


def pil_equalize(image: ImageLike) -> np.ndarray:
    """Pillow histogram equalization, each RGB channel on its own (this shifts colours;
    :func:`cv_equalize_luma` keeps them).
    """
    return np.asarray(ImageOps.equalize(to_pil(image)))


# --------------------------------------------------------------------------- #
# OpenCV
# --------------------------------------------------------------------------- #


def cv_resize(
    image: ImageLike,
    size: Size,
    mode: ResizeMode = "pad",
    *,
    interpolation: int | None = None,
    fill: RGB = (0, 0, 0),
) -> np.ndarray:
    """Resize with OpenCV to ``size`` (height, width) by ``mode``: ``"pad"``, ``"crop"`` or ``"stretch"``.

    By default shrinking uses ``cv2.INTER_AREA`` (pixel-area averaging, free of
    the aliasing that ``INTER_LINEAR`` shows when downscaling) and enlarging uses
    ``cv2.INTER_CUBIC``; pass ``interpolation`` to force one.
    """

    def stretch(array: np.ndarray, target: tuple[int, int]) -> np.ndarray:
        chosen = interpolation
        if chosen is None:
            shrinking = target[0] <= array.shape[0] and target[1] <= array.shape[1]
            chosen = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
        return cv2.resize(array, (target[1], target[0]), interpolation=chosen)

    return _resize_with_mode(image, size, mode, fill, stretch)


def _convert_for_luma(color_space: ColorSpace) -> tuple[int, int]:
    if color_space not in _LUMA_CONVERSIONS:
        raise PreprocessingError(f"Unknown colour space {color_space!r}; use one of {sorted(_LUMA_CONVERSIONS)}.")
    return _LUMA_CONVERSIONS[color_space]


def _map_luma(image: ImageLike, color_space: ColorSpace, transform: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply ``transform`` to the luminance channel (Y of YCrCb, or L of Lab) only."""
    forward, backward = _convert_for_luma(color_space)
    converted = cv2.cvtColor(to_rgb_array(image), forward)
    converted[..., 0] = transform(np.ascontiguousarray(converted[..., 0]))
    return cv2.cvtColor(converted, backward)


def cv_equalize_luma(image: ImageLike, color_space: ColorSpace = "ycrcb") -> np.ndarray:
    """Histogram-equalize the luminance only (Y of YCrCb, or L of Lab); chroma, so hue, stays."""
    return _map_luma(image, color_space, cv2.equalizeHist)


def cv_clahe(
    image: ImageLike,
    clip_limit: float = 2.0,
    tile_grid_size: tuple[int, int] = (8, 8),
    color_space: ColorSpace = "lab",
) -> np.ndarray:
    """Contrast-limited adaptive histogram equalization (CLAHE) of the luminance.

    The image is split into ``tile_grid_size`` (rows, columns) tiles, each
    equalized with its histogram clipped at ``clip_limit`` times the mean bin
    count (so a tile's contrast grows by at most about ``clip_limit``), and the
    tile mappings are blended bilinearly. Chroma is kept.
    """
    if clip_limit <= 0:
        raise PreprocessingError(f"clip_limit must be positive, got {clip_limit}.")
    rows, columns = (int(v) for v in tile_grid_size)
    if rows < 1 or columns < 1:
        raise PreprocessingError(f"tile_grid_size needs positive (rows, columns), got {tile_grid_size!r}.")
    clahe = cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=(columns, rows))
    return _map_luma(image, color_space, clahe.apply)


def cv_denoise_nl_means(
    image: ImageLike,
    strength: float = 10.0,
    color_strength: float = 10.0,
    *,
    template_window_size: int = 7,
    search_window_size: int = 21,
) -> np.ndarray:
    """Non-local means denoising (``cv2.fastNlMeansDenoisingColored``): strong but slow.

    ``strength`` filters luminance, ``color_strength`` chroma; larger removes
    more noise and more detail.
    """
    bgr = cv2.cvtColor(to_rgb_array(image), cv2.COLOR_RGB2BGR)
    denoised = cv2.fastNlMeansDenoisingColored(
        bgr, None, float(strength), float(color_strength), template_window_size, search_window_size
    )
    return cv2.cvtColor(denoised, cv2.COLOR_BGR2RGB)


def cv_bilateral_filter(
    image: ImageLike, diameter: int = 9, sigma_color: float = 75.0, sigma_space: float = 75.0
) -> np.ndarray:
    """Edge-preserving smoothing: neighbours are averaged only where their colours are close."""
    return cv2.bilateralFilter(to_rgb_array(image), int(diameter), float(sigma_color), float(sigma_space))


def cv_gaussian_blur(image: ImageLike, kernel_size: int = 5, sigma: float = 0.0) -> np.ndarray:
    """Gaussian smoothing with an odd ``kernel_size``; ``sigma=0`` derives it from the kernel size."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise PreprocessingError(f"kernel_size must be a positive odd int, got {kernel_size}.")
    return cv2.GaussianBlur(to_rgb_array(image), (kernel_size, kernel_size), float(sigma))


# --------------------------------------------------------------------------- #
# Batches and the registry of named preprocessors
# --------------------------------------------------------------------------- #


def map_images(
    images: np.ndarray | Iterable[ImageLike],
    function: Callable[[np.ndarray], np.ndarray],
    *,
    description: str | None = None,
    progress: bool = True,
) -> np.ndarray:
    """Apply ``function`` to each image and stack the results into one ``(N, H, W, 3)`` array.

    ``images`` is an ``(N, H, W, 3)`` uint8 array or any iterable of images (of
    different sizes, e.g. photos, as long as ``function`` makes them equal, as a
    resize does). Shows a progress bar unless ``progress`` is false.
    """
    if isinstance(images, np.ndarray) and (images.ndim != 4 or images.shape[-1] != 3):
        raise InvalidImageError(f"Expected a batch of shape (N, height, width, 3), got {images.shape}.")
    total = len(images) if isinstance(images, (Sequence, np.ndarray)) else None
    results: list[np.ndarray] = []
    for index, image in enumerate(tqdm(images, total=total, desc=description, disable=not progress)):
        result = function(to_rgb_array(image))
        if results and result.shape != results[0].shape:
            raise PreprocessingError(
                f"Image {index} came out with shape {result.shape}, image 0 with {results[0].shape}; "
                "resize the images to one size before stacking them."
            )
        results.append(result)
    if not results:
        raise InvalidImageError("No images were given.")
    return np.stack(results)


def _identity(image: ImageLike) -> np.ndarray:
    return to_rgb_array(image).copy()


PREPROCESSORS: Mapping[str, Callable[[ImageLike], np.ndarray]] = MappingProxyType(
    {
        "none": _identity,
        "grayscale": pil_grayscale,
        "autocontrast": pil_autocontrast,
        "equalize": pil_equalize,
        "equalize_luma": cv_equalize_luma,
        "clahe": cv_clahe,
        "denoise_nl_means": cv_denoise_nl_means,
        "denoise_bilateral": cv_bilateral_filter,
        "denoise_gaussian": cv_gaussian_blur,
    }
)
"""Shape-keeping preprocessors by name, each with its default parameters."""


def named_preprocessor(name: str) -> Callable[[ImageLike], np.ndarray]:
    """The per-image function for ``name``: a key of :data:`PREPROCESSORS`, or keys joined by ``+``."""
    parts = [part.strip() for part in name.split("+")]
    unknown = [part for part in parts if part not in PREPROCESSORS]
    if unknown:
        raise UnknownPreprocessorError(
            f"Unknown preprocessing {', '.join(map(repr, unknown))} in {name!r}; "
            f"use one of {sorted(PREPROCESSORS)}, or several joined by '+'."
        )
    functions = [PREPROCESSORS[part] for part in parts]

    def apply(image: ImageLike) -> np.ndarray:
        result = to_rgb_array(image)
        for function in functions:
            result = function(result)
        return result

    apply.__name__ = name
    return apply


def apply_named(images: np.ndarray, name: str, *, progress: bool = True) -> np.ndarray:
    """Apply the preprocessing ``name`` (see :func:`named_preprocessor`) to an ``(N, H, W, 3)`` batch."""
    return map_images(images, named_preprocessor(name), description=name, progress=progress)
