"""Shared fixtures: small synthetic Stanford Dogs folders in the official layout, and real-data paths."""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dogbreeds.core.config import REPO_ROOT, SAMPLE_DATA_DIR

SHARED_DATASETS = REPO_ROOT.parent / "shared" / "datasets"

SYNTHETIC_BREEDS = {
    "n02085620-Chihuahua": 6,
    "n02086240-Shih-Tzu": 6,
    "n02106662-German_shepherd": 6,
}
"""Label id -> number of images of the default synthetic folder (every third image is official test)."""

BREED_COLORS = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40), (40, 200, 200), (200, 40, 200)]


def write_image(
    path: Path,
    size: tuple[int, int] = (48, 40),
    color: Sequence[int] = (200, 120, 40),
    mode: str = "RGB",
    image_format: str = "JPEG",
    seed: int = 0,
) -> Path:
    """Write a small noisy image of one color (size is width, height) and return its path."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.asarray(color, dtype=np.int16) + rng.integers(-20, 21, (size[1], size[0], 3)), 0, 255)
    image = Image.fromarray(pixels.astype(np.uint8)).convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format=image_format)
    return path


def write_voc(
    path: Path, boxes: Sequence[tuple[int, int, int, int]], size: tuple[int, int] = (48, 40), name: str = "dog"
) -> Path:
    """Write a PASCAL VOC annotation (no extension, as Stanford Dogs does) with these (xmin, ymin, xmax, ymax)."""
    objects = "".join(
        f"<object><name>{name}</name><bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin>"
        f"<xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox></object>"
        for xmin, ymin, xmax, ymax in boxes
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"<annotation><filename>{path.name}</filename><size><width>{size[0]}</width>"
        f"<height>{size[1]}</height><depth>3</depth></size>{objects}</annotation>"
    )
    return path


def write_mat_list(path: Path, relative_paths: Sequence[str]) -> Path:
    """Write an official-style MATLAB list: a `file_list` cell array of relative paths."""
    from scipy.io import savemat

    cells = np.empty((len(relative_paths), 1), dtype=object)
    for position, relative in enumerate(relative_paths):
        cells[position, 0] = np.array([relative])
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, {"file_list": cells})
    return path


@pytest.fixture
def make_dogs_dir(tmp_path: Path) -> Callable[..., Path]:
    """Build a synthetic data folder in the official layout; returns its root.

    Arguments: `breeds` (label id -> image count), `lists` ("txt", "mat", "both" or None),
    `test_every` (every n-th image of a breed is in the official test list), `annotations`
    (one VOC file with two boxes per image), `size` (width, height), `name` (folder name).
    Each breed's images share one color, so a model can tell them apart.
    """

    def build(
        breeds: Mapping[str, int] = SYNTHETIC_BREEDS,
        *,
        lists: str | None = "txt",
        test_every: int = 3,
        annotations: bool = False,
        size: tuple[int, int] = (48, 40),
        name: str = "dogs",
    ) -> Path:
        root = tmp_path / name
        listed: dict[str, list[str]] = {"train": [], "test": []}
        for breed_position, (label_id, count) in enumerate(breeds.items()):
            wnid = label_id.split("-", 1)[0]
            (root / "Images" / label_id).mkdir(parents=True, exist_ok=True)
            for number in range(count):
                file_name = f"{wnid}_{number}.jpg"
                color = BREED_COLORS[breed_position % len(BREED_COLORS)]
                write_image(root / "Images" / label_id / file_name, size, color, seed=breed_position * 1000 + number)
                split = "test" if number % test_every == test_every - 1 else "train"
                listed[split].append(f"{label_id}/{file_name}")
                if annotations:
                    width, height = size
                    boxes = [(2, 2, width // 2, height // 2), (width // 4, height // 4, width - 2, height - 2)]
                    write_voc(root / "Annotation" / label_id / Path(file_name).stem, boxes, size)
        for split, relative_paths in listed.items():
            if lists in ("txt", "both"):
                (root / "lists").mkdir(exist_ok=True)
                (root / "lists" / f"{split}_list.txt").write_text("\n".join(relative_paths) + "\n")
            if lists in ("mat", "both"):
                write_mat_list(root / "lists" / f"{split}_list.mat", relative_paths)
        return root

    return build


@pytest.fixture
def sample_dir() -> Path:
    """The bundled sample: 5 breeds x 30 real photos, 90 train / 60 test."""
    return SAMPLE_DATA_DIR


def _shared_dataset(name: str) -> Path:
    path = SHARED_DATASETS / name
    if not (path / "Images").is_dir():
        pytest.skip(f"{path} is not present on this machine")
    return path


@pytest.fixture
def photos10_dir() -> Path:
    """../shared/datasets/stanford-dogs-photos10 (10 breeds x 60 photos); skips the test when absent."""
    return _shared_dataset("stanford-dogs-photos10")


@pytest.fixture
def crops224_dir() -> Path:
    """../shared/datasets/stanford-dogs-crops224 (120 breeds, 15,780 crops); skips the test when absent."""
    return _shared_dataset("stanford-dogs-crops224")


@pytest.fixture
def sample_photos() -> list[Path]:
    """Every photo of the bundled sample, sorted (5 breeds x 30)."""
    return sorted((SAMPLE_DATA_DIR / "Images").rglob("*.jpg"))


@pytest.fixture
def not_dogs_dir() -> Path:
    """../shared/datasets/not-dogs (cats and objects); skips the test when absent."""
    path = SHARED_DATASETS / "not-dogs"
    if not path.is_dir():
        pytest.skip(f"{path} is not present on this machine")
    return path


SHELTER_BREEDS = ("n02085620-Chihuahua", "n02086240-Shih-Tzu", "n02115641-dingo")


def write_pet_folders(tmp_path, count=4):
    """An oxford-pet-dogs folder (the test model's three breeds and one it does not know) and a not-dogs folder."""
    dogs, not_dogs = tmp_path / "oxford-pet-dogs", tmp_path / "not-dogs"
    breeds = {"chihuahua": SHELTER_BREEDS[0], "shih-tzu": SHELTER_BREEDS[1], "dingo": SHELTER_BREEDS[2], "havanese": ""}
    rows = []
    for position, (breed, folder) in enumerate(breeds.items()):
        for number in range(count):
            path = f"images/{breed}/{breed}_{number}.jpg"
            write_image(dogs / path, size=(60, 60), seed=position * 100 + number)
            rows.append([path, breed, folder, "dev_images" if number % 2 else "test_images"])
    with (dogs / "labels.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([["path", "oxford_breed", "stanford_folder", "source_split"], *rows])
    rows = []
    for kind, folder in (("cat", "cats"), ("object", "objects")):
        for number in range(4):
            write_image(not_dogs / folder / f"{kind}{number}.jpg", size=(50, 50), seed=900 + number)
            rows.append([f"{folder}/{kind}{number}.jpg", kind, f"{kind}-class"])
    with (not_dogs / "labels.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([["path", "kind", "source_class"], *rows])
    return dogs, not_dogs


def _small_shelter_model(**settings):
    """A MobileNetV2 shelter model over three breeds whose head keys on the first feature dimensions."""
    kernel = np.zeros((1280, 3), dtype=np.float32)
    kernel[0, 0], kernel[1, 1], kernel[2, 2] = 5.0, 5.0, 5.0
    from dogbreeds.shelter.model import ShelterConfig, ShelterModel

    config = ShelterConfig("mobilenet_v2", (224, 224), SHELTER_BREEDS, **settings)
    return ShelterModel(kernel, np.zeros(3, dtype=np.float32), config)


@pytest.fixture(scope="session")
def shelter_model_factory():
    """Builds a small shelter model (MobileNetV2, 3 breeds, a head keyed on the first feature dimensions)."""
    return _small_shelter_model


def trainable_layer_names(model) -> list[str]:
    """Names of the leaf layers of a Keras model (nested models opened) that have trainable weights."""
    import keras

    names: list[str] = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            names += trainable_layer_names(layer)
        elif layer.trainable_weights:
            names.append(layer.name)
    return names
