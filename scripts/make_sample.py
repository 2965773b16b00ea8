"""Build the bundled sample `data/sample/` from a Stanford Dogs folder.

Usage: python scripts/make_sample.py ../shared/datasets/stanford-dogs-photos10 data/sample

Takes 5 breeds x 30 photos (18 from the official train list, 12 from the test
list, first in sorted order), reduces the short side to 256 px and keeps the
official layout and split lists.
"""

import sys
from pathlib import Path

from PIL import Image

BREEDS = [
    "n02086240-Shih-Tzu",
    "n02088364-beagle",
    "n02099601-golden_retriever",
    "n02111889-Samoyed",
    "n02115641-dingo",
]
PER_SPLIT = {"train": 18, "test": 12}
SHORT_SIDE = 256


def main(source: Path, target: Path) -> None:
    (target / "lists").mkdir(parents=True, exist_ok=True)
    for split, count in PER_SPLIT.items():
        listed = (source / "lists" / f"{split}_list.txt").read_text().split()
        chosen = []
        for breed in BREEDS:
            chosen += sorted(p for p in listed if p.startswith(breed + "/"))[:count]
        for rel in chosen:
            with Image.open(source / "Images" / rel) as image:
                image = image.convert("RGB")
                scale = SHORT_SIDE / min(image.size)
                if scale < 1:
                    size = (round(image.width * scale), round(image.height * scale))
                    image = image.resize(size, Image.Resampling.LANCZOS)
                out = target / "Images" / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                image.save(out, quality=85, optimize=True)
        (target / "lists" / f"{split}_list.txt").write_text("\n".join(chosen) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
