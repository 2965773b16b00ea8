"""Splits: the seeded, stratified train / validation / test split of a data folder, in one splitter.

:func:`split_records` splits image records (official lists first); :func:`official_split` reads
a folder's official train and test lists; :func:`stratified_rows` holds out a stratified share
of rows of an array. All of them carve with :func:`stratified_positions`, so one seed gives one
split whatever the caller.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dogbreeds.core.config import DEFAULT_SEED
from dogbreeds.data.folder import DataError, DataIndex, ImageRecord, discover
from dogbreeds.data.labels import LabelMap

SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test")
"""The three parts of a split, in order."""


class SplitError(DataError):
    """The records cannot be split as asked (too few images per breed, bad fractions)."""


class OfficialListsError(SplitError):
    """A folder lacks the official train/test lists, or one of them is empty."""


@dataclass(frozen=True)
class Split:
    """Train, validation and test records, and how they were made."""

    train: tuple[ImageRecord, ...]
    val: tuple[ImageRecord, ...]
    test: tuple[ImageRecord, ...]
    source: str
    excluded: tuple[ImageRecord, ...] = ()

    def counts(self) -> dict[str, int]:
        """Number of records per split."""
        return {name: len(getattr(self, name)) for name in SPLIT_NAMES}


def split_records(
    records: DataIndex | Sequence[ImageRecord],
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    seed: int = DEFAULT_SEED,
) -> Split:
    """Seeded, stratified train / validation / test split.

    With official lists, test is the official test split (``test_fraction`` is unused) and
    validation is ``val_fraction`` of the official train split; images in no list are left
    out (``Split.excluded``). Without lists, test is ``test_fraction`` of all images and
    validation ``val_fraction`` of the rest.
    """
    if isinstance(records, DataIndex):
        records = records.records
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= value < 1:
            raise SplitError(f"{name} must be in [0, 1), got {value}")
    records = sorted(records, key=_record_order)
    if not records:
        raise SplitError("no records to split")
    if any(record.official_split for record in records):
        test = [record for record in records if record.official_split == "test"]
        pool = [record for record in records if record.official_split == "train"]
        excluded = tuple(record for record in records if record.official_split is None)
        source = "official lists (validation carved from the official train split)"
        if not test:
            pool, test = _stratified(pool, test_fraction, seed, "test")
            source = "official train list (test and validation carved from it)"
    else:
        pool, test = _stratified(records, test_fraction, seed, "test")
        excluded = ()
        source = "seeded stratified split"
    train, val = _stratified(pool, val_fraction, seed, "validation")
    return Split(tuple(train), tuple(val), tuple(test), source, excluded)


def official_split(data_dir: str | os.PathLike) -> tuple[Split, LabelMap]:
    """All images of the official train list (no validation carved yet) and the official test list."""
    index = discover(data_dir)
    if not index.has_official_split:
        raise OfficialListsError(f"{data_dir} has no lists/ folder; the official train/test lists are needed.")
    split = split_records(index, val_fraction=0.0)
    if not split.train or not split.test:
        raise OfficialListsError(
            f"{data_dir}: the official lists give {len(split.train)} train and {len(split.test)} "
            "test images; both must be non-empty."
        )
    return split, LabelMap.from_records(list(split.train) + list(split.test))


def stratified_rows(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of a seeded, stratified (train, validation) split of ``labels``, each sorted."""
    kept, held_out = stratified_positions(labels, fraction, seed, "validation")
    return np.sort(kept), np.sort(held_out)


def stratified_positions(labels: Sequence, fraction: float, seed: int, part: str) -> tuple[np.ndarray, np.ndarray]:
    """Positions (kept, held out) of a seeded split holding out ``fraction`` of each label.

    ``part`` names the held-out share in errors ("test", "validation").
    """
    rows = np.arange(len(labels))
    if fraction == 0 or not len(labels):
        return rows, rows[:0]
    from sklearn.model_selection import train_test_split

    counts = Counter(np.asarray(labels).tolist())
    rarest = min(counts, key=lambda label: (counts[label], str(label)))
    if counts[rarest] < 2:
        raise SplitError(
            f"cannot carve a stratified {part} split: breed {rarest} has only {counts[rarest]} "
            "image in the pool; drop it (select_breeds) or use more data"
        )
    try:
        kept, held_out = train_test_split(rows, test_size=fraction, random_state=seed, stratify=labels)
    except ValueError as error:
        raise SplitError(
            f"cannot carve a stratified {part} split of {fraction:.0%} from {len(labels)} "
            f"images of {len(counts)} breeds: {error}"
        ) from error
    return kept, held_out


def _stratified(
    records: list[ImageRecord], fraction: float, seed: int, part: str
) -> tuple[list[ImageRecord], list[ImageRecord]]:
    kept, held_out = stratified_positions([record.label_id for record in records], fraction, seed, part)
    return (
        sorted((records[i] for i in kept), key=_record_order),
        sorted((records[i] for i in held_out), key=_record_order),
    )


def _record_order(record: ImageRecord) -> tuple[str, str]:
    return record.label_id, str(record.path)
