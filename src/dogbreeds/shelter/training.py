"""Training and measuring the shelter's model: ``dogbreeds train`` and ``dogbreeds bench shelter``.

:func:`train_shelter_model` turns a folder with official lists (the 120-breed crops) into
a :class:`~dogbreeds.shelter.model.ShelterModel`:

1. notebook 04's best recipe on the crops (:func:`~dogbreeds.experiments.transfer_variants.tta_head_variant`,
   run by :class:`~dogbreeds.experiments.transfer_experiment.TransferExperiment`): pooled features
   (``features`` cache), a seeded, stratified validation share of the train list held out, a softmax
   head trained on the other train photos with early stopping on the validation photos, each photo
   classified with its mirror image;
2. on the validation photos (each seen with its mirror image, as at prediction time):
   the temperature, the confidence threshold for the target accuracy, and the ImageNet
   dog probability under which a photo is "not a dog": 0.5 ("more likely not a dog"),
   lowered if more than ``dog_flag_rate`` of the validation dogs fall under it;
3. with ``choose_on`` (the ``oxford-pet-dogs`` folder: dogs that are not ImageNet photos)
   and ``not_dogs``: the head of step 1 also trains on the whole photos of the choosing half's
   dogs (:mod:`dogbreeds.shelter.adapting`), and the decision rule's numbers are chosen again,
   on the choosing halves only, from answers of heads that never saw the photo's fold
   (:func:`dogbreeds.shelter.pets.choose_thresholds`): the sharpening of the ImageNet
   probabilities, "not a dog" and "may not be a dog", the confidence threshold and the
   "may be a breed not among the 120" threshold;
4. scored once on the official test list: accuracy, calibration before and after,
   coverage and accuracy above the threshold, dog photos flagged "not a dog", statuses.

Measuring a trained model on whole photos is :mod:`dogbreeds.shelter.measuring`.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from dogbreeds.core.config import DEFAULT_SEED
from dogbreeds.core.provenance import data_hash
from dogbreeds.core.recordfile import make_record
from dogbreeds.data.labels import LabelMap
from dogbreeds.data.pets import CHOOSING
from dogbreeds.data.splits import Split, official_split, stratified_rows
from dogbreeds.experiments.transfer_experiment import Part, TransferExperiment, TransferResult
from dogbreeds.experiments.transfer_variants import tta_head_variant
from dogbreeds.judge.calibration import (
    Threshold,
    confidence_threshold,
    fit_temperature,
    softmax,
    threshold_metrics,
    view_probabilities,
)
from dogbreeds.judge.evaluation import evaluate, expected_calibration_error, top_k_accuracy
from dogbreeds.judge.intervals import correctness, paired_comparison
from dogbreeds.models.backbones import get_backbone
from dogbreeds.shelter.adapting import FOLDS, PET_WEIGHT, out_of_fold_scores, read_choosing_photos, train_detector
from dogbreeds.shelter.model import (
    ASK_A_HUMAN,
    LABELLED,
    NOT_A_DOG,
    ShelterConfig,
    ShelterModel,
)
from dogbreeds.shelter.pets import choose_thresholds

DEFAULT_BACKBONE = "efficientnet_lite2"
# Chosen on whole photos held out from training (`dogbreeds bench shelter`): the centred square and its
# mirror image scored best. On the square training crops the centre square is the whole crop, so the
# cached features of the crops and of their mirror images are these two views.
TRAINED_VIEWS = ("center", "center-flip")


@dataclass
class TrainedShelter:
    """A trained shelter model with its results record."""

    model: ShelterModel
    record: dict[str, Any]


def imagenet_probabilities(backbone: str, features: np.ndarray) -> np.ndarray:
    """The backbone's own ImageNet-1k probabilities from its pooled features (its classifier layer)."""
    kernel, bias = _imagenet_head(backbone)
    return softmax(np.asarray(features, dtype=np.float64) @ kernel + bias)


@functools.lru_cache(maxsize=2)
def _imagenet_head(backbone: str) -> tuple[np.ndarray, np.ndarray]:
    from dogbreeds.models.backbones import build_imagenet_classifier

    kernel, bias = build_imagenet_classifier(backbone).get_layer("predictions").get_weights()
    return kernel, bias


def dog_probability(model: ShelterModel, features: np.ndarray) -> np.ndarray:
    """Mean ImageNet dog probability over views of pooled features (views, N, D) or (N, D)."""
    return model.dog_probability(imagenet_probabilities(model.config.backbone, features))


def dog_threshold_for(dog: np.ndarray, flag_rate: float, ceiling: float = 0.5) -> float:
    """The highest threshold (at most ``ceiling``) under which at most ``flag_rate`` of these dog photos fall."""
    values = np.sort(np.asarray(dog, dtype=np.float64))
    allowed = int(np.floor(flag_rate * len(values)))  # photos that may be flagged
    return float(min(ceiling, values[allowed])) if allowed < len(values) else ceiling


def train_shelter_model(
    data_dir: str | os.PathLike,
    *,
    backbone: str = DEFAULT_BACKBONE,
    val_fraction: float = 0.1,
    target_accuracy: float = 0.95,
    dog_flag_rate: float = 0.02,
    head_epochs: int = 200,
    seed: int = DEFAULT_SEED,
    cache_dir: str | os.PathLike | None = None,
    source: str | None = None,
    progress: bool = True,
    choose_on: str | os.PathLike | None = None,
    not_dogs: str | os.PathLike | None = None,
    pet_weight: int = PET_WEIGHT,
    folds: int = FOLDS,
) -> TrainedShelter:
    """Train the shelter model on ``data_dir``'s train list and score it on its test list (see module doc)."""
    # Over 60 lines: 14 options, then the recipe in the order it runs (features, head, calibration on validation,
    # thresholds on the choosing photos, test measures, record); the measures and the record are helpers.
    from dogbreeds.models.training import set_seed

    # With choose_on, the head also trains on the choosing half's dogs (shelter.adapting).
    if (choose_on is None) != (not_dogs is None):
        raise ValueError("choose_on (dogs) and not_dogs are given together: the thresholds are chosen on both.")

    start = time.perf_counter()
    set_seed(seed)
    official, label_map = official_split(data_dir)
    train_rows, val_rows = stratified_rows(
        np.array([label_map.encode(r.label_id) for r in official.train]), val_fraction, seed
    )
    split = Split(
        tuple(official.train[i] for i in train_rows),
        tuple(official.train[i] for i in val_rows),
        official.test,
        official.source,
    )
    experiment = TransferExperiment(
        split, label_map, batch_size=32, cache_dir=cache_dir, head_epochs=head_epochs, seed=seed, progress=progress
    )
    variant = tta_head_variant(backbone)
    base = ShelterConfig(backbone, get_backbone(backbone).image_size(), label_map.label_ids, views=TRAINED_VIEWS)
    val = experiment.features(backbone, "val")
    val_views = _views(experiment, backbone, "val")

    def fitted(result: TransferResult) -> tuple[ShelterModel, np.ndarray]:
        """The result's head as a shelter model with its own temperature, and its validation logits."""
        kernel, bias = result.heads[0].model.get_layer("predictions").get_weights()
        logits = ShelterModel(kernel, bias, base).breed_logits(val_views)
        return ShelterModel(kernel, bias, replace(base, temperature=fit_temperature(logits, val.labels))), logits

    photos = None
    if choose_on is not None:
        photos = read_choosing_photos(
            backbone, TRAINED_VIEWS, label_map, choose_on, not_dogs, folds=folds, seed=seed, cache_dir=cache_dir
        )
        result = experiment.run(
            variant, extra_train=photos.training_rows(np.ones(len(photos.dogs), bool), pet_weight), extra_name="all"
        )
    else:
        result = experiment.run(variant)
    head = result.heads[0]
    draft, val_logits = fitted(result)
    temperature = draft.config.temperature
    val_probabilities = view_probabilities(val_logits, temperature)
    chosen = confidence_threshold(val.labels, val_probabilities, target_accuracy=target_accuracy)
    val_dog = dog_probability(draft, val_views)
    config = replace(
        draft.config,
        confidence_threshold=chosen.threshold,
        dog_threshold=dog_threshold_for(val_dog, dog_flag_rate),
        target_accuracy=target_accuracy,
        provenance={
            "command": source,
            "seed": seed,
            "data_dir": Path(data_dir).name,
            "data_hash": data_hash([record.path for record in (*official.train, *official.test)], data_dir),
            "train_photos": len(train_rows),
            "validation_photos": len(val_rows),
        },
    )
    model = ShelterModel(draft.kernel, draft.bias, config)
    choice = None
    if photos is not None:
        crops_val_rows = val_views.reshape(-1, val_views.shape[-1])  # more dogs for the dog detector
        everything = np.ones(len(photos.dogs), bool), np.ones(len(photos.not_dogs), bool)
        dog_rows, not_dog_rows = photos.detector_rows(*everything)
        detector = train_detector(np.concatenate([dog_rows, crops_val_rows]), not_dog_rows, seed=seed)
        model = ShelterModel(draft.kernel, draft.bias, config, detector)
        # the choosing photos are in the head's training rows: their answers come from heads without their fold
        choosing = out_of_fold_scores(
            photos,
            model,
            lambda rows, name: fitted(experiment.run(variant, extra_train=rows, extra_name=name))[0],
            functools.partial(imagenet_probabilities, backbone),
            detector_dogs=crops_val_rows,
            weight=pet_weight,
            seed=seed,
        )
        model, choice = choose_thresholds(model, *choosing)
        choice["dogs"].pop("coverage_accuracy_curve")
        choosing_hash = data_hash([photo.path for part in choosing for photo in part.photos], Path(choose_on).parent)
        config = replace(model.config, provenance={**config.provenance, "choosing_data_hash": choosing_hash})
        model = model.with_config(config)

    calibration = Calibration(
        val.labels, val_logits, temperature, chosen, val_dog, model.detector_probability(val_views)
    )
    test_labels = experiment.features(backbone, "test").labels
    metrics = _test_metrics(model, _views(experiment, backbone, "test"), test_labels, label_map, calibration)
    metrics["recipe_top1"] = top_k_accuracy(test_labels, result.test_probabilities, 1)
    if photos is not None:  # what the shelter's photos changed on the crops: the same recipe without them
        crops_only = experiment.run(variant).test_probabilities
        against = paired_comparison(
            correctness(test_labels, result.test_probabilities), correctness(test_labels, crops_only)
        )
        metrics["crops_only_top1"] = against.accuracy_b
        metrics["against_crops_only"] = {
            "difference": against.difference.value,
            "low": against.difference.low,
            "high": against.difference.high,
            "p_value": against.p_value,
            "verdict": against.verdict,
        }
    settings = {
        "backbone": backbone,
        "views": list(TRAINED_VIEWS),
        "recipe": result.variant.name,
        "shelter_photos": None if photos is None else {"weight": pet_weight, "folds": folds, "trained_on": CHOOSING},
        "val_fraction": val_fraction,
        "target_accuracy": target_accuracy,
        "dog_flag_rate": dog_flag_rate,
        "head": head.params,
        "best_epoch": head.best_epoch,
        "data_dir": Path(data_dir).name,
        "choose_on": Path(choose_on).name if choose_on is not None else None,
        "not_dogs": Path(not_dogs).name if not_dogs is not None else None,
        "choice": choice,
    }
    timings = {
        "feature_seconds": result.timings["feature_seconds"],
        "train_seconds": head.train_seconds,
        "total_seconds": time.perf_counter() - start,
        "features_cached": result.timings["features_cached"],
    }
    counts = {"train": len(train_rows), "val": len(val_rows), "test": len(test_labels)}
    if photos is not None:
        counts["choosing_dogs_trained_on"] = int((photos.labels >= 0).sum())
    record = _shelter_record(model, settings, metrics, head.history, timings, counts, seed, source)
    return TrainedShelter(model, record)


@dataclass(frozen=True)
class Calibration:
    """What was fitted and chosen on the validation photos: their labels and logits, the temperature, the
    confidence threshold's measures there, and their dog probabilities (ImageNet, and the dog detector's).
    """

    labels: np.ndarray
    logits: np.ndarray
    temperature: float
    chosen: Threshold
    dog: np.ndarray
    detector: np.ndarray


def _test_metrics(
    model: ShelterModel, views: np.ndarray, labels: np.ndarray, label_map: LabelMap, calibration: Calibration
) -> dict[str, Any]:
    """The model's measures on the test photos (two views each), beside the validation photos' ones."""
    config = model.config
    before = view_probabilities(model.breed_logits(views))
    after = model.breed_probabilities(views)
    dog = dog_probability(model, views)
    detector = model.detector_probability(views)
    validation = view_probabilities(calibration.logits, calibration.temperature)
    return evaluate(labels, after, label_map.names) | {
        "ece_before_calibration": expected_calibration_error(labels, before),
        "ece_after_calibration": expected_calibration_error(labels, after),
        "validation_ece_before_calibration": expected_calibration_error(
            calibration.labels, view_probabilities(calibration.logits)
        ),
        "validation_ece_after_calibration": expected_calibration_error(calibration.labels, validation),
        "at_threshold": threshold_metrics(labels, after, config.confidence_threshold).to_dict(),
        "validation_at_threshold": calibration.chosen.to_dict(),
        "dogs_flagged_not_a_dog": float(np.mean(model.not_a_dog(dog, detector))),
        "validation_dogs_flagged_not_a_dog": float(np.mean(model.not_a_dog(calibration.dog, calibration.detector))),
        "statuses": status_metrics(model, labels, after, dog, detector),
    }


def _shelter_record(
    model: ShelterModel,
    settings: dict[str, Any],
    metrics: dict[str, Any],
    history: dict[str, Any],
    timings: dict[str, Any],
    counts: dict[str, int],
    seed: int,
    source: str | None,
) -> dict[str, Any]:
    """The training run's results record: its settings, then the thresholds the model ships with."""
    config = model.config
    thresholds = {
        "temperature": config.temperature,
        "confidence_threshold": config.confidence_threshold,
        "dog_threshold": config.dog_threshold,
        "detector_threshold": config.detector_threshold,
        "maybe_dog_threshold": config.maybe_dog_threshold,
        "dog_temperature": config.dog_temperature,
        "unknown_breed_threshold": config.unknown_breed_threshold,
    }
    cut = list(settings).index("best_epoch") + 1
    order = [*list(settings)[:cut], *thresholds, *list(settings)[cut:]]  # the record's order since the first model
    params = {key: {**settings, **thresholds}[key] for key in order}
    return make_record(
        "shelter-model",
        "shelter",
        params=params,
        metrics=metrics,
        history=history,
        timings=timings,
        data_counts=counts,
        num_classes=len(config.label_ids),
        seed=seed,
        source=source,
        data_hash=config.provenance["data_hash"],
    )


def status_metrics(
    model: ShelterModel,
    labels: np.ndarray,
    probabilities: np.ndarray,
    dog: np.ndarray,
    detector: np.ndarray | None = None,
) -> dict[str, float | int]:
    """The decision rule's statuses on dog photos of known breeds: labelled (and right), ask a human, not a dog."""
    answers = model.decide(probabilities, dog, detector)
    status = np.array([answer.status for answer in answers])
    labelled = status == LABELLED
    right = probabilities.argmax(1) == np.asarray(labels)
    return {
        "photos": len(answers),
        "labelled": float(labelled.mean()),
        "labelled_accuracy": float(right[labelled].mean()) if labelled.any() else float("nan"),
        "ask_a_human": float((status == ASK_A_HUMAN).mean()),
        "not_a_dog": float((status == NOT_A_DOG).mean()),
    }


def _views(experiment: TransferExperiment, backbone: str, part: Part) -> np.ndarray:
    """The features of ``part``'s photos through the trained views: (2, N, D), each photo and its mirror image."""
    return np.stack([experiment.features(backbone, part, flipped=flipped).features for flipped in (False, True)])
