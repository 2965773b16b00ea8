"""Bounding boxes of the official annotations: reading them (PASCAL VOC), choosing one, cropping to it.

Every number read from an annotation passes one check (finite, at most ``MAX_COORDINATE``), and
``box_pixels`` is the one test of a box against an image: the loader crops with it and the
data-quality scan checks with it, so both agree.
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from dogbreeds.data.folder import CROP_CHOICES, AnnotationError, CropChoice, ImageRecord, Problem

MAX_COORDINATE = 1_000_000  # pixels; a larger number in an annotation is an error, not a photo


@dataclass(frozen=True)
class Box:
    """A bounding box in pixels (left, top, right, bottom) of an image of size ``frame`` (width, height) when known."""

    xmin: float
    ymin: float
    xmax: float
    ymax: float
    frame: tuple[int, int] | None = None
    name: str = ""

    @property
    def area(self) -> float:
        """Area in square pixels."""
        return (self.xmax - self.xmin) * (self.ymax - self.ymin)


def read_boxes(xml_path: str | os.PathLike) -> list[Box]:
    """The boxes of a PASCAL VOC annotation file (Stanford Dogs' have no extension). Raises ``AnnotationError``."""
    path = Path(xml_path)
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        raise AnnotationError(f"malformed XML ({error})", path) from error
    except OSError as error:
        raise AnnotationError(f"cannot read ({error.strerror or error})", path) from error
    frame = None
    size = root.find("size")
    if size is not None:
        width, height = _number(size, "width", path), _number(size, "height", path)
        if width > 0 and height > 0:
            frame = (int(width), int(height))
    boxes = []
    for obj in root.iter("object"):
        bndbox = obj.find("bndbox")
        if bndbox is None:
            continue
        xmin, ymin, xmax, ymax = (_number(bndbox, tag, path) for tag in ("xmin", "ymin", "xmax", "ymax"))
        if xmax <= xmin or ymax <= ymin:
            raise AnnotationError(f"empty box xmin={xmin:g} ymin={ymin:g} xmax={xmax:g} ymax={ymax:g}", path)
        box = Box(xmin, ymin, xmax, ymax, frame, (obj.findtext("name") or "").strip())
        if frame is not None:
            try:
                box_pixels(box, frame)  # the loader's own test: nothing of the box inside the image
            except AnnotationError as error:
                raise AnnotationError(error.reason, path) from None
        boxes.append(box)
    if not boxes:
        raise AnnotationError("no <object><bndbox> in the annotation", path)
    return boxes


def _number(parent: ElementTree.Element, tag: str, path: Path) -> float:
    """The finite number in ``<tag>``: every number read from an annotation passes here."""
    text = parent.findtext(tag)
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise AnnotationError(f"<{parent.tag}><{tag}> is {text!r}, not a number", path) from None
    if not math.isfinite(value) or abs(value) > MAX_COORDINATE:
        raise AnnotationError(f"<{parent.tag}><{tag}> is {text!r}, not a pixel position or size", path)
    return value


def annotation_for(record: ImageRecord) -> list[Box] | None:
    """The record's boxes, or None when it has no annotation file. Raises ``AnnotationError``."""
    return read_boxes(record.annotation_path) if record.annotation_path else None


def choose_box(boxes: Sequence[Box], crop: CropChoice = "first") -> Box:
    """The first box of the annotation, or the largest one."""
    if crop not in CROP_CHOICES:
        raise ValueError(f"crop must be one of {CROP_CHOICES}, got {crop!r}")
    if not boxes:
        raise ValueError("no box to choose from")
    return boxes[0] if crop == "first" else max(boxes, key=lambda box: box.area)


def crop_boxes(records: Sequence[ImageRecord], crop: CropChoice | None) -> tuple[list[Box | None], list[Problem]]:
    """The box to crop each record to (None: whole image) and the unreadable annotations (used uncropped)."""
    if crop is not None and crop not in CROP_CHOICES:
        raise ValueError(f"crop must be None or one of {CROP_CHOICES}, got {crop!r}")
    boxes: list[Box | None] = []
    problems = []
    for record in records:
        box = None
        if crop is not None and record.annotation_path is not None:
            try:
                box = choose_box(annotation_for(record), crop)
            except AnnotationError as error:
                detail = f"{error.reason}; image used uncropped"
                problems.append(Problem(record.annotation_path, "bad_annotation", detail))
        boxes.append(box)
    return boxes, problems


def crop_to_box(image: Image.Image, box: Box, margin: float = 0.0) -> Image.Image:
    """Crop to the box grown by ``margin`` (a fraction of its size on each side), clipped to the image.

    A box from an annotation of another image size (``box.frame``) is scaled to this image first.
    Raises ``AnnotationError`` when nothing of the box lies inside the image.
    """
    return image.crop(box_pixels(box, image.size, margin))


def box_pixels(box: Box, size: tuple[int, int], margin: float = 0.0) -> tuple[int, int, int, int]:
    """The (left, top, right, bottom) pixels ``crop_to_box`` cuts from an image of ``size`` (width, height)."""
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    width, height = size
    scale_x = scale_y = 1.0
    if box.frame and box.frame != size:
        scale_x, scale_y = width / box.frame[0], height / box.frame[1]
    grow_x, grow_y = margin * (box.xmax - box.xmin), margin * (box.ymax - box.ymin)
    left = max(0, round((box.xmin - grow_x) * scale_x))
    top = max(0, round((box.ymin - grow_y) * scale_y))
    right = min(width, round((box.xmax + grow_x) * scale_x))
    bottom = min(height, round((box.ymax + grow_y) * scale_y))
    if right <= left or bottom <= top:
        raise AnnotationError(
            f"box ({box.xmin:g}, {box.ymin:g}, {box.xmax:g}, {box.ymax:g}) lies outside the {width}x{height} image"
        )
    return left, top, right, bottom
