"""Prediction bundles: a trained breed classifier saved with everything needed to use it on new photos.

A bundle is a folder that loads in a fresh process, with no training code:

    model.keras          RGB images (0..255, at the bundle's size) in, breed probabilities out;
                         the backbone's input scaling is inside (a BackbonePreprocessing layer)
    label_map.json       the breeds in output order (``pipeline.LabelMap``)
    preprocessing.json   how photos must be prepared: image size, backbone, crop, class names

    model = image_classifier("mobilenet_v2", head, (160, 160))  # a head trained on cached features
    save_bundle(model, label_map, BundleMeta(image_size=(160, 160), backbone="mobilenet_v2"), folder)
    predictor = load_bundle(folder)
    predictor.predict_paths(["rex.jpg"])   # [[BreedScore("Samoyed", 0.93), ...]]

Photos are loaded the way the training pipeline loads them (Pillow decode, RGB, bilinear
resize to the bundle size, aspect ratio not kept), but upright: a phone photo's EXIF
orientation is applied (``images.load_resized(..., upright=True)``), as a viewer shows it.
A data set photo given as its ``data.ImageRecord`` is cropped to its dog box first when the
bundle's model was trained on boxes (``BundleMeta.crop``), as at training; a plain file has
no box and is used whole.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import keras
import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from dogbreeds.core.errors import DogbreedsError
from dogbreeds.core.fileio import UnstorableValueError, loads_strict_json, write_json_atomic
from dogbreeds.data.boxes import crop_boxes
from dogbreeds.data.folder import CropChoice, ImageRecord
from dogbreeds.data.images import load_resized
from dogbreeds.data.labels import LabelMap, LabelMapError
from dogbreeds.models.backbones import build_backbone, get_backbone, preprocess
from dogbreeds.models.builders import build_transfer_model

BUNDLE_FORMAT = 1
MODEL_FILE = "model.keras"
LABEL_MAP_FILE = "label_map.json"
PREPROCESSING_FILE = "preprocessing.json"
BUNDLE_FILES = (MODEL_FILE, LABEL_MAP_FILE, PREPROCESSING_FILE)
PREDICT_BATCH_SIZE = 32


class BundleError(DogbreedsError):
    """A prediction bundle cannot be saved or loaded (the message says what to do)."""


class PredictionInputError(DogbreedsError, ValueError):
    """Images or options given to a Predictor that it cannot use."""


@keras.saving.register_keras_serializable(package="dogbreeds")
class BackbonePreprocessing(keras.layers.Layer):
    """The input scaling of a registry backbone (``backbones.preprocess``) as a saveable layer.

    Unlike a Lambda layer it reloads from a ``.keras`` file in safe mode, in any process
    that has imported ``dogbreeds.models.bundle``.
    """

    def __init__(self, backbone: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        get_backbone(backbone)  # an unknown name fails here, listing the valid ones
        self.backbone = backbone

    def call(self, inputs: Any) -> Any:
        return preprocess(self.backbone, inputs)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "backbone": self.backbone}


def image_classifier(backbone: str, head: keras.Model, image_size: tuple[int, int]) -> keras.Model:
    """The deployable image model of a head trained on cached ``backbone`` features.

    ImageNet ``backbone`` (pooled, at ``image_size``) with its scaling inside
    (:class:`BackbonePreprocessing`) and the softmax layer (``predictions``) of ``head``:
    it gives the head's probabilities straight from 0..255 images, and saves as a bundle.
    """
    spec = get_backbone(backbone)
    if any(layer.name == "hidden" for layer in head.layers):
        raise BundleError(
            "The head has a hidden layer; only a dropout + softmax head (hidden=None) "
            "can sit on the backbone of a transfer model."
        )
    kernel, bias = head.get_layer("predictions").get_weights()
    if kernel.shape[0] != spec.feature_dim:
        raise BundleError(
            f"The head takes {kernel.shape[0]} features but {backbone} gives {spec.feature_dim}; "
            "pass the backbone whose features trained it."
        )
    model = build_transfer_model(
        build_backbone(backbone, input_shape=(*image_size, 3)),
        kernel.shape[1],
        preprocess=BackbonePreprocessing(backbone),
    )
    model.get_layer("predictions").set_weights([kernel, bias])
    return model


class BreedScore(NamedTuple):
    """One breed and the model's probability for it."""

    breed: str
    probability: float


@dataclass(frozen=True)
class BundleMeta:
    """How photos must be prepared for the bundled model, and what it is.

    ``image_size`` is (height, width); ``crop``/``crop_margin`` are the training crop
    (None: whole photos; a model trained on dog boxes expects photos framed on the dog, and
    :meth:`Predictor.load_photo` crops data set records to their box);
    ``extra`` holds any JSON-ready facts worth keeping (run name, validation accuracy...).
    """

    image_size: tuple[int, int]
    backbone: str | None = None
    crop: CropChoice | None = None
    crop_margin: float = 0.0
    model_name: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        size = tuple(int(side) for side in self.image_size)
        if len(size) != 2 or min(size) < 1:
            raise BundleError(f"image_size must be (height, width) in pixels, got {self.image_size!r}.")
        object.__setattr__(self, "image_size", size)
        if self.backbone is not None:
            get_backbone(self.backbone)

    def to_dict(self, class_names: Sequence[str]) -> dict[str, Any]:
        """The preprocessing.json content (class names in output order)."""
        return {
            "format": BUNDLE_FORMAT,
            "model_name": self.model_name,
            "backbone": self.backbone,
            "image_size": list(self.image_size),
            "input": "RGB, 0..255, resized with Pillow bilinear to image_size (height, width), aspect ratio not kept",
            "crop": self.crop,
            "crop_margin": self.crop_margin,
            "class_names": list(class_names),
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> BundleMeta:
        """Read back what ``to_dict`` wrote."""
        return cls(
            image_size=tuple(values["image_size"]),
            backbone=values.get("backbone"),
            crop=values.get("crop"),
            crop_margin=float(values.get("crop_margin", 0.0)),
            model_name=values.get("model_name", ""),
            extra=dict(values.get("extra") or {}),
        )


class Predictor:
    """A loaded bundle: photos or image arrays in, top-k breeds with probabilities out."""

    def __init__(self, model: keras.Model, label_map: LabelMap, meta: BundleMeta) -> None:
        _check_model(model, label_map, meta)
        self.model = model
        self.label_map = label_map
        self.meta = meta

    @property
    def class_names(self) -> tuple[str, ...]:
        """Readable breed names in the model's output order."""
        return self.label_map.names

    def load_photo(self, photo: str | os.PathLike | ImageRecord) -> np.ndarray:
        """A photo as the model takes it: uint8 (height, width, 3). Raises ``images.ImageLoadError``.

        A file is used whole and upright. A data set record with a dog box is cropped to it,
        as at training, when the bundle has a crop (``meta.crop``, ``meta.crop_margin``);
        boxes are in the stored frame, so that crop is not turned upright.
        """
        if isinstance(photo, ImageRecord):
            if self.meta.crop is not None:
                (box,), problems = crop_boxes([photo], self.meta.crop)
                if box is not None:
                    return load_resized(photo.path, self.meta.image_size, box, self.meta.crop_margin)
                if problems:
                    warnings.warn(f"{photo.path.name}: {problems[0].detail}", stacklevel=2)
            photo = photo.path
        return load_resized(photo, self.meta.image_size, upright=True)

    def probabilities(self, images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """(N, classes) probabilities for RGB images with values 0..255.

        ``images`` is a batch (N, H, W, 3) or a list of (H, W, 3) arrays; images of
        another size are resized as photos are (Pillow bilinear on uint8 pixels).
        """
        if len(images) == 0:
            raise PredictionInputError("No images to predict: the batch is empty.")
        starts = range(0, len(images), PREDICT_BATCH_SIZE)
        parts = [
            self._predict_batch(self._as_batch(images[start : start + PREDICT_BATCH_SIZE], start))
            for start in tqdm(starts, desc="predicting", unit="batch", disable=len(starts) < 2)
        ]
        return np.concatenate(parts)

    def predict_arrays(self, images: np.ndarray | Sequence[np.ndarray], top_k: int = 5) -> list[list[BreedScore]]:
        """For each image, its ``top_k`` breeds, most probable first."""
        return self.top_breeds(self.probabilities(images), top_k)

    def photo_probabilities(self, paths: Sequence[str | os.PathLike | ImageRecord]) -> np.ndarray:
        """(N, classes) probabilities of photo files or records (see :meth:`load_photo`), in :attr:`class_names` order.

        Photos are read one batch at a time, so a long list never sits in memory whole.
        Raises ``images.ImageLoadError`` on an unusable file.
        """
        if len(paths) == 0:
            raise PredictionInputError("No photos to predict: the list of paths is empty.")
        starts = range(0, len(paths), PREDICT_BATCH_SIZE)
        parts = [
            self.probabilities([self.load_photo(path) for path in paths[start : start + PREDICT_BATCH_SIZE]])
            for start in tqdm(starts, desc="predicting photos", unit="batch", disable=len(starts) < 2)
        ]
        return np.concatenate(parts)

    def predict_paths(self, paths: Sequence[str | os.PathLike], top_k: int = 5) -> list[list[BreedScore]]:
        """For each photo file, its ``top_k`` breeds. Raises ``images.ImageLoadError`` on an unusable file."""
        return self.top_breeds(self.photo_probabilities(paths), top_k)

    def top_breeds(self, probabilities: np.ndarray, top_k: int = 5) -> list[list[BreedScore]]:
        """The ``top_k`` (capped at the number of breeds) breeds of each row of ``probabilities``."""
        if top_k < 1:
            raise PredictionInputError(f"top_k must be at least 1, got {top_k}.")
        names = self.class_names
        order = np.argsort(-probabilities, axis=1, kind="stable")[:, : min(top_k, len(names))]
        return [[BreedScore(names[i], float(row[i])) for i in best] for row, best in zip(probabilities, order)]

    def _predict_batch(self, batch: np.ndarray) -> np.ndarray:
        output = self.model.predict_on_batch(batch)
        return np.asarray(keras.ops.convert_to_numpy(output), dtype=np.float64)

    def _as_batch(self, images: np.ndarray | Sequence[np.ndarray], first: int = 0) -> np.ndarray:
        height, width = self.meta.image_size
        if isinstance(images, np.ndarray) and images.ndim == 4 and images.shape[1:] == (height, width, 3):
            return images.astype(np.float32)
        return np.stack([self._fit(image, first + offset) for offset, image in enumerate(images)])

    def _fit(self, image: np.ndarray, position: int) -> np.ndarray:
        pixels = np.asarray(image)
        if pixels.ndim != 3 or pixels.shape[2] != 3:
            raise PredictionInputError(
                f"Image {position} has shape {pixels.shape}; expected (height, width, 3) RGB values 0..255 "
                "(load files with Predictor.load_photo or predict_paths)."
            )
        height, width = self.meta.image_size
        if pixels.shape[:2] == (height, width):
            return pixels.astype(np.float32)
        photo = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))
        return np.asarray(photo.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)


def save_bundle(model: keras.Model, label_map: LabelMap, meta: BundleMeta, folder: str | os.PathLike) -> Path:
    """Write ``model``, its label map and ``meta`` as a bundle folder; returns the folder.

    The bundle is written into a temporary sibling folder and then moved into place, so
    ``folder`` holds either the previous complete bundle or the new one, never a mix.
    """
    _check_model(model, label_map, meta)
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.partial-"))
    try:
        model.save(staging / MODEL_FILE)
        label_map.save(staging / LABEL_MAP_FILE)
        write_json_atomic(staging / PREPROCESSING_FILE, meta.to_dict(label_map.names))
        _make_readable(staging)
        _move_into_place(staging, folder)
    except UnstorableValueError as error:
        raise BundleError(f"Cannot store the bundle metadata: {error}") from error
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return folder


def load_bundle(folder: str | os.PathLike) -> Predictor:
    """The Predictor of a bundle folder written by ``save_bundle``. Raises ``BundleError``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BundleError(
            f"No bundle folder at {folder}; pass the folder that holds {', '.join(BUNDLE_FILES)} "
            "(a run writes one to <run folder>/models/best_transfer)."
        )
    missing = [name for name in BUNDLE_FILES if not (folder / name).is_file()]
    if missing:
        raise BundleError(
            f"{folder} is not a complete bundle: {', '.join(missing)} missing. "
            "Save it again with dogbreeds.models.bundle.save_bundle."
        )
    meta, class_names = _read_meta(folder / PREPROCESSING_FILE)
    try:
        label_map = LabelMap.load(folder / LABEL_MAP_FILE)
    except LabelMapError as error:
        raise BundleError(str(error)) from error
    if class_names is not None and list(label_map.names) != list(class_names):
        raise BundleError(
            f"{folder}: {LABEL_MAP_FILE} and {PREPROCESSING_FILE} list the breeds in different orders, "
            "so the model's outputs cannot be named safely. Save the bundle again with save_bundle."
        )
    model_path = folder / MODEL_FILE
    if not zipfile.is_zipfile(model_path):
        raise BundleError(
            f"{model_path} is not a complete Keras model file (truncated or damaged); save the bundle "
            "again with save_bundle."
        )
    try:
        model = keras.saving.load_model(model_path, compile=False)
    except Exception as error:  # Keras raises ValueError, TypeError, OSError... on a bad or unsafe file
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise BundleError(
            f"Cannot load {model_path}: {first_line[:300]}. Build models with BackbonePreprocessing "
            "rather than a Lambda layer, and save them with save_bundle."
        ) from error
    return Predictor(model, label_map, meta)


def _read_meta(path: Path) -> tuple[BundleMeta, list[str] | None]:
    try:
        values = loads_strict_json(path.read_bytes())
    except (OSError, ValueError) as error:
        raise BundleError(f"Cannot read {path}: {error}") from error
    if not isinstance(values, dict) or values.get("format") != BUNDLE_FORMAT:
        found = values.get("format") if isinstance(values, dict) else None
        raise BundleError(
            f"{path} has bundle format {found!r}; this dogbreeds reads format {BUNDLE_FORMAT}. "
            "Save the bundle again with this version."
        )
    try:
        return BundleMeta.from_dict(values), values.get("class_names")
    except (KeyError, TypeError, ValueError) as error:
        raise BundleError(f"{path} is not valid bundle metadata ({type(error).__name__}: {error}).") from error


def _check_model(model: keras.Model, label_map: LabelMap, meta: BundleMeta) -> None:
    outputs = int(model.output_shape[-1])
    if outputs != len(label_map):
        raise BundleError(
            f"The model outputs {outputs} classes but the label map has {len(label_map)} breeds; "
            "save the label map the model was trained with."
        )
    expected = tuple(model.input_shape[1:3])
    if any(want is not None and want != got for want, got in zip(expected, meta.image_size)):
        raise BundleError(
            f"The model takes {expected} images but the metadata says image_size "
            f"{meta.image_size}; give the size the model was trained at."
        )


def _make_readable(folder: Path) -> None:
    """Temporary files are private (0600); a bundle is meant to be shared: folder 0755, files 0644."""
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)


def _move_into_place(staging: Path, folder: Path) -> None:
    """Replace ``folder`` by ``staging``; an existing bundle is moved aside first, then deleted."""
    if not folder.exists():
        os.replace(staging, folder)
        return
    previous = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.previous-"))
    os.replace(folder, previous / folder.name)
    os.replace(staging, folder)
    shutil.rmtree(previous)
