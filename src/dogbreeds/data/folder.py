"""The Stanford Dogs folder: discovery, breed names and selection, splits (boxes: ``boxes``; counts: ``summary``).

Reads the official layout without opening any image:

    DATA_DIR/Images/<wnid>-<Breed>/<file>.jpg           required
    DATA_DIR/Annotation/<wnid>-<Breed>/<file stem>      optional PASCAL VOC boxes
    DATA_DIR/lists/{train,test}_list.{txt,mat}          optional official split

The folder name (``n02085620-Chihuahua``) is the stable label id; ``breed_name`` turns it
into a readable name (``Chihuahua``). Anything odd found on the way (an empty breed
folder, a stray file, a list entry with no image) is kept as a ``Problem``, never dropped
silently.
"""

from __future__ import annotations

import difflib
import os
import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from dogbreeds.core.config import DATA_DIR_ENV
from dogbreeds.core.errors import DogbreedsError

IMAGES_DIRNAME = "Images"
ANNOTATION_DIRNAME = "Annotation"
LISTS_DIRNAME = "lists"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"})
SPLITS = ("train", "test")
CROP_CHOICES = ("first", "largest")

_WNID_FOLDER = re.compile(r"^n\d{8}-(?P<name>.+)$")

Severity = Literal["error", "warning"]
CropChoice = Literal["first", "largest"]


class DataError(DogbreedsError):
    """Base class of the data layer's errors (the command line turns them into exit code 2)."""


class DataDirError(DataError):
    """The data folder is missing or is not in the Stanford Dogs layout."""


class SplitListError(DataError):
    """An official split list (``lists/*_list.txt`` or ``.mat``) cannot be read."""


class BreedSelectionError(DataError):
    """A breed selection names an unknown breed or asks for an impossible number of breeds."""


class AnnotationError(DataError):
    """A PASCAL VOC annotation is malformed, or its box cannot be used on the image."""

    def __init__(self, reason: str, path: Path | None = None) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.reason = reason
        self.path = path


@dataclass(frozen=True)
class Problem:
    """Something wrong with one file. ``error``: the file cannot be used; ``warning``: it is used, with a caveat."""

    path: Path
    kind: str
    detail: str
    severity: Severity = "warning"

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready dictionary."""
        return {"path": str(self.path), "kind": self.kind, "detail": self.detail, "severity": self.severity}


class ProblemLog:
    """A thread-safe, de-duplicated collection of problems found while loading (e.g. by a tf.data pipeline)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._problems: dict[tuple[Path, str], Problem] = {}

    def add(self, problem: Problem) -> bool:
        """Record a problem; False when the same file already had a problem of this kind."""
        key = (problem.path, problem.kind)
        with self._lock:
            if key in self._problems:
                return False
            self._problems[key] = problem
            return True

    @property
    def problems(self) -> list[Problem]:
        """All problems, in the order they were found."""
        with self._lock:
            return list(self._problems.values())

    @property
    def skipped(self) -> list[Problem]:
        """The problems that made a file unusable (severity ``error``)."""
        return [problem for problem in self.problems if problem.severity == "error"]

    def counts(self) -> dict[str, int]:
        """Number of problems by kind."""
        return dict(Counter(problem.kind for problem in self.problems))

    def __len__(self) -> int:
        with self._lock:
            return len(self._problems)


def breed_name(label_id: str) -> str:
    """Readable breed name of a folder name: ``n02106662-German_shepherd`` -> ``German shepherd``."""
    match = _WNID_FOLDER.match(label_id)
    name = match.group("name") if match else label_id
    return name.replace("_", " ")


@dataclass(frozen=True)
class ImageRecord:
    """One image: its file, its label id (breed folder name), its official split and annotation file."""

    path: Path
    label_id: str
    official_split: Literal["train", "test"] | None = None
    annotation_path: Path | None = None

    @property
    def breed(self) -> str:
        """Readable breed name."""
        return breed_name(self.label_id)

    @property
    def relative_path(self) -> str:
        """The path as the official lists write it: ``<label id>/<file name>``."""
        return f"{self.label_id}/{self.path.name}"


@dataclass(frozen=True)
class DataIndex:
    """What ``discover`` found in a data folder."""

    root: Path
    records: tuple[ImageRecord, ...]
    annotations_dir: Path | None
    list_files: tuple[Path, ...]
    problems: tuple[Problem, ...] = ()

    @property
    def images_dir(self) -> Path:
        """The ``Images/`` folder."""
        return self.root / IMAGES_DIRNAME

    @property
    def label_ids(self) -> tuple[str, ...]:
        """Sorted label ids of the breeds that have images."""
        return tuple(sorted({record.label_id for record in self.records}))

    @property
    def has_official_split(self) -> bool:
        """True when at least one official list was found."""
        return bool(self.list_files)

    @property
    def unlisted(self) -> tuple[ImageRecord, ...]:
        """Images on disk that no official list names (empty when there are no lists)."""
        if not self.has_official_split:
            return ()
        return tuple(record for record in self.records if record.official_split is None)


def discover(data_dir: str | os.PathLike) -> DataIndex:
    """Index a Stanford Dogs folder (no image is opened). Raises ``DataDirError`` or ``SplitListError``."""
    root = Path(data_dir).expanduser().absolute()
    images_dir = _check_layout(root)
    problems: list[Problem] = []
    files_by_label: dict[str, list[Path]] = {}
    for entry in _scan_dir(images_dir):
        kind = _entry_kind(entry)
        if kind is None:
            problems.append(_unfollowable(Path(entry.path)))
        elif kind == "dir":
            files = _breed_images(Path(entry.path), problems)
            if files:
                files_by_label[entry.name] = files
            else:
                problems.append(
                    Problem(Path(entry.path), "empty_breed_folder", "breed folder has no image files: breed left out")
                )
        else:
            problems.append(
                Problem(
                    Path(entry.path),
                    "unexpected_file",
                    f"file directly in {IMAGES_DIRNAME}/ (images belong in a breed folder): ignored",
                )
            )
    if not files_by_label:
        raise DataDirError(
            f"{images_dir} has no breed folder with images; expected "
            f"{IMAGES_DIRNAME}/<wnid>-<Breed>/<file>.jpg (e.g. n02085620-Chihuahua/n02085620_5927.jpg)"
        )

    list_files, split_of, in_both = _read_official_lists(root)
    problems += [
        Problem(images_dir / relative, "listed_twice", "named in both the train and the test list: used as test only")
        for relative in in_both
    ]
    annotations_dir = root / ANNOTATION_DIRNAME if (root / ANNOTATION_DIRNAME).is_dir() else None
    records = []
    for label_id in sorted(files_by_label):
        annotation_names = _annotation_names(annotations_dir, label_id) if annotations_dir else set()
        for path in files_by_label[label_id]:
            relative = f"{label_id}/{path.name}"
            annotation = None
            if path.stem in annotation_names:
                annotation = annotations_dir / label_id / path.stem
            elif annotations_dir is not None:
                problems.append(Problem(path, "missing_annotation", "no annotation file: image used uncropped"))
            records.append(ImageRecord(path, label_id, split_of.pop(relative, None), annotation))
    for relative in sorted(split_of):
        problems.append(
            Problem(
                images_dir / relative,
                "missing_listed_file",
                f"named in the official {split_of[relative]} list but not on disk",
            )
        )
    return DataIndex(root, tuple(records), annotations_dir, tuple(list_files), tuple(problems))


def _check_layout(root: Path) -> Path:
    hint = f"Pass --data-dir DIR or set ${DATA_DIR_ENV} to a folder holding {IMAGES_DIRNAME}/<wnid>-<Breed>/*.jpg."
    if not root.exists():
        raise DataDirError(f"data folder {root} does not exist. {hint}")
    if not root.is_dir():
        raise DataDirError(f"data folder {root} is not a folder. {hint}")
    images_dir = root / IMAGES_DIRNAME
    if images_dir.is_dir():
        return images_dir
    if root.name == IMAGES_DIRNAME:
        raise DataDirError(f"{root} is the {IMAGES_DIRNAME}/ folder itself: pass its parent folder, {root.parent}")
    if any(_WNID_FOLDER.match(entry.name) and _entry_kind(entry) == "dir" for entry in _scan_dir(root)):
        raise DataDirError(f"{root} holds breed folders directly; move them into {root / IMAGES_DIRNAME}/")
    raise DataDirError(f"{root} has no {IMAGES_DIRNAME}/ folder. {hint}")


def _entry_kind(entry: os.DirEntry) -> str | None:
    """The kind of ``entry``: "dir", "file", "other", or None if it cannot be followed (a loop or dangling link)."""
    try:
        return "dir" if entry.is_dir() else "file" if entry.is_file() else "other"
    except OSError:
        return None


def _unfollowable(path: Path) -> Problem:
    return Problem(path, "unreadable_entry", "cannot be followed (a symbolic link loop or a broken link): ignored")


def _scan_dir(folder: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as entries:
            return sorted(entries, key=lambda entry: entry.name)
    except OSError as error:
        raise DataDirError(f"cannot list {folder}: {error.strerror or error}") from error


def _breed_images(folder: Path, problems: list[Problem]) -> list[Path]:
    images = []
    for entry in _scan_dir(folder):
        path = Path(entry.path)
        kind = _entry_kind(entry)
        if kind is None:
            problems.append(_unfollowable(path))
        elif kind == "file" and path.suffix.lower() in IMAGE_SUFFIXES:
            images.append(path)
        else:
            what = "folder" if kind == "dir" else "file"
            problems.append(
                Problem(
                    path,
                    "unexpected_file",
                    f"{what} with no image extension ({', '.join(sorted(IMAGE_SUFFIXES))}): ignored",
                )
            )
    return images


def _annotation_names(annotations_dir: Path, label_id: str) -> set[str]:
    folder = annotations_dir / label_id
    if not folder.is_dir():
        return set()
    return {entry.name for entry in _scan_dir(folder) if _entry_kind(entry) == "file"}


def _read_official_lists(root: Path) -> tuple[list[Path], dict[str, str], list[str]]:
    """The list files used (``.txt`` preferred over ``.mat``), each listed path's split, and paths in both lists."""
    lists_dir = root / LISTS_DIRNAME
    used: list[Path] = []
    split_of: dict[str, str] = {}
    in_both: list[str] = []
    for split in SPLITS:
        for reader, suffix in ((_read_txt_list, ".txt"), (_read_mat_list, ".mat")):
            path = lists_dir / f"{split}_list{suffix}"
            if path.is_file():
                used.append(path)
                for relative in reader(path):
                    if split_of.get(relative, split) != split:
                        in_both.append(relative)
                    split_of[relative] = split  # test is read last: a file in both lists is never trained on
                break
    return used, split_of, in_both


def _normalize_list_entry(entry: str) -> str:
    entry = entry.strip().replace("\\", "/")
    entry = entry.removeprefix("./")
    return entry.removeprefix(f"{IMAGES_DIRNAME}/")


def _read_txt_list(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise SplitListError(f"cannot read the split list {path}: {error}") from error
    return [_normalize_list_entry(line) for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _read_mat_list(path: Path) -> list[str]:
    import numpy as np
    from scipy.io import loadmat

    try:
        contents = loadmat(path)
    except Exception as error:  # scipy raises ValueError, TypeError, OSError... on a damaged file
        raise SplitListError(f"cannot read the MATLAB split list {path}: {error}") from error
    if "file_list" not in contents:
        found = ", ".join(key for key in contents if not key.startswith("__")) or "nothing"
        raise SplitListError(
            f"{path} has no 'file_list' cell array (found: {found}); is it an official Stanford Dogs list?"
        )
    entries = []
    for cell in np.asarray(contents["file_list"], dtype=object).ravel():
        value = cell
        while isinstance(value, np.ndarray):
            value = value.ravel()[0] if value.size else ""
        if str(value).strip():
            entries.append(_normalize_list_entry(str(value)))
    return entries


def select_breeds(records: Sequence[ImageRecord], breeds: int | Sequence[str] | None = None) -> list[ImageRecord]:
    """Records of the chosen breeds: all (None), the N most represented, or a list of ids or names."""
    counts = Counter(record.label_id for record in records)
    if breeds is None:
        return list(records)
    if isinstance(breeds, int):
        if not 1 <= breeds <= len(counts):
            raise BreedSelectionError(f"cannot select {breeds} breeds: choose between 1 and {len(counts)}")
        ranked = sorted(counts, key=lambda label_id: (-counts[label_id], breed_name(label_id).casefold(), label_id))
        chosen = set(ranked[:breeds])
    else:
        if isinstance(breeds, str):
            breeds = [breeds]
        chosen = {_match_breed(name, counts) for name in breeds}
    return [record for record in records if record.label_id in chosen]


def _breed_key(text: str) -> str:
    return text.strip().replace("_", " ").casefold()


def _match_breed(name: str, label_ids: Iterable[str]) -> str:
    """The label id that a folder name, a wnid or a readable name (any case, ``_`` or space) designates."""
    by_key: dict[str, str] = {}
    for label_id in label_ids:
        for alias in (label_id, breed_name(label_id), label_id.split("-", 1)[0]):
            by_key[_breed_key(alias)] = label_id
    if _breed_key(name) in by_key:
        return by_key[_breed_key(name)]
    close = difflib.get_close_matches(_breed_key(name), list(by_key), n=5, cutoff=0.6)
    suggestions = list(dict.fromkeys(breed_name(by_key[key]) for key in close))
    if suggestions:
        hint = f"did you mean: {', '.join(suggestions)}?"
    else:
        names = sorted({breed_name(label_id) for label_id in by_key.values()}, key=str.casefold)
        hint = f"known breeds: {', '.join(names[:10])}" + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    raise BreedSelectionError(f"unknown breed {name!r}; {hint}")
