"""Class labels: the label map from breed folder names (label ids) to the integers a model predicts."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dogbreeds.core.errors import DogbreedsError
from dogbreeds.core.fileio import loads_strict_json, write_bytes_atomic
from dogbreeds.data.folder import ImageRecord, breed_name

LABEL_MAP_FORMAT = 1


class LabelMapError(DogbreedsError, ValueError):
    """A label map file is unreadable, or a label id is not in the map."""


@dataclass(frozen=True)
class LabelMap:
    """Ordered label ids (breed folder names); a label's integer id is its position."""

    label_ids: tuple[str, ...]
    _positions: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "label_ids", tuple(self.label_ids))
        if not self.label_ids:
            raise LabelMapError("a label map needs at least one label id")
        duplicates = sorted(label_id for label_id, count in Counter(self.label_ids).items() if count > 1)
        if duplicates:
            raise LabelMapError(f"duplicate label ids: {', '.join(duplicates)}")
        object.__setattr__(self, "_positions", {label_id: position for position, label_id in enumerate(self.label_ids)})

    @classmethod
    def from_records(cls, records: Sequence[ImageRecord]) -> LabelMap:
        """The sorted label ids of the records."""
        return cls(tuple(sorted({record.label_id for record in records})))

    @property
    def names(self) -> tuple[str, ...]:
        """Readable breed names, in label order."""
        return tuple(breed_name(label_id) for label_id in self.label_ids)

    def __len__(self) -> int:
        return len(self.label_ids)

    def encode(self, label_id: str) -> int:
        """The integer id of a label id. Raises ``LabelMapError`` for an unknown one."""
        try:
            return self._positions[label_id]
        except KeyError:
            raise LabelMapError(
                f"label id {label_id!r} is not in the label map ({len(self)} breeds, "
                f"e.g. {self.label_ids[0]!r}); build the map from the same breeds"
            ) from None

    def decode(self, index: int) -> str:
        """The label id of an integer id."""
        if not 0 <= index < len(self):
            raise LabelMapError(f"label index {index} is out of range 0..{len(self) - 1}")
        return self.label_ids[int(index)]

    def name(self, index: int) -> str:
        """The readable breed name of an integer id."""
        return breed_name(self.decode(index))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the map as JSON, atomically (a temporary file renamed over the target)."""
        path = Path(path)
        content = json.dumps(
            {"format": LABEL_MAP_FORMAT, "label_ids": list(self.label_ids), "names": list(self.names)}, indent=2
        )
        write_bytes_atomic(path, (content + "\n").encode("utf-8"))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> LabelMap:
        """Read a map written by ``save``. Raises ``LabelMapError``."""
        path = Path(path)
        try:
            content = loads_strict_json(path.read_bytes())
        except (OSError, ValueError) as error:
            raise LabelMapError(f"cannot read the label map {path}: {error}") from None
        label_ids = content.get("label_ids") if isinstance(content, dict) else None
        if not isinstance(label_ids, list) or not all(isinstance(label_id, str) for label_id in label_ids):
            raise LabelMapError(f"{path} is not a label map (it needs a 'label_ids' list of strings)")
        return cls(tuple(label_ids))
