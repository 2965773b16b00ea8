"""What a data folder holds, counted without opening an image: breeds, photos, official split, annotations."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import asdict, dataclass

from dogbreeds.data.folder import SPLITS, DataIndex, breed_name


@dataclass(frozen=True)
class BreedCount:
    """Images of one breed, in all and per official split."""

    label_id: str
    name: str
    images: int
    train: int
    test: int


@dataclass(frozen=True)
class DataSummary:
    """Counts describing a data folder (made without opening any image)."""

    root: str
    breeds: int
    images: int
    per_breed: tuple[BreedCount, ...]
    official_split: dict[str, int] | None
    list_files: tuple[str, ...]
    unlisted: int
    annotated: int
    has_annotations: bool
    problems: dict[str, int]

    def to_dict(self) -> dict:
        """A JSON-ready dictionary."""
        return asdict(self)

    def to_text(self) -> str:
        """A readable report with thousands separators and a per-breed table."""
        lines = [
            f"Data folder      {self.root}",
            f"Breeds           {self.breeds:,}",
            f"Images           {self.images:,}",
        ]
        if self.official_split is None:
            lines.append("Official split   none (no lists/ folder): splits are seeded and stratified")
        else:
            lines.append(
                f"Official split   train {self.official_split['train']:,}, "
                f"test {self.official_split['test']:,} (from {', '.join(self.list_files)})"
            )
            lines.append(f"In no list       {self.unlisted:,}" + (" (not used in splits)" if self.unlisted else ""))
        if self.has_annotations:
            lines.append(f"Annotations      {self.annotated:,} of {self.images:,} images have boxes")
        else:
            lines.append("Annotations      none (no Annotation/ folder): images are used uncropped")
        counts = [breed.images for breed in self.per_breed]
        fewest = min(self.per_breed, key=lambda breed: breed.images)
        most = max(self.per_breed, key=lambda breed: breed.images)
        if fewest.images == most.images:
            lines.append(f"Images a breed   {most.images:,} each")
        else:
            lines.append(
                f"Images a breed   min {fewest.images:,} ({fewest.name}), median "
                f"{statistics.median(counts):,g}, max {most.images:,} ({most.name})"
            )
        if self.problems:
            found = ", ".join(f"{kind} {count:,}" for kind, count in sorted(self.problems.items()))
            lines.append(f"Problems         {found} (details: dogbreeds data scan)")
        width = max(len(breed.label_id) for breed in self.per_breed)
        name_width = max(len(breed.name) for breed in self.per_breed)
        lines += ["", f"{'label id':<{width}}  {'breed':<{name_width}}  {'images':>6}  {'train':>6}  {'test':>6}"]
        for breed in self.per_breed:
            lines.append(
                f"{breed.label_id:<{width}}  {breed.name:<{name_width}}  {breed.images:>6,}  "
                f"{breed.train:>6,}  {breed.test:>6,}"
            )
        return "\n".join(lines)


def summarize(index: DataIndex) -> DataSummary:
    """Breeds, images, per-breed and official split counts, annotations and problems of an index."""
    images = Counter(record.label_id for record in index.records)
    by_split = Counter((record.label_id, record.official_split) for record in index.records)
    per_breed = [
        BreedCount(
            label_id, breed_name(label_id), images[label_id], by_split[label_id, "train"], by_split[label_id, "test"]
        )
        for label_id in index.label_ids
    ]
    splits = Counter(record.official_split for record in index.records)
    root = index.root.resolve()
    return DataSummary(
        root=str(root),
        breeds=len(per_breed),
        images=len(index.records),
        per_breed=tuple(per_breed),
        official_split={split: splits[split] for split in SPLITS} if index.has_official_split else None,
        list_files=tuple(str(path.resolve().relative_to(root)) for path in index.list_files),
        unlisted=len(index.unlisted),
        annotated=sum(record.annotation_path is not None for record in index.records),
        has_annotations=index.annotations_dir is not None,
        problems=dict(Counter(problem.kind for problem in index.problems)),
    )
