"""Photos that do not come from ImageNet, for measuring the shelter's model where it lives.

``oxford-pet-dogs/`` (Oxford-IIIT Pet dogs) has a ``labels.csv`` with ``path``,
``oxford_breed``, ``stanford_folder`` (empty for the breeds Stanford Dogs does not
have) and ``source_split`` (``dev_images`` or ``test_images``). It is split once by
``source_split``: ``dev_images`` is the *choosing* half (thresholds are chosen on it),
``test_images`` the *reporting* half (only ever measured).

``not-dogs/`` (cats and objects) has a ``labels.csv`` with ``path``, ``kind`` and
``source_class``; :func:`not_dog_parts` splits it once, seeded and stratified by kind,
into a choosing and a reporting half in the same way.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dogbreeds.core.config import DEFAULT_SEED
from dogbreeds.data.folder import DataError
from dogbreeds.data.splits import stratified_positions

LABELS_FILE = "labels.csv"
CHOOSING = "choosing"
REPORTING = "reporting"
HALVES = (CHOOSING, REPORTING)
SOURCE_SPLITS = {"dev_images": CHOOSING, "test_images": REPORTING}
"""Oxford-IIIT Pet's own split -> the part of the shelter's measurement it becomes."""

ACCEPTED_STAND_INS = {"american_pit_bull_terrier": "n02093428-American_Staffordshire_terrier"}
"""Unknown breeds whose closest Stanford breed counts as a right answer (the data's README says so)."""


@dataclass(frozen=True)
class PetPhoto:
    """One labelled photo: where it is, what it is, which part it belongs to.

    ``stanford_folder`` is the photo's Stanford Dogs breed ("" for a dog of a breed the
    120 do not hold, and for a photo that is not a dog); ``accepted`` the breed folder
    that counts as a right answer ("" when none does); ``kind`` is "dog", "cat", "object".
    """

    path: Path
    breed: str
    stanford_folder: str
    part: str
    kind: str = "dog"

    @property
    def known_breed(self) -> bool:
        return bool(self.stanford_folder)

    @property
    def accepted(self) -> str:
        return self.stanford_folder or ACCEPTED_STAND_INS.get(self.breed, "")


def _read_rows(folder: Path, columns: Sequence[str]) -> list[dict[str, str]]:
    path = folder / LABELS_FILE
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as error:
        raise DataError(f"Cannot read {path}: {error.strerror or error}") from error
    missing = [column for column in columns if rows and column not in rows[0]]
    if not rows or missing:
        raise DataError(f"{path} has no rows or lacks the columns {missing}.")
    return rows


def read_pet_dogs(folder: str | os.PathLike) -> list[PetPhoto]:
    """The dog photos of an ``oxford-pet-dogs`` folder, in the order of its ``labels.csv``."""
    folder = Path(folder)
    photos = []
    for row in _read_rows(folder, ("path", "oxford_breed", "stanford_folder", "source_split")):
        if row["source_split"] not in SOURCE_SPLITS:
            raise DataError(f"{folder / LABELS_FILE}: unknown source_split {row['source_split']!r} for {row['path']}.")
        photos.append(
            PetPhoto(
                folder / row["path"], row["oxford_breed"], row["stanford_folder"], SOURCE_SPLITS[row["source_split"]]
            )
        )
    return photos


def read_not_dogs(folder: str | os.PathLike, seed: int = DEFAULT_SEED) -> list[PetPhoto]:
    """The photos of a ``not-dogs`` folder sorted by path, each in the choosing or reporting half
    (seeded, half of each kind).
    """
    folder = Path(folder)
    rows = sorted(_read_rows(folder, ("path", "kind", "source_class")), key=lambda row: folder / row["path"])
    kinds = [row["kind"] for row in rows]
    _, reporting = stratified_positions(kinds, 0.5, seed, "reporting")
    reporting_rows = set(reporting.tolist())
    return [
        PetPhoto(
            folder / row["path"],
            row["source_class"],
            "",
            REPORTING if position in reporting_rows else CHOOSING,
            row["kind"],
        )
        for position, row in enumerate(rows)
    ]


def part_of(photos: Sequence[PetPhoto], part: str) -> list[PetPhoto]:
    """The photos of one part ("choosing" or "reporting")."""
    if part not in HALVES:
        raise DataError(f"Unknown part {part!r}; choose among {', '.join(HALVES)}.")
    return [photo for photo in photos if photo.part == part]
