"""``dogbreeds label``: photos and folders in, one CSV row per photo out, resumable.

    summary = label_photos(["intake/2026-12"], "labels.csv")   # the shipped model
    summary.counts   # {"labelled": 812, "ask a human": 97, "not a dog": 12, "unreadable": 1}

- Folders are searched recursively for files with the extension of a format read here
  (``images.IMAGE_FORMATS``); files named on the command line are always tried.
- Photos stream through in batches: the next batch is read from disk while the model
  works on the current one, so memory stays flat however many photos there are.
- Each batch's rows are appended and flushed to disk before the next batch starts. A
  rerun with the same ``--out`` skips every file already in the CSV, so an interrupted
  run loses nothing and a finished one does nothing. A half-written last line (power
  cut) is dropped on the rerun, so the CSV stays valid.
- A file that is not a usable image gets the status "unreadable" with the reason; it
  never stops the run.
"""

from __future__ import annotations

import csv
import io
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

from dogbreeds.core.errors import DogbreedsError
from dogbreeds.data.images import IMAGE_FORMATS
from dogbreeds.shelter.model import STATUSES, UNREADABLE, Answer, ShelterModel

COLUMNS = ("file", "status", "breed", "confidence", "top_3", "dog_probability", "reason")
DEFAULT_BATCH = 16


class LabelError(DogbreedsError, ValueError):
    """Inputs or an output file that ``label`` cannot use (the message says what to do)."""


@dataclass
class LabelSummary:
    """What a labelling run did."""

    out: Path
    counts: Counter = field(default_factory=Counter)
    skipped_done: int = 0
    seconds: float = 0.0

    @property
    def labelled_now(self) -> int:
        return sum(self.counts.values())


def image_extensions() -> frozenset[str]:
    """File extensions (lower case, with the dot) of the image formats read here (``images.IMAGE_FORMATS``)."""
    return frozenset(extension for extension, name in Image.registered_extensions().items() if name in IMAGE_FORMATS)


def collect_photos(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    """Files named in ``inputs`` and image files found (recursively, sorted) in the folders named.

    Hidden files and folders (starting with ".") are skipped inside folders. A missing
    input raises :class:`LabelError`.
    """
    extensions = image_extensions()
    photos: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = []
            for folder, subfolders, files in os.walk(path, followlinks=False):
                subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
                found += [
                    Path(folder) / name
                    for name in files
                    if not name.startswith(".") and Path(name).suffix.lower() in extensions
                ]
            photos += sorted(found)
        elif path.exists() or path.is_symlink():
            photos.append(path)
        else:
            raise LabelError(f"{path}: no such file or folder.")
    return list(dict.fromkeys(photos))


def csv_row(path: str | os.PathLike, answer: Answer) -> dict[str, str]:
    """The CSV row of one photo's answer (percentages and probabilities as plain numbers)."""
    named = answer.status not in ("not a dog", UNREADABLE)
    return {
        "file": str(path),
        "status": answer.status,
        "breed": answer.breed if named and answer.breed else "",
        "confidence": f"{answer.confidence:.4f}" if named and answer.breed else "",
        "top_3": "; ".join(f"{breed} ({probability:.1%})" for breed, probability in answer.top),
        "dog_probability": "" if np.isnan(answer.dog_probability) else f"{answer.dog_probability:.4f}",
        "reason": answer.reason,
    }


def read_done(out: Path) -> set[str]:
    """Files already in the CSV ``out``; drops a half-written last line. Raises LabelError on a foreign file."""
    if not out.exists():
        return set()
    if not out.is_file():
        raise LabelError(f"{out} is not a file; give --out a CSV file name.")
    data = out.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with open(out, "r+b") as handle:
            handle.truncate(cut)
        data = data[:cut]
    if not data:
        return set()
    reader = csv.DictReader(io.StringIO(data.decode("utf-8")))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise LabelError(
            f"{out} exists but is not a labels CSV (columns {reader.fieldnames}); give another --out or move it away."
        )
    return {row["file"] for row in reader}


def label_photos(
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    model: ShelterModel | None = None,
    batch_size: int = DEFAULT_BATCH,
    progress: bool = True,
    on_batch: Callable[[int], None] | None = None,
) -> LabelSummary:
    """Label every photo of ``inputs`` into the CSV ``out`` (appending; files already there are skipped)."""
    if batch_size < 1:
        raise LabelError(f"batch_size must be at least 1, got {batch_size}.")
    out = Path(out)
    photos = collect_photos(inputs)
    done = read_done(out)
    todo = [path for path in photos if str(path) not in done]
    summary = LabelSummary(out, skipped_done=len(photos) - len(todo))
    if not todo:
        return summary
    model = model or ShelterModel.load()
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    new_file = not out.exists() or out.stat().st_size == 0
    with (
        open(out, "a", newline="", encoding="utf-8") as handle,
        tqdm(total=len(todo), unit="photo", desc="labelling", disable=not progress) as bar,
    ):
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        if new_file:
            writer.writeheader()
            _flush(handle)
        for paths, answers in answer_batches(model, todo, batch_size):
            for path, answer in zip(paths, answers):
                writer.writerow(csv_row(path, answer))
                summary.counts[answer.status] += 1
            _flush(handle)
            bar.set_postfix(
                {status: summary.counts[status] for status in STATUSES if summary.counts[status]}, refresh=False
            )
            bar.update(len(paths))
            if on_batch is not None:
                on_batch(summary.labelled_now)
    summary.seconds = time.perf_counter() - start
    return summary


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


def _flush(handle: io.TextIOBase) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def status_summary(rows: Iterable[dict[str, str]], true_breeds: dict[str, str]) -> pd.DataFrame:
    """Photos, share and accuracy per status of labels CSV rows whose true breed is known.

    ``true_breeds`` maps a row's ``file`` to its readable breed name. Accuracy is the share
    of the status's photos whose best breed (the first of ``top_3``) is the true one.
    """
    table = pd.DataFrame(list(rows))
    if table.empty:
        return pd.DataFrame(columns=["photos", "share", "accuracy"])
    best = table["top_3"].str.split("; ").str[0].str.rsplit(" (", n=1).str[0]
    table["correct"] = best == table["file"].map(true_breeds)
    grouped = table.groupby("status")
    summary = pd.DataFrame({"photos": grouped.size(), "accuracy": grouped["correct"].mean()})
    summary.insert(1, "share", summary["photos"] / len(table))
    return summary.reindex([status for status in STATUSES if status in summary.index])


def iter_rows(out: str | os.PathLike) -> Iterable[dict[str, str]]:
    """The rows of a labels CSV."""
    with open(out, newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle)
