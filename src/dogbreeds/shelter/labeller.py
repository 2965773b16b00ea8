"""``dogbreeds label``: photos and folders in, one CSV row per photo out, resumable.

    summary = label_photos(["intake/2026-12"], "labels.csv")   # the shipped model
    summary.counts   # {"labelled": 812, "ask a human": 97, "not a dog": 12, "unreadable": 1}

- Folders are searched recursively for files with the extension of a format read here
  (``images.IMAGE_FORMATS``; HEIC through pi-heif) or of a raw camera photo
  (``images.RAW_EXTENSIONS``, answered "unreadable" with the reason); the other files are counted by extension
  (``LabelSummary.skipped_formats``). Files named on the command line are always tried.
- A photo is one photo however it is spelled (relative, absolute, ``..``, a symbolic link):
  photos are told apart, and matched with the CSV's rows, by ``os.path.realpath``. The
  CSV's ``file`` column holds the absolute path.
- Photos stream through in batches: the next batch is read from disk while the model
  works on the current one, so memory stays flat however many photos there are.
- After each batch the whole CSV is rewritten through a temporary file and a rename
  (:mod:`dogbreeds.shelter.labels_csv`), so a crash leaves the rows of every finished batch and never
  half a row. A rerun with the same ``--out`` skips every photo already in the CSV, so an
  interrupted run loses nothing and a finished one does nothing. Columns it does not know
  (a person's answers) are kept as they are; a CSV changed by another process during the run (an
  answer saved in the review page) is read again before the next batch is written, under a lock
  (:func:`labels_csv.locked`).
- ``--out`` is checked before the model loads: it must not be an input, its folder must take
  new files, and an existing file must be a labels CSV of the same model (column ``model``).
- A file that is not a usable image gets the status "unreadable" with the reason; it
  never stops the run.
"""

from __future__ import annotations

import csv
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from dogbreeds.data.images import HEIF_EXTENSIONS, IMAGE_FORMATS, RAW_EXTENSIONS
from dogbreeds.shelter.labels_csv import (
    COLUMNS,  # noqa: F401 - the app takes the columns from here, with csv_row
    LabelError,
    LabelsTable,
    check_output,
    escape_name,
    locked,
    neutralise,
    read_labels,
    resolve_cell,
)
from dogbreeds.shelter.model import STATUSES, UNREADABLE, Answer, ShelterModel

DEFAULT_BATCH = 16


@dataclass
class LabelSummary:
    """What a labelling run did: answers by status, photos already in the CSV, files of folders skipped for
    their format (by extension) and notes on the CSV and the file names.
    """

    out: Path
    counts: Counter = field(default_factory=Counter)
    skipped_done: int = 0
    skipped_formats: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def labelled_now(self) -> int:
        return sum(self.counts.values())


def image_extensions() -> frozenset[str]:
    """File extensions (lower case, with the dot) of the image formats read here (``images.IMAGE_FORMATS``),
    of raw camera photos and of HEIC photos (read only with pi-heif; else answered "unreadable").
    """
    readable = {extension for extension, name in Image.registered_extensions().items() if name in IMAGE_FORMATS}
    return frozenset(readable | RAW_EXTENSIONS | HEIF_EXTENSIONS)


def collect_photos(inputs: Sequence[str | os.PathLike], skipped: Counter | None = None) -> list[Path]:
    """Files named in ``inputs`` and image files found (recursively, sorted) in the folders named.

    Each photo comes once, as first spelled, however many paths lead to it (``os.path.realpath``).
    Hidden files and folders (starting with ".") are skipped inside folders; the other files
    found there that are no photo are counted by extension in ``skipped``. A missing input
    raises :class:`LabelError`.
    """
    extensions = image_extensions()
    photos: dict[str, Path] = {}
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = _folder_photos(path, extensions, skipped if skipped is not None else Counter())
        elif path.exists() or path.is_symlink():
            found = [path]
        else:
            raise LabelError(f"{path}: no such file or folder.")
        for photo in found:
            photos.setdefault(os.path.realpath(photo), photo)
    return list(photos.values())


def _folder_photos(folder: Path, extensions: frozenset[str], skipped: Counter) -> list[Path]:
    """The photo files under ``folder``, sorted; the other files' extensions counted in ``skipped``."""
    found = []
    for parent, subfolders, files in os.walk(folder, followlinks=False):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in files:
            extension = Path(name).suffix.lower()
            if name.startswith("."):
                continue
            if extension in extensions:
                found.append(Path(parent) / name)
            else:
                skipped[extension or "(no extension)"] += 1
    return sorted(found)


def csv_row(path: str | os.PathLike, answer: Answer, model: str = "") -> dict[str, str]:
    """The CSV row of one photo's answer (percentages and probabilities as plain numbers), each cell safe for a
    spreadsheet (:func:`labels_csv.neutralise`), a file name that is not UTF-8 escaped (:func:`labels_csv.escape_name`).

    ``model`` is the id of the model that answered (:attr:`ShelterModel.model_id`).
    """
    named = answer.status not in ("not a dog", UNREADABLE)
    row = {
        "file": escape_name(path),
        "status": answer.status,
        "breed": answer.breed if named and answer.breed else "",
        "confidence": f"{answer.confidence:.4f}" if named and answer.breed else "",
        "top_3": "; ".join(f"{breed} ({probability:.1%})" for breed, probability in answer.top),
        "dog_probability": "" if np.isnan(answer.dog_probability) else f"{answer.dog_probability:.4f}",
        "reason": answer.reason,
        "model": model,
    }
    return {column: neutralise(cell) for column, cell in row.items()}


def label_photos(
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    model: ShelterModel | None = None,
    model_dir: str | os.PathLike | None = None,
    batch_size: int = DEFAULT_BATCH,
    progress: bool = True,
    on_batch: Callable[[int], None] | None = None,
) -> LabelSummary:
    """Label every photo of ``inputs`` into the CSV ``out``; photos already there are skipped.

    ``out`` is checked first; then, when there is work, ``model`` is used, or else the model
    of ``model_dir`` (default: the shipped one) is loaded. Raises LabelError, changing nothing,
    when ``out`` cannot be used.
    """
    if batch_size < 1:
        raise LabelError(f"batch_size must be at least 1, got {batch_size}.")
    summary = LabelSummary(Path(out))
    photos = collect_photos(inputs, summary.skipped_formats)
    target = check_output(summary.out, [*map(Path, inputs), *photos])
    saved = _stamp(target)  # before reading: a change from now on makes the batches read it again
    table = read_labels(target, out)
    summary.notes += table.notes
    done = table.done()
    todo = [path for path in photos if os.path.realpath(path) not in done]
    summary.skipped_done = len(photos) - len(todo)
    if not todo:
        return summary
    model = model or ShelterModel.load(model_dir)
    summary.notes += _check_model(table, model.model_id, out)
    escaped = sum(escape_name(path) != os.fspath(path) for path in todo)
    if escaped:
        summary.notes.append(f"{escaped} file names are not valid UTF-8: their other bytes are written as \\xNN")
    start = time.perf_counter()
    with tqdm(total=len(todo), unit="photo", desc="labelling", disable=not progress) as bar:
        for paths, answers in answer_batches(model, todo, batch_size):
            with locked(target):
                if _stamp(target) != saved:  # changed meanwhile (a person's answer in the review page): kept
                    table = read_labels(target, out)
                table.add(
                    csv_row(os.path.abspath(path), answer, model.model_id) for path, answer in zip(paths, answers)
                )
                table.save(target)
                saved = _stamp(target)
            summary.counts.update(answer.status for answer in answers)
            bar.set_postfix(
                {status: summary.counts[status] for status in STATUSES if summary.counts[status]}, refresh=False
            )
            bar.update(len(paths))
            if on_batch is not None:
                on_batch(summary.labelled_now)
    summary.seconds = time.perf_counter() - start
    return summary


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """(inode, size, modification time) of ``path``, to tell whether another process rewrote it; None if absent."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns


def _check_model(table: LabelsTable, model_id: str, out: str | os.PathLike) -> list[str]:
    """Notes on the models of the CSV's rows; LabelError when another model wrote some of them."""
    others = sorted(table.models() - {model_id, ""})
    if others:
        raise LabelError(
            f"{out} holds labels of model {', '.join(others)}, and this run's model is {model_id}; "
            "give a new --out (or the model that wrote it), so that two models' labels are not mixed."
        )
    if "" in table.models():
        return [f"{out} does not say which model wrote its earlier rows; the new rows name model {model_id}"]
    return []


def answer_batches(
    model: ShelterModel, paths: Sequence[Path], batch_size: int
) -> Iterator[tuple[Sequence[Path], list[Answer]]]:
    """(paths, answers) batch by batch; the next batch is read and prepared while the model runs."""
    chunks = [paths[start : start + batch_size] for start in range(0, len(paths), batch_size)]
    with ThreadPoolExecutor(max_workers=1) as reader:
        pending = reader.submit(model.prepare_files, chunks[0])
        for position, chunk in enumerate(chunks):
            views, failures = pending.result()
            if position + 1 < len(chunks):
                pending = reader.submit(model.prepare_files, chunks[position + 1])
            yield chunk, model.answer_prepared(len(chunk), views, failures)


def status_summary(rows: Iterable[dict[str, str]], true_breeds: dict[str, str]) -> pd.DataFrame:
    """Photos, share and accuracy per status of labels CSV rows whose true breed is known.

    ``true_breeds`` maps a photo's path (any spelling) to its readable breed name. Accuracy is the share
    of the status's photos whose best breed (the first of ``top_3``) is the true one.
    """
    table = pd.DataFrame(list(rows))
    if table.empty:
        return pd.DataFrame(columns=["photos", "share", "accuracy"])
    best = table["top_3"].str.split("; ").str[0].str.rsplit(" (", n=1).str[0]
    resolved = {os.path.realpath(name): breed for name, breed in true_breeds.items()}
    table["correct"] = best == table["file"].map(resolve_cell).map(resolved)
    grouped = table.groupby("status")
    summary = pd.DataFrame({"photos": grouped.size(), "accuracy": grouped["correct"].mean()})
    summary.insert(1, "share", summary["photos"] / len(table))
    return summary.reindex([status for status in STATUSES if status in summary.index])


def iter_rows(out: str | os.PathLike) -> Iterable[dict[str, str]]:
    """The rows of a labels CSV."""
    with open(out, newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle)
