"""The shelter's model where it lives: dogs that are not ImageNet photos, and photos that are not dogs.

``oxford-pet-dogs`` (see :mod:`dogbreeds.data.pets`) is split once by its own
``source_split``: the *choosing* half is where :func:`choose_thresholds` (called by
``dogbreeds train --choose-on``) picks the decision rule's numbers, the *reporting* half is
only ever measured (:func:`measure_on_pets`, ``dogbreeds bench oxford``). ``not-dogs`` is
split in two halves the same way (seeded, half of each kind).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dogbreeds.core.provenance import data_hash
from dogbreeds.core.recordfile import make_record
from dogbreeds.data.pets import CHOOSING, HALVES, PetPhoto, read_not_dogs, read_pet_dogs
from dogbreeds.judge.evaluation import coverage_accuracy_curve
from dogbreeds.shelter.choosing import (
    choose_dog_temperature,
    choose_label_thresholds,
    choose_maybe_dog_threshold,
    choose_not_a_dog_threshold,
)
from dogbreeds.shelter.model import ASK_A_HUMAN, LABELLED, NOT_A_DOG, ShelterModel

CHOOSING_GOALS = {
    "max_known_not_a_dog": 0.005,
    "max_unknown_not_a_dog": 0.01,
    "target_accuracy": 0.965,
    "max_unknown_labelled_wrong": 0.07,
    "max_not_dogs_labelled": 0.005,
}
"""What the choosing photos must give: stricter than the goals, so that the choice holds on new photos."""

GOALS = {
    "max_known_not_a_dog": 0.01,
    "max_unknown_not_a_dog": 0.02,
    "target_accuracy": 0.95,
    "max_unknown_labelled_wrong": 0.10,
    "max_not_dogs_labelled": 0.01,
    "min_not_dogs_flagged": 0.98,
}
"""The goals on the reporting photos (issue 19)."""


@dataclasses.dataclass(frozen=True)
class PetScores:
    """The model's view of some photos: breed probabilities, ImageNet probabilities per view (views, N, 1000),
    the dog detector's probability (N,; NaN without a detector).
    """

    photos: list[PetPhoto]
    probabilities: np.ndarray
    imagenet: np.ndarray
    detector: np.ndarray

    def subset(self, keep: Sequence[bool]) -> PetScores:
        keep = np.asarray(keep, dtype=bool)
        return PetScores(
            [photo for photo, kept in zip(self.photos, keep) if kept],
            self.probabilities[keep],
            self.imagenet[:, keep],
            self.detector[keep],
        )


def pet_scores(
    model: ShelterModel, photos: Sequence[PetPhoto], *, cache_dir: str | os.PathLike | None = None
) -> PetScores:
    """Breed and ImageNet probabilities of ``photos`` through the model's views (features cached)."""
    from dogbreeds.shelter.measuring import view_features
    from dogbreeds.shelter.training import imagenet_probabilities

    backbone = model.config.backbone
    features = np.stack(
        [
            view_features(backbone, [photo.path for photo in photos], view, cache_dir=cache_dir)
            for view in model.config.views
        ]
    )
    return PetScores(
        list(photos),
        model.breed_probabilities(features),
        imagenet_probabilities(backbone, features),
        model.detector_probability(features),
    )


def _accepted(model: ShelterModel, photos: Sequence[PetPhoto]) -> np.ndarray:
    positions = {label_id: i for i, label_id in enumerate(model.config.label_ids)}
    return np.array([positions.get(photo.accepted, -1) for photo in photos], dtype=np.int64)


def top_three_sum(probabilities: np.ndarray) -> np.ndarray:
    """The sum of each row's three highest probabilities."""
    return -np.sort(-np.asarray(probabilities), axis=1)[:, :3].sum(1)


def choose_thresholds(
    model: ShelterModel, dogs: PetScores, not_dogs: PetScores, goals: dict[str, float] | None = None
) -> tuple[ShelterModel, dict[str, Any]]:
    """The model with its decision thresholds chosen on these (choosing) photos, and what each choice gave."""
    goals = CHOOSING_GOALS | (goals or {})
    known = np.array([photo.known_breed for photo in dogs.photos])
    temperature, separations = choose_dog_temperature(dogs.imagenet, not_dogs.imagenet, model.dog_classes)
    sharp = model.with_config(dataclasses.replace(model.config, dog_temperature=temperature))
    dog, not_dog = sharp.dog_probability(dogs.imagenet), sharp.dog_probability(not_dogs.imagenet)
    budgets = {"max_known": goals["max_known_not_a_dog"], "max_unknown": goals["max_unknown_not_a_dog"]}
    low = choose_not_a_dog_threshold(dog[known], dog[~known], not_dog, **budgets)
    detector_threshold = 0.0
    if model.detector is not None:  # then the detector, within what the ImageNet rule left of the dogs' budgets
        looks, not_dog_looks = (np.where(d < low, 0.0, s.detector) for d, s in ((dog, dogs), (not_dog, not_dogs)))
        detector_threshold = choose_not_a_dog_threshold(looks[known], looks[~known], not_dog_looks, **budgets)
    dog_ok = (dog >= low) & ~(dogs.detector < detector_threshold)
    accepted = _accepted(model, dogs.photos)
    correct = dogs.probabilities.argmax(1) == accepted
    confidence = np.where(dog_ok, dogs.probabilities.max(1), -np.inf)
    label = choose_label_thresholds(
        confidence,
        top_three_sum(dogs.probabilities),
        correct,
        ~known,
        target_accuracy=goals["target_accuracy"],
        max_unknown_wrong=goals["max_unknown_labelled_wrong"],
    )
    would_label = (
        (not_dogs.probabilities.max(1) >= label.confidence_threshold)
        & (top_three_sum(not_dogs.probabilities) >= label.unknown_breed_threshold)
        & ~(not_dogs.detector < detector_threshold)
    )
    high = choose_maybe_dog_threshold(not_dog, would_label, floor=low, max_labelled=goals["max_not_dogs_labelled"])
    config = dataclasses.replace(
        model.config,
        dog_temperature=temperature,
        dog_threshold=low,
        maybe_dog_threshold=high,
        confidence_threshold=label.confidence_threshold,
        unknown_breed_threshold=label.unknown_breed_threshold,
        detector_threshold=detector_threshold,
        target_accuracy=goals["target_accuracy"],
    )
    chosen = model.with_config(config)
    choice = {
        "goals": goals,
        "dog_temperature_separation": {str(t): s for t, s in separations.items()},
        "dog_temperature": temperature,
        "dog_threshold": low,
        "detector_threshold": detector_threshold,
        "maybe_dog_threshold": high,
        "label_thresholds": label.to_dict(),
        "without_unknown_rule": choose_label_thresholds(
            confidence,
            top_three_sum(dogs.probabilities),
            correct,
            ~known,
            target_accuracy=goals["target_accuracy"],
            max_unknown_wrong=goals["max_unknown_labelled_wrong"],
            use_unknown_rule=False,
        ).to_dict(),
        "dogs": decision_summary(chosen, dogs),
        "not_dogs": not_dog_summary(chosen, not_dogs),
    }
    return chosen, choice


def decision_summary(model: ShelterModel, dogs: PetScores) -> dict[str, Any]:
    """What the model's decisions give on dog photos: accuracy, statuses, dogs of unknown breeds."""
    dog = model.dog_probability(dogs.imagenet)
    answers = model.decide(dogs.probabilities, dog, dogs.detector)
    status = np.array([answer.status for answer in answers])
    config = model.config
    maybe_unknown = top_three_sum(dogs.probabilities) < config.unknown_breed_threshold
    accepted = _accepted(model, dogs.photos)
    known = np.array([photo.known_breed for photo in dogs.photos])
    scored = accepted >= 0  # known breeds, and pit bulls (American Staffordshire terrier is right)
    ranking = np.argsort(-dogs.probabilities, axis=1, kind="stable")
    right = ranking[:, 0] == accepted
    labelled = status == LABELLED
    unknown_reasons = Counter(
        f"{state}: may be a breed not among the {len(config.label_ids)}" if state == ASK_A_HUMAN and doubt else state
        for state, doubt, is_known in zip(status, maybe_unknown, known)
        if not is_known
    )
    # the confidence threshold swept alone, the dog rules kept
    held = (dog < max(config.dog_threshold, config.maybe_dog_threshold)) | (dogs.detector < config.detector_threshold)
    confidence = np.where(held, -np.inf, dogs.probabilities.max(1))
    curve = coverage_accuracy_curve(confidence, right)
    return {
        "photos": len(dogs.photos),
        "known_breed_photos": int(known.sum()),
        "unknown_breed_photos": int((~known).sum()),
        "top1_known": float(right[known].mean()) if known.any() else float("nan"),
        "top3_known": float((ranking[known, :3] == accepted[known, None]).any(1).mean())
        if known.any()
        else float("nan"),
        "top1_scored": float(right[scored].mean()) if scored.any() else float("nan"),
        "top3_scored": float((ranking[scored, :3] == accepted[scored, None]).any(1).mean())
        if scored.any()
        else float("nan"),
        "scored_photos": int(scored.sum()),
        "labelled": float(labelled.mean()),
        "labelled_photos": int(labelled.sum()),
        "labelled_right": int((labelled & right).sum()),
        "labelled_accuracy": float(right[labelled].mean()) if labelled.any() else float("nan"),
        "ask_a_human": float((status == ASK_A_HUMAN).mean()),
        "not_a_dog": float((status == NOT_A_DOG).mean()),
        "known_not_a_dog": float((status[known] == NOT_A_DOG).mean()) if known.any() else float("nan"),
        "known_not_a_dog_photos": int((status[known] == NOT_A_DOG).sum()),
        "unknown_not_a_dog": float((status[~known] == NOT_A_DOG).mean()) if (~known).any() else float("nan"),
        "unknown_not_a_dog_photos": int((status[~known] == NOT_A_DOG).sum()),
        "unknown_labelled_wrong": float((labelled & ~right)[~known].mean()) if (~known).any() else float("nan"),
        "unknown_labelled_wrong_photos": int((labelled & ~right & ~known).sum()),
        "unknown_statuses": dict(sorted(unknown_reasons.items())),
        "unknown_by_breed": {
            breed: dict(Counter(status[[photo.breed == breed for photo in dogs.photos]]))
            for breed in sorted({photo.breed for photo, k in zip(dogs.photos, known) if not k})
        },
        "per_1000": {
            "labelled": round(1000 * float(labelled.mean())),
            "labelled_wrong": round(1000 * float((labelled & ~right).mean())),
            "to_a_person": round(1000 * float((status == ASK_A_HUMAN).mean())),
            "not_a_dog": round(1000 * float((status == NOT_A_DOG).mean())),
        },
        "coverage_accuracy_curve": {column: curve[column].round(6).tolist() for column in ("coverage", "accuracy")},
        "coverage_accuracy_curve_sweeps": "the confidence threshold alone, the dog rules kept",
    }


def not_dog_summary(model: ShelterModel, not_dogs: PetScores) -> dict[str, Any]:
    """What the model's decisions give on photos that are not dogs."""
    answers = model.decide(not_dogs.probabilities, model.dog_probability(not_dogs.imagenet), not_dogs.detector)
    status = np.array([answer.status for answer in answers])
    kinds = np.array([photo.kind for photo in not_dogs.photos])
    summary: dict[str, Any] = {
        "photos": len(answers),
        "flagged_not_a_dog": float((status == NOT_A_DOG).mean()),
        "given_a_breed": float((status == LABELLED).mean()),
        "given_a_breed_photos": int((status == LABELLED).sum()),
        "ask_a_human": float((status == ASK_A_HUMAN).mean()),
    }
    for kind in sorted(set(kinds)):
        summary[f"flagged_{kind}"] = float((status[kinds == kind] == NOT_A_DOG).mean())
    return summary


def load_pet_scores(
    model: ShelterModel,
    dogs_dir: str | os.PathLike,
    not_dogs_dir: str | os.PathLike,
    parts: Sequence[str] = HALVES,
    *,
    cache_dir: str | os.PathLike | None = None,
) -> dict[str, tuple[PetScores, PetScores]]:
    """(dogs, not-dogs) scores of each part asked for."""
    dogs, not_dogs = read_pet_dogs(dogs_dir), read_not_dogs(not_dogs_dir)
    every_dog = pet_scores(model, dogs, cache_dir=cache_dir)
    every_not_dog = pet_scores(model, not_dogs, cache_dir=cache_dir)
    return {
        part: (
            every_dog.subset([photo.part == part for photo in dogs]),
            every_not_dog.subset([photo.part == part for photo in not_dogs]),
        )
        for part in parts
    }


def measure_on_pets(
    model: ShelterModel,
    dogs_dir: str | os.PathLike,
    not_dogs_dir: str | os.PathLike,
    *,
    cache_dir: str | os.PathLike | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """The model's decisions on both halves of the pet dogs and of the not-dogs: a results record.

    The choosing half is where the thresholds were chosen; report the reporting half.
    """
    start = time.perf_counter()
    scores = load_pet_scores(model, dogs_dir, not_dogs_dir, cache_dir=cache_dir)
    metrics = {
        part: {"dogs": decision_summary(model, dogs), "not_dogs": not_dog_summary(model, not_dogs)}
        for part, (dogs, not_dogs) in scores.items()
    }
    config = model.config
    paths = [photo.path for dogs, not_dogs in scores.values() for photo in (*dogs.photos, *not_dogs.photos)]
    return make_record(
        "shelter-oxford",
        "benchmark",
        params={
            "bench": "oxford",
            "dogs_dir": Path(dogs_dir).name,
            "not_dogs_dir": Path(not_dogs_dir).name,
            "views": list(config.views),
            "thresholds": {
                name: getattr(config, name)
                for name in (
                    "confidence_threshold",
                    "unknown_breed_threshold",
                    "dog_threshold",
                    "detector_threshold",
                    "maybe_dog_threshold",
                    "dog_temperature",
                )
            },
            "model_command": config.provenance.get("command"),
            "shelter_photos": model.record().get("params", {}).get("shelter_photos"),
            "chosen_on": CHOOSING,
            "goals": GOALS,
        },
        metrics=metrics,
        timings={"seconds": time.perf_counter() - start},
        data_counts={
            f"{part}_{name}": len(s.photos)
            for part, pair in scores.items()
            for name, s in zip(("dogs", "not_dogs"), pair)
        },
        num_classes=len(config.label_ids),
        source=source,
        data_hash=data_hash(paths, Path(dogs_dir).parent),
    )
