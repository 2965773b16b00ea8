"""The labels CSV of ``dogbreeds label``: its cells, reading it back for a resume, and rewriting it safely.

- Cells: a file name that is not valid UTF-8 keeps its bytes as ``\\xNN`` escapes
  (:func:`escape_name`, undone by :func:`unescape_name`); a cell that a spreadsheet would
  run as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return)
  gets a leading ``'``, as OWASP's CSV-injection guidance says, and so does a cell that
  already starts with ``'`` so that :func:`restore` can undo it exactly.
- Reading (:func:`read_labels`) checks the header before anything changes: the file must
  hold every column of :data:`COLUMNS` but ``model``; other columns (a person's answers)
  are kept as they are. A last row cut short by a crash is dropped by parsing; a file
  saved as Windows-1252 by a spreadsheet is read as such.
- Writing (:meth:`LabelsTable.save`) replaces the whole file through a temporary file and a
  rename, so a crash leaves the old file or the new one, never half a row.
- A person's answers (``dogbreeds app --review``) go into the columns :data:`REVIEW_COLUMNS`
  through :func:`record_answer`, which rereads the file, changes that photo's row only and
  rewrites it the same way; ``label`` keeps those columns as it keeps any other.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from dogbreeds.core.errors import DogbreedsError
from dogbreeds.core.fileio import write_bytes_atomic, write_temp_file

BASE_COLUMNS = ("file", "status", "breed", "confidence", "top_3", "dog_probability", "reason")
MODEL_COLUMN = "model"
COLUMNS = (*BASE_COLUMNS, MODEL_COLUMN)
REVIEW_COLUMNS = ("checked_by_person", "final_breed", "checked_at")
MIXED_BREED = "mixed or unknown breed"
NOT_A_DOG_ANSWER = "not a dog"
_ANSWERING = threading.Lock()  # in this process, one answer at a time is reread, changed and rewritten
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED_BYTE = re.compile(rb"\\x([89a-f][0-9a-f])")


class LabelError(DogbreedsError, ValueError):
    """Inputs or an output file that ``label`` cannot use (the message says what to do)."""


def neutralise(cell: str) -> str:
    """``cell`` with a leading ``'`` when a spreadsheet would read it as a formula (or it starts with ``'``)."""
    return "'" + cell if cell.startswith((*FORMULA_STARTS, "'")) else cell


def restore(cell: str) -> str:
    """The cell that :func:`neutralise` was given."""
    return cell[1:] if cell.startswith("'") else cell


def escape_name(path: str | os.PathLike) -> str:
    """``path`` as text; bytes that are not UTF-8 become ``\\xNN`` (always 80 to ff)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def unescape_name(name: str) -> str:
    """The path that :func:`escape_name` wrote as ``name``."""
    return os.fsdecode(_ESCAPED_BYTE.sub(lambda match: bytes([int(match[1], 16)]), name.encode("utf-8")))


def resolve_cell(cell: str) -> str:
    """The resolved path (``os.path.realpath``) of the photo a ``file`` cell names."""
    return os.path.realpath(unescape_name(restore(cell)))


@dataclass
class LabelsTable:
    """A labels CSV in memory: its columns, its rows as the file spells them, and what reading it noticed."""

    columns: list[str] = field(default_factory=lambda: list(COLUMNS))
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def cells(self, column: str) -> list[str]:
        """Every row's ``column`` (restored from :func:`neutralise`; empty where the row is short)."""
        position = self.columns.index(column)
        return [restore(row[position]) if position < len(row) else "" for row in self.rows]

    def done(self) -> set[str]:
        """The resolved paths (``os.path.realpath``) of the files that have a row."""
        position = self.columns.index("file")
        return {resolve_cell(row[position]) for row in self.rows if position < len(row)}

    def models(self) -> set[str]:
        """The model ids of the rows ("" for rows written before model ids)."""
        if MODEL_COLUMN not in self.columns:
            return {""} if self.rows else set()
        return set(self.cells(MODEL_COLUMN))

    def add(self, rows: Iterable[dict[str, str]]) -> None:
        """Append rows given as {column: cell}; columns the table lacks are added (empty in the earlier rows)."""
        self.columns += [name for name in COLUMNS if name not in self.columns]
        for row in self.rows:
            row += [""] * (len(self.columns) - len(row))
        self.rows += [[row.get(name, "") for name in self.columns] for row in rows]

    def save(self, path: Path) -> None:
        """Replace ``path`` by the table, atomically. Raises LabelError when it cannot be written."""
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows(self.rows)
        try:
            write_bytes_atomic(path, text.getvalue().encode("utf-8"))
        except OSError as error:
            raise LabelError(f"Cannot write {path}: {error.strerror or error}. Its earlier rows are safe.") from None


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock while the CSV at ``path`` is reread and rewritten, so that ``label`` and the review
    page, in other processes, never rewrite it from a stale copy. The lock is ``flock`` on the CSV's folder
    (the CSV itself is replaced on each write; no lock file is left behind); none where there is no ``fcntl``.
    """
    try:
        import fcntl
    except ImportError:  # Windows: no lock between processes
        yield
        return
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        yield
    finally:
        os.close(folder)  # releases the lock


def check_output(out: Path, inputs: Sequence[Path]) -> Path:
    """The real path to write ``out`` to, after checking it is no input and its folder takes new files."""
    target = Path(os.path.realpath(out))
    if target in {Path(os.path.realpath(path)) for path in inputs}:
        raise LabelError(f"--out {out} is one of the photos or folders to label; give --out a new CSV file name.")
    if target.is_dir():
        raise LabelError(f"--out {out} is a folder; give --out a CSV file name.")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_temp_file(target.parent, f".{target.name}.", b"probe").unlink()
    except OSError as error:
        raise LabelError(
            f"Cannot write --out {out}: {error.strerror or error}; give a path in a folder you can write to."
        ) from None
    return target


def read_labels(
    path: Path, shown: str | os.PathLike, advice: str = "give another --out or move it away"
) -> LabelsTable:
    """The labels CSV at ``path`` (``shown`` names it in messages); an empty table when it does not exist yet.

    Raises LabelError, changing nothing, when the file is not a labels CSV (the message ends with ``advice``).
    """
    if not path.exists():
        return LabelsTable()
    table = LabelsTable(columns=[], notes=[])
    text = _decode(path.read_bytes(), shown, table.notes)
    records = [record for record in csv.reader(io.StringIO(text)) if record]
    if not records:
        return LabelsTable(notes=table.notes)
    table.columns, table.rows = records[0], records[1:]
    missing = [name for name in BASE_COLUMNS if name not in table.columns]
    if missing or len(set(table.columns)) < len(table.columns):
        raise LabelError(f"{shown} exists but is not a labels CSV (columns {table.columns}); {advice}.")
    if table.rows and len(table.rows[-1]) < len(BASE_COLUMNS):
        table.rows.pop()
        table.notes.append(f"the last row of {shown} was cut off (a crash); it is dropped and its photo labelled again")
    return table


def _decode(data: bytes, shown: str | os.PathLike, notes: list[str]) -> str:
    """The CSV's text: UTF-8 (with or without a byte-order mark), else Windows-1252 (a spreadsheet's save)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise LabelError(
            f"{shown} is neither UTF-8 nor Windows-1252 text; save it as 'CSV UTF-8' or give another --out."
        ) from None
    notes.append(f"{shown} was saved as Windows-1252; it is read as such and rewritten as UTF-8")
    return text


def read_finished(path: str | os.PathLike) -> LabelsTable:
    """The finished labels CSV at ``path``, to review; LabelError (one line, nothing changed) when it is missing,
    empty, not a labels CSV, has a row cut short or a row with more cells than its header.
    """
    advice = "give the CSV that `dogbreeds label --out` wrote"
    if not Path(path).is_file():
        raise LabelError(f"{path}: no such file; {advice}.")
    table = read_labels(Path(path), path, advice)
    if not table.rows:
        raise LabelError(f"{path} holds no photos to review; {advice}.")
    if any("cut off" in note for note in table.notes):
        raise LabelError(f"the last row of {path} was cut off (a crash); run the same `dogbreeds label` first.")
    longer = [number for number, row in enumerate(table.rows, 2) if len(row) > len(table.columns)]
    if longer:
        raise LabelError(f"line {longer[0]} of {path} has more cells than its header; fix it in a spreadsheet first.")
    return table


def answer_choices(breed_names: Sequence[str]) -> list[str]:
    """What a person may answer: one of the model's breeds, "mixed or unknown breed" or "not a dog"."""
    return [*breed_names, MIXED_BREED, NOT_A_DOG_ANSWER]


def record_answer(
    path: str | os.PathLike,
    file_cell: str,
    final_breed: str,
    *,
    choices: Sequence[str] | None = None,
    when: datetime | None = None,
) -> dict[str, str]:
    """Write a person's answer for the photo whose ``file`` cell is ``file_cell`` into the CSV at ``path``.

    The file is read again (rows added since the page opened are kept), that photo's row (rows, if an old
    version wrote it twice) gets ``checked_by_person`` = yes, ``final_breed`` and ``checked_at`` (ISO time,
    UTC), every other row and cell stays as it is (rows shorter than the header get empty cells), and the whole
    file is replaced atomically. Returns the cells written. LabelError, changing nothing, when ``final_breed`` is
    not one of ``choices`` (when given), the file is no longer a labels CSV or no longer holds the photo.
    """
    if choices is not None and final_breed not in choices:
        raise LabelError(f"{final_breed!r} is not a breed of the model, {MIXED_BREED!r} or {NOT_A_DOG_ANSWER!r}.")
    when = when or datetime.now(UTC)
    answer = {
        "checked_by_person": "yes",
        "final_breed": final_breed,
        "checked_at": when.astimezone(UTC).isoformat(timespec="seconds"),
    }
    with _ANSWERING, locked(Path(path)):
        table = read_finished(path)
        position = table.columns.index("file")
        matches = [row for row in table.rows if position < len(row) and row[position] == file_cell]
        if not matches:
            raise LabelError(f"{path} no longer holds a row for {restore(file_cell)}; reload the page.")
        table.columns += [name for name in REVIEW_COLUMNS if name not in table.columns]
        for row in table.rows:
            row += [""] * (len(table.columns) - len(row))
        for row in matches:
            for name, cell in answer.items():
                row[table.columns.index(name)] = neutralise(cell)
        table.save(Path(path))
    return answer
