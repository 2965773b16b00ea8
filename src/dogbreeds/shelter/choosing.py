"""Choosing the shelter model's thresholds on photos like a shelter's, from plain arrays.

The rules of :meth:`dogbreeds.shelter.model.ShelterModel.decide` have five numbers; these
functions choose them on the *choosing* photos (dogs not from ImageNet, and photos that
are not dogs), each with stricter goals than the ones the reporting photos must meet, so
that the choice holds on new photos:

1. :func:`choose_dog_temperature`: how much the ImageNet probabilities are sharpened
   before the dog classes are summed (the one that best separates dogs from not-dogs);
2. :func:`choose_not_a_dog_threshold`: "not a dog" under it, as many not-dogs as
   possible while at most a share of the dogs of known and of unknown breeds fall under it;
3. :func:`choose_label_thresholds`: the confidence threshold and the "maybe none of the
   breeds" threshold (on the best three breeds' sum) that label the most dogs while the
   labelled ones reach the target accuracy and few dogs of unknown breeds get a breed;
4. :func:`choose_maybe_dog_threshold`: "ask a human, may not be a dog" under it, so that
   almost no not-dog would be labelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dogbreeds.core.errors import DogbreedsError

DOG_TEMPERATURES = (1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2)


class ThresholdChoiceError(DogbreedsError, ValueError):
    """The photos given cannot support the choice asked for."""


def sharpened_dog_probability(imagenet: np.ndarray, dog_classes: np.ndarray, temperature: float) -> np.ndarray:
    """The dog classes' share of ImageNet probabilities (views, N, 1000) sharpened by ``temperature``, view mean."""
    views = np.asarray(imagenet, dtype=np.float64)
    views = views if views.ndim == 3 else views[None]
    sharp = views ** (1.0 / temperature)
    return (sharp[..., dog_classes].sum(-1) / sharp.sum(-1)).mean(0)


def separation(dogs: np.ndarray, not_dogs: np.ndarray) -> float:
    """Probability that a dog scores above a not-dog (ties count half): the area under the ROC curve."""
    dogs, not_dogs = np.asarray(dogs, dtype=np.float64), np.asarray(not_dogs, dtype=np.float64)
    if not len(dogs) or not len(not_dogs):
        raise ThresholdChoiceError("separation needs dogs and not-dogs.")
    above = (dogs[:, None] > not_dogs[None, :]).mean()
    ties = (dogs[:, None] == not_dogs[None, :]).mean()
    return float(above + ties / 2)


def choose_dog_temperature(
    dogs_imagenet: np.ndarray,
    not_dogs_imagenet: np.ndarray,
    dog_classes: np.ndarray,
    candidates: Sequence[float] = DOG_TEMPERATURES,
) -> tuple[float, dict[float, float]]:
    """The candidate whose dog probability best separates dogs from not-dogs (ties: the mildest, first listed).

    Returns it and each candidate's separation.
    """
    scores = {
        float(t): separation(
            sharpened_dog_probability(dogs_imagenet, dog_classes, t),
            sharpened_dog_probability(not_dogs_imagenet, dog_classes, t),
        )
        for t in candidates
    }
    best = max(scores.values())
    return next(t for t, score in scores.items() if score >= best - 1e-12), scores


def choose_not_a_dog_threshold(
    dog_known: np.ndarray,
    dog_unknown: np.ndarray,
    dog_not_dogs: np.ndarray,
    *,
    max_known: float,
    max_unknown: float,
) -> float:
    """A dog-probability threshold: "not a dog" under it.

    Among the cuts that leave at most ``max_known`` of the known-breed dogs and
    ``max_unknown`` of the unknown-breed dogs under them: the ones flagging the most
    not-dogs, then the fewest dogs; the answer lies in the middle of that gap.
    """
    known, unknown, not_dogs = (np.asarray(a, dtype=np.float64) for a in (dog_known, dog_unknown, dog_not_dogs))
    if not len(known) or not len(not_dogs):
        raise ThresholdChoiceError("choose_not_a_dog_threshold needs known-breed dogs and not-dogs.")
    values = np.unique(np.r_[known, unknown, not_dogs, 0.0, 1.0])
    cuts = (values[:-1] + values[1:]) / 2
    known_under = (known[None, :] < cuts[:, None]).mean(1)
    unknown_under = (unknown[None, :] < cuts[:, None]).mean(1) if len(unknown) else np.zeros(len(cuts))
    feasible = (known_under <= max_known) & (unknown_under <= max_unknown)
    flagged = (not_dogs[None, :] < cuts[:, None]).sum(1)
    dogs_flagged = (known[None, :] < cuts[:, None]).sum(1) + (unknown[None, :] < cuts[:, None]).sum(1)
    score = np.where(feasible, flagged * (len(known) + len(unknown) + 1) - dogs_flagged, -1)
    best = np.flatnonzero(score == score.max())
    return float((values[best[0]] + values[best[-1] + 1]) / 2)


@dataclass(frozen=True)
class LabelThresholds:
    """The confidence and unknown-breed thresholds, and what they give on the photos they were chosen on."""

    confidence_threshold: float
    unknown_breed_threshold: float
    coverage: float
    accuracy: float
    unknown_labelled_wrong: float
    reached: bool

    def to_dict(self) -> dict[str, float | bool]:
        return dict(self.__dict__)


def choose_label_thresholds(
    confidence: np.ndarray,
    top_three: np.ndarray,
    correct: np.ndarray,
    unknown: np.ndarray,
    *,
    target_accuracy: float,
    max_unknown_wrong: float,
    use_unknown_rule: bool = True,
) -> LabelThresholds:
    """The pair (confidence threshold c, unknown-breed threshold s) that labels the most photos.

    A photo is labelled when its confidence >= c and its best three breeds' sum >= s; among
    all pairs whose labelled photos are right at least ``target_accuracy`` of the time and
    that label wrongly at most ``max_unknown_wrong`` of the ``unknown``-breed dogs, the one
    labelling the most (ties: the lowest s, then the lowest c). Photos that other rules
    already send elsewhere get confidence -inf. Without ``use_unknown_rule``, s is 0.
    When no pair reaches both goals, the most accurate one is returned with ``reached`` False.
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    top_three = np.asarray(top_three, dtype=np.float64)
    correct, unknown = np.asarray(correct, dtype=bool), np.asarray(unknown, dtype=bool)
    total, unknown_total = len(confidence), max(int(unknown.sum()), 1)
    if not total:
        raise ThresholdChoiceError("choose_label_thresholds needs photos.")
    finite = np.isfinite(confidence)
    levels = np.unique(np.r_[0.0, top_three[finite]]) if use_unknown_rule else np.zeros(1)
    best: tuple | None = None
    fallback: tuple | None = None
    for level in levels:
        rows = np.flatnonzero(finite & (top_three >= level))
        if not len(rows):
            continue
        order = rows[np.argsort(-confidence[rows], kind="stable")]
        sorted_conf = confidence[order]
        kept = np.arange(1, len(order) + 1)
        accuracy = np.cumsum(correct[order]) / kept
        unknown_wrong = np.cumsum(unknown[order] & ~correct[order]) / unknown_total
        last_of_tie = np.r_[sorted_conf[1:] != sorted_conf[:-1], True]
        good = np.flatnonzero(last_of_tie & (accuracy >= target_accuracy) & (unknown_wrong <= max_unknown_wrong))
        if len(good):
            i = good[-1]
            candidate = (kept[i], -level, -sorted_conf[i])
            if best is None or candidate > best[0]:
                best = (candidate, level, sorted_conf[i], accuracy[i], unknown_wrong[i])
        i = int(np.argmax(np.where(last_of_tie, accuracy, -1)))
        if fallback is None or accuracy[i] > fallback[3]:
            fallback = ((kept[i], -level, -sorted_conf[i]), level, sorted_conf[i], accuracy[i], unknown_wrong[i])
    chosen = best or fallback
    assert chosen is not None
    (kept_count, _, _), level, threshold, accuracy, unknown_wrong = chosen
    return LabelThresholds(
        float(threshold), float(level), kept_count / total, float(accuracy), float(unknown_wrong), best is not None
    )


def choose_maybe_dog_threshold(
    dog_not_dogs: np.ndarray, would_be_labelled: np.ndarray, *, floor: float, max_labelled: float
) -> float:
    """The lowest dog-probability threshold (at least ``floor``) under which photos go to a person, so that
    at most ``max_labelled`` of these not-dogs would still be labelled (``would_be_labelled``: by the breed rules).
    """
    dog = np.asarray(dog_not_dogs, dtype=np.float64)
    labelled = np.asarray(would_be_labelled, dtype=bool) & (dog >= floor)
    allowed = int(np.floor(max_labelled * len(dog)))
    risky = np.sort(dog[labelled])[::-1]  # the not-dogs the breed rules would label, most dog-like first
    if len(risky) <= allowed:
        return float(floor)
    # everything up to and including the (allowed + 1)-th most dog-like must go to a person
    return float(np.nextafter(risky[allowed], np.inf))
