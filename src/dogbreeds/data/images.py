"""Safe image loading: any file Pillow can read becomes an RGB image, anything else a clear ``ImageLoadError``.

Handled: grayscale, palette, CMYK and 16-bit images (converted to RGB), transparency
(composited on white), a PNG saved with a ``.jpg`` name (Pillow reads the content, not the
name), decompression bombs (more pixels than ``PIL.Image.MAX_IMAGE_PIXELS``), truncated or
corrupt data (a JPEG whose header promises more pixels than its bytes can hold), non-image
files, raw camera files (DNG) and images too small to be a photo. EXIF orientation is not
applied, so that pixels stay in the frame the Stanford Dogs boxes were drawn in. HEIC/HEIF
photos are read through the pi-heif plugin (the decoding-only build of pillow-heif), AVIF by Pillow itself.
"""

from __future__ import annotations

import os
import stat
import threading
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm.auto import tqdm

from dogbreeds.core.errors import DogbreedsError
from dogbreeds.data.boxes import Box, crop_boxes, crop_to_box
from dogbreeds.data.folder import AnnotationError, CropChoice, ImageRecord, Problem, ProblemLog

MIN_SIDE = 8
"""Images with a side shorter than this many pixels are rejected (e.g. 1x1 tracking pixels)."""

try:  # HEIC/HEIF (iPhone photos): a pinned dependency; an environment set up before it just counts them skipped
    from pi_heif import register_heif_opener
except ImportError:
    HEIF_FORMATS: tuple[str, ...] = ()
else:
    register_heif_opener()
    HEIF_FORMATS = ("HEIF",)

IMAGE_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP", "PPM", "AVIF", *HEIF_FORMATS)
"""The only formats Pillow may open here (phones' multi-picture MPO files open as JPEG). Formats outside
it are refused by content, whatever the name says: Pillow would hand a PostScript file
(EPS) to Ghostscript, a program that must never see an untrusted file."""
Image.init()  # register every plugin now, so that each allowed format is known to Image.open

RAW_EXTENSIONS = frozenset({".dng"})
"""Raw camera photos: a folder's files with these names get an "unreadable" answer that says why."""
HEIF_EXTENSIONS = frozenset({".heic", ".heif"})
"""iPhone photos: read when pi-heif is installed, else answered "unreadable" with the remedy."""
_DNG_VERSION_TAG = 50706  # a TIFF tag that only DNG files carry

LoadErrorKind = Literal[
    "unreadable", "not_an_image", "unsupported", "decompression_bomb", "too_small", "corrupt", "bad_box"
]

_OPEN_LOCK = threading.Lock()  # warnings.catch_warnings is not thread-safe; opening only reads the header
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})


class ImageLoadError(DogbreedsError):
    """An image file that cannot be used, with the reason and a short kind (e.g. ``corrupt``)."""

    def __init__(self, path: str | os.PathLike, reason: str, kind: LoadErrorKind = "corrupt") -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason
        self.kind = kind

    def to_problem(self) -> Problem:
        """The same failure as a ``Problem`` of severity ``error`` (the file is skipped)."""
        return Problem(self.path, self.kind, self.reason, "error")


def open_image(path: str | os.PathLike, min_side: int = MIN_SIDE) -> Image.Image:
    """Open an image lazily (header only) after the safety checks. The caller closes it.

    Raises ``ImageLoadError`` for an unreadable or empty file, a non-image, a decompression
    bomb (Pillow's warning and error both count) or an image with a side under ``min_side``.
    """
    path = Path(path)
    try:
        status = path.stat()
    except OSError as error:
        raise ImageLoadError(path, f"cannot read the file ({error.strerror or error})", "unreadable") from None
    if not stat.S_ISREG(status.st_mode):
        kind = (
            "a folder"
            if stat.S_ISDIR(status.st_mode)
            else "a pipe"
            if stat.S_ISFIFO(status.st_mode)
            else "a device"
            if stat.S_ISCHR(status.st_mode) or stat.S_ISBLK(status.st_mode)
            else "a special file"
        )
        raise ImageLoadError(path, f"not a regular file ({kind})", "unreadable")
    if status.st_size == 0:
        raise ImageLoadError(path, "empty file (0 bytes)", "not_an_image")
    try:
        with _OPEN_LOCK, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path, formats=IMAGE_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageLoadError(path, f"decompression bomb refused: {error}", "decompression_bomb") from None
    except UnidentifiedImageError:
        if path.suffix.lower() in HEIF_EXTENSIONS and not HEIF_FORMATS:
            raise ImageLoadError(path, "HEIC needs pi-heif: pip install -r requirements.txt", "unsupported") from None
        raise ImageLoadError(
            path, f"not an image in a format read here ({', '.join(IMAGE_FORMATS)})", "not_an_image"
        ) from None
    except OSError as error:
        if error.errno is not None:  # the system could not read it (permissions, a folder, a disk error)
            raise ImageLoadError(path, f"cannot read the file ({error.strerror})", "unreadable") from None
        raise ImageLoadError(path, f"corrupt image header ({error})", "corrupt") from None
    except Exception as error:  # a damaged header can make any plugin raise (SyntaxError, struct.error...)
        raise ImageLoadError(path, f"corrupt image header ({type(error).__name__}: {error})", "corrupt") from None
    try:
        _check_opened(path, image, status.st_size, min_side)
    except ImageLoadError:
        image.close()
        raise
    return image


def _check_opened(path: Path, image: Image.Image, size: int, min_side: int) -> None:
    """Refuse a raw camera file, a too small image and a JPEG whose bytes cannot hold the pixels it announces.

    A Huffman-coded JPEG spends at least one bit on each 8x8 block of its first component;
    with fewer bytes, the decoder would fill the rest of the frame with grey.
    """
    if image.format == "TIFF" and _DNG_VERSION_TAG in image.tag_v2:
        raise ImageLoadError(path, "a raw camera photo (DNG) is not read here; export it as JPEG", "unsupported")
    if min(image.size) < min_side:
        raise ImageLoadError(
            path, f"too small: {image.width}x{image.height} px (a side under {min_side} px)", "too_small"
        )
    blocks = -(-image.width // 8) * -(-image.height // 8)
    if image.format in ("JPEG", "MPO") and size * 8 < blocks:
        raise ImageLoadError(
            path,
            f"truncated: its header says {image.width}x{image.height} px, more than its {size:,} bytes can hold",
            "corrupt",
        )


def to_rgb(image: Image.Image) -> Image.Image:
    """A new RGB copy: transparency composited on white, 16-bit and float scaled to 8-bit, other modes converted.

    16-bit images are scaled by 1/257 (65535 -> 255); float images whose values all lie in
    0..1 are scaled by 255, other float or 32-bit ones are taken as 0..255 (clipped).
    """
    if image.mode == "RGB":
        return image.copy()
    if image.mode in _SIXTEEN_BIT_MODES or image.mode in ("I", "F"):
        return _wide_gray_to_rgb(image)
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        return _on_white(image.convert("RGBA"))
    return image.convert("RGB")


def _wide_gray_to_rgb(image: Image.Image) -> Image.Image:
    values = np.asarray(image, dtype=np.float64)
    if image.mode in _SIXTEEN_BIT_MODES or values.max(initial=0) > 255:
        values = values / 257.0
    elif image.mode == "F" and values.size and np.nanmax(values) <= 1.0:
        values = values * 255.0
    gray = np.clip(np.rint(np.nan_to_num(values)), 0, 255).astype(np.uint8)
    transparent = image.info.get("transparency")
    if isinstance(transparent, int):  # a grayscale PNG's tRNS chunk names one fully transparent value
        alpha = np.where(np.asarray(image) == transparent, 0, 255).astype(np.uint8)
        return _on_white(Image.merge("RGBA", (*Image.fromarray(gray).convert("RGB").split(), Image.fromarray(alpha))))
    return Image.fromarray(gray).convert("RGB")


def _on_white(rgba: Image.Image) -> Image.Image:
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def load_image(path: str | os.PathLike, min_side: int = MIN_SIDE, *, upright: bool = False) -> Image.Image:
    """Decode an image file completely into an RGB ``PIL.Image``. Raises ``ImageLoadError``.

    With ``upright``, the photo's EXIF orientation is applied (as a viewer shows it).
    """
    with open_image(path, min_side) as image:
        try:
            image.load()
            decoded = ImageOps.exif_transpose(image) if upright else image
        except Exception as error:  # Pillow raises OSError, SyntaxError, ValueError... on bad data
            raise ImageLoadError(path, f"truncated or corrupt image data ({error})", "corrupt") from None
        return to_rgb(decoded)


def load_upright(path: str | os.PathLike, min_side: int = MIN_SIDE) -> Image.Image:
    """A photo as an RGB image the right way up (its EXIF orientation applied). Raises ``ImageLoadError``."""
    return load_image(path, min_side, upright=True)


def load_resized(
    path: str | os.PathLike,
    size: tuple[int, int],
    box: Box | None = None,
    margin: float = 0.0,
    *,
    upright: bool = False,
) -> np.ndarray:
    """An image as a uint8 array of shape (height, width, 3), cropped to ``box`` first when given.

    ``size`` is (height, width). The aspect ratio is not kept (as in the 224 x 224 crops).
    ``upright`` applies the EXIF orientation first (prediction; boxes are in the stored frame).
    Raises ``ImageLoadError``, with kind ``bad_box`` when the box lies outside the image.
    """
    height, width = size
    image = load_image(path, upright=upright)
    if box is not None:
        try:
            image = crop_to_box(image, box, margin)
        except AnnotationError as error:
            raise ImageLoadError(path, f"bounding box unusable: {error}", "bad_box") from None
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def load_images_array(
    items: Iterable[ImageRecord | str | os.PathLike],
    size: tuple[int, int] = (224, 224),
    crop: CropChoice | None = None,
    margin: float = 0.0,
    on_error: Literal["raise", "skip"] = "raise",
    problems: ProblemLog | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> np.ndarray:
    """Load images (records or paths) into one uint8 array of shape (N, height, width, 3).

    ``crop`` ("first" or "largest" box) applies to records with an annotation; an unreadable
    annotation leaves its image uncropped (warned and logged). With ``on_error="skip"``,
    unreadable images are left out of the array (so N can be smaller than the input),
    warned about and added to ``problems``; with "raise" the first one raises ``ImageLoadError``.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    records = [item if isinstance(item, ImageRecord) else _record_of_path(item) for item in items]
    boxes, box_problems = crop_boxes(records, crop)
    problems = problems if problems is not None else ProblemLog()
    for problem in box_problems:
        problems.add(problem)
    if box_problems:
        warnings.warn(
            f"{len(box_problems)} unreadable annotation(s): those images are used uncropped "
            f"(first: {box_problems[0].detail})",
            stacklevel=2,
        )

    def load(position: int) -> np.ndarray | ImageLoadError:
        try:
            return load_resized(records[position].path, size, boxes[position], margin)
        except ImageLoadError as error:
            if on_error == "raise":
                raise
            return error

    array = np.empty((len(records), size[0], size[1], 3), dtype=np.uint8)
    kept = np.ones(len(records), dtype=bool)
    with ThreadPoolExecutor(workers or min(8, os.cpu_count() or 1)) as pool:
        loaded = pool.map(load, range(len(records)))
        for position, result in enumerate(
            tqdm(loaded, total=len(records), desc="Loading images", unit="img", disable=not progress)
        ):
            if isinstance(result, ImageLoadError):
                kept[position] = False
                problems.add(result.to_problem())
            else:
                array[position] = result
    if not kept.all():
        skipped = [records[position].path.name for position in np.flatnonzero(~kept)]
        warnings.warn(
            f"skipped {len(skipped)} unreadable image(s): {', '.join(skipped[:5])}"
            + (" ..." if len(skipped) > 5 else ""),
            stacklevel=2,
        )
        return array[kept]
    return array


def _record_of_path(path: str | os.PathLike) -> ImageRecord:
    path = Path(path)
    return ImageRecord(path, path.parent.name)
