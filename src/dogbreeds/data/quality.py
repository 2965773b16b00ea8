"""Data quality scan: every file of a data folder checked, problems listed by file, kind and detail.

The quick scan reads image headers (size, format, color mode), checks that each JPEG
ends with its end-of-image marker and lets Pillow verify other formats; a JPEG without
that marker is decoded to tell trailing garbage from truncation. ``deep=True`` decodes
every image. Severity ``error``: the loaders skip the file; ``warning``: the file is used.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from dogbreeds.data.boxes import box_pixels, choose_box, read_boxes
from dogbreeds.data.folder import CROP_CHOICES, AnnotationError, ImageRecord, Problem, discover
from dogbreeds.data.images import MIN_SIDE, ImageLoadError, open_image

_FORMAT_OF_SUFFIX = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".gif": "GIF", ".webp": "WEBP"}
_MODE_NOTES = {
    "L": "grayscale",
    "1": "black and white (1 bit)",
    "P": "palette colors",
    "CMYK": "CMYK colors",
    "RGBA": "transparency (composited on white)",
    "LA": "grayscale with transparency (composited on white)",
    "PA": "palette with transparency (composited on white)",
    "I;16": "16-bit grayscale (scaled to 8 bits)",
    "I": "32-bit integer pixels",
    "F": "floating-point pixels",
}
_JPEG_END = b"\xff\xd9"
_TRAILING_PADDING = b"\x00\r\n\t "


@dataclass(frozen=True)
class ScanReport:
    """The problems found in a data folder, and how much was checked."""

    root: Path
    images_checked: int
    annotations_checked: int
    problems: tuple[Problem, ...]
    deep: bool = False

    @property
    def errors(self) -> tuple[Problem, ...]:
        """Problems that make a file unusable."""
        return tuple(problem for problem in self.problems if problem.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        """Problems the loaders work around (the file is still used)."""
        return tuple(problem for problem in self.problems if problem.severity == "warning")

    @property
    def unusable_paths(self) -> frozenset[Path]:
        """Image files the loaders would skip."""
        return frozenset(problem.path for problem in self.errors)

    def counts(self) -> dict[str, int]:
        """Number of problems by kind, most frequent first."""
        return dict(Counter(problem.kind for problem in self.problems).most_common())

    def usable(self, records: Sequence[ImageRecord]) -> list[ImageRecord]:
        """The records whose image file has no error (to pre-filter a pipeline's input)."""
        unusable = self.unusable_paths
        return [record for record in records if record.path not in unusable]

    def to_dict(self) -> dict:
        """A JSON-ready dictionary."""
        return {
            "root": str(self.root),
            "images_checked": self.images_checked,
            "annotations_checked": self.annotations_checked,
            "deep": self.deep,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "counts": self.counts(),
            "problems": [problem.to_dict() for problem in self.problems],
        }

    def to_text(self, max_rows: int = 50) -> str:
        """A verdict, the counts by kind and a table of problems (at most ``max_rows``; 0 for all)."""
        checked = (
            f"{self.images_checked:,} images and {self.annotations_checked:,} annotations checked "
            f"({'deep: every image decoded' if self.deep else 'quick: headers and file ends'}) in {self.root}"
        )
        if not self.problems:
            return f"No problems: {checked}."
        lines = [
            f"{len(self.errors):,} error(s) (files skipped when loading), {len(self.warnings):,} warning(s) "
            f"(files used): {checked}.",
            "",
        ]
        lines += [f"  {kind:<22} {count:>7,}" for kind, count in self.counts().items()]
        rows = sorted(self.problems, key=lambda problem: (problem.severity != "error", problem.kind, problem.path))
        shown = rows if max_rows <= 0 else rows[:max_rows]
        files = [_relative(problem.path, self.root) for problem in shown]
        width = max(len("file"), *(len(file) for file in files))
        kind_width = max(len("kind"), *(len(problem.kind) for problem in shown))
        lines += ["", f"{'severity':<8}  {'kind':<{kind_width}}  {'file':<{width}}  detail"]
        for problem, file in zip(shown, files, strict=True):
            lines.append(f"{problem.severity:<8}  {problem.kind:<{kind_width}}  {file:<{width}}  {problem.detail}")
        if len(rows) > len(shown):
            lines.append(f"... and {len(rows) - len(shown):,} more (show all with --max-rows 0, or use --json)")
        return "\n".join(lines)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def check_image(path: str | os.PathLike, deep: bool = False, min_side: int = MIN_SIDE) -> list[Problem]:
    """The problems of one image file (an empty list when it is a clean RGB image of the right format)."""
    path = Path(path)
    try:
        image = open_image(path, min_side)
    except ImageLoadError as error:
        return [error.to_problem()]
    problems = []
    with image:
        expected = _FORMAT_OF_SUFFIX.get(path.suffix.lower())
        if expected and image.format != expected:
            problems.append(
                Problem(
                    path,
                    "format_mismatch",
                    f"{image.format} data in a {path.suffix} file "
                    "(read by content; tf.io.decode_jpeg would fail on it)",
                )
            )
        if image.mode != "RGB":
            note = _MODE_NOTES.get(image.mode, f"{image.mode} pixels")
            if "transparency" in image.info and image.mode in ("P", "L", "RGB"):
                note += " with transparency (composited on white)"
            problems.append(Problem(path, "color_mode", f"{note}: converted to RGB when loaded"))
        try:
            if deep or (image.format == "JPEG" and not _ends_like_jpeg(path)):
                image.load()
            elif image.format != "JPEG":
                image.verify()
        except Exception as error:  # Pillow raises OSError, SyntaxError, ValueError... on bad data
            problems.append(Problem(path, "corrupt", f"truncated or corrupt image data ({error})", "error"))
    return problems


def _boxes_outside_image(path: Path, boxes: list) -> list[Problem]:
    """The box the loader would crop to ("first" or "largest") lying outside the image: it skips the image."""
    if boxes[0].frame is not None:  # read_boxes already checked them against the annotated size
        return []
    try:
        with open_image(path) as image:
            size = image.size
    except ImageLoadError:
        return []  # reported by the image check
    for choice in CROP_CHOICES:
        try:
            box_pixels(choose_box(boxes, choice), size)
        except AnnotationError as error:
            return [
                Problem(
                    path, "bad_box", f"{error.reason}: the image is skipped when cropped to its {choice} box", "error"
                )
            ]
    return []


def _ends_like_jpeg(path: Path) -> bool:
    """True when the file ends with the JPEG end-of-image marker (trailing padding allowed)."""
    with path.open("rb") as file:
        file.seek(max(0, path.stat().st_size - 64))
        return file.read().rstrip(_TRAILING_PADDING).endswith(_JPEG_END)


def scan(
    data_dir: str | os.PathLike, deep: bool = False, workers: int | None = None, progress: bool = True
) -> ScanReport:
    """Check every image and annotation of a data folder. Raises ``DataDirError`` for a wrong folder."""
    index = discover(data_dir)
    problems = list(index.problems)
    paths = [record.path for record in index.records]
    with ThreadPoolExecutor(workers or min(8, (os.cpu_count() or 1) + 2)) as pool:
        checks = pool.map(lambda path: check_image(path, deep), paths)
        for found in tqdm(checks, total=len(paths), desc="Scanning images", unit="img", disable=not progress):
            problems.extend(found)
    annotated = [record for record in index.records if record.annotation_path]
    for record in tqdm(annotated, desc="Scanning annotations", unit="file", disable=not progress):
        try:
            boxes = read_boxes(record.annotation_path)
        except AnnotationError as error:
            problems.append(
                Problem(record.annotation_path, "bad_annotation", f"{error.reason}; its image is used uncropped")
            )
            continue
        problems.extend(_boxes_outside_image(record.path, boxes))
    annotations = [record.annotation_path for record in annotated]
    return ScanReport(index.root, len(paths), len(annotations), tuple(problems), deep)
