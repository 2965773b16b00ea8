"""The shelter's advice: the confidence threshold chosen on validation photos, measured on test photos, in words.

:func:`shelter_advice` picks the lowest confidence whose automatic labels reach the target accuracy
on the validation photos (``evaluation.threshold_for_accuracy``) and measures it on the test photos;
:func:`shelter_markdown` turns the numbers into the recommendation notebook 05 prints,
:func:`threshold_markdown` reads the chosen threshold off its chart and :func:`shipped_model_markdown`
states what the shipped model does for the shelter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dogbreeds.experiments.comparison import ComparisonError, percent
from dogbreeds.judge.evaluation import (
    DEFAULT_THRESHOLDS,
    check_predictions,
    confidence_threshold_table,
    predicted_labels,
    threshold_for_accuracy,
    top_k_accuracy,
)

DEFAULT_TARGET_ACCURACY = 0.95
DEFAULT_MIN_KEPT = 5


@dataclass(frozen=True)
class ShelterAdvice:
    """What the shelter can expect, and where to put the confidence threshold.

    The threshold is chosen on validation photos (the lowest one whose automatic labels
    reach ``target_accuracy`` on at least ``min_kept`` of them, or on all when there are fewer) and then measured on the
    test photos, so the test numbers are an honest estimate. ``threshold`` is None when
    no threshold reaches the target: then every photo goes to a human.
    """

    n_validation: int
    n_test: int
    top1: float
    top5: float
    overconfidence: float  # mean top confidence - top-1 accuracy on test (> 0: over-confident)
    target_accuracy: float
    threshold: float | None
    validation_accuracy: float | None  # accuracy of the automatic labels on validation at the threshold
    automatic_share: float  # share of test photos labelled automatically
    automatic_accuracy: float | None  # accuracy on those photos (None when none is kept)
    best_validation_accuracy: float | None  # the highest accuracy any threshold gave on validation

    @property
    def human_share(self) -> float:
        """Share of test photos a person has to label."""
        return 1.0 - self.automatic_share


def shelter_advice(
    val_true: Sequence[int] | np.ndarray,
    val_probabilities: np.ndarray,
    test_true: Sequence[int] | np.ndarray,
    test_probabilities: np.ndarray,
    target_accuracy: float = DEFAULT_TARGET_ACCURACY,
    min_kept: int = DEFAULT_MIN_KEPT,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
) -> ShelterAdvice:
    """Expected accuracy and the auto-labelling threshold, chosen on validation, measured on test."""
    if not 0 < target_accuracy <= 1:
        raise ComparisonError(f"target_accuracy must be in (0, 1], got {target_accuracy}.")
    if min_kept < 1:
        raise ComparisonError(f"min_kept must be at least 1, got {min_kept}.")
    val_labels, val_probs = check_predictions(val_true, val_probabilities)
    test_labels, test_probs = check_predictions(test_true, test_probabilities)
    validation = confidence_threshold_table(val_labels, val_probs, thresholds)
    trusted = validation[validation["n_kept"] >= min(min_kept, len(val_labels))]
    chosen = threshold_for_accuracy(trusted, target_accuracy)
    best_validation = float(trusted["selective_accuracy"].max()) if not trusted.empty else None
    top1 = top_k_accuracy(test_labels, test_probs, k=1)
    common = {
        "n_validation": len(val_labels),
        "n_test": len(test_labels),
        "top1": top1,
        "top5": top_k_accuracy(test_labels, test_probs, k=5),
        "overconfidence": float(test_probs.max(axis=1).mean() - top1),
        "target_accuracy": target_accuracy,
        "best_validation_accuracy": best_validation,
    }
    if chosen is None:
        return ShelterAdvice(
            threshold=None, validation_accuracy=None, automatic_share=0.0, automatic_accuracy=None, **common
        )
    kept = test_probs.max(axis=1) >= chosen["threshold"]
    hits = predicted_labels(test_probs) == test_labels
    return ShelterAdvice(
        threshold=float(chosen["threshold"]),
        validation_accuracy=float(chosen["selective_accuracy"]),
        automatic_share=float(kept.mean()),
        automatic_accuracy=float(hits[kept].mean()) if kept.any() else None,
        **common,
    )


def shelter_markdown(advice: ShelterAdvice, model: str, num_classes: int, transfer: bool = True) -> str:
    """The conclusion for the shelter, in plain words, from the measured numbers."""
    five = f", and has it among its five suggestions for **{percent(advice.top5)}**." if num_classes > 5 else "."
    lines = [
        "### This run's own model",
        "",
        f"**What to expect.** On {advice.n_test} test photos it never saw, **{model}** names the right breed "
        f"(out of {num_classes}) first for **{percent(advice.top1)}** of the dogs{five}",
        "",
        _no_threshold_paragraph(advice) if advice.threshold is None else _threshold_paragraphs(advice),
        "",
        _calibration_sentence(advice.overconfidence),
        "",
        _caveat(num_classes, transfer),
    ]
    return "\n".join(lines)


def _no_threshold_paragraph(advice: ShelterAdvice) -> str:
    best = (
        ""
        if advice.best_validation_accuracy is None
        else f" (the best any threshold reached was {percent(advice.best_validation_accuracy)})"
    )
    return (
        f"**Automatic labelling: not yet.** No confidence threshold kept the automatic labels at "
        f"{percent(advice.target_accuracy)} accuracy on the validation photos{best}. Use the model to *suggest* "
        "its five most likely breeds to the person labelling each photo, and send every photo to a person."
    )


def _threshold_paragraphs(advice: ShelterAdvice) -> str:
    confirmed = advice.automatic_accuracy is None or advice.automatic_accuracy >= advice.target_accuracy
    heading = (
        "A threshold that the test photos did not confirm"
        if not confirmed
        else "Automatic labelling of every photo"
        if advice.threshold == 0
        else f"Automatic labelling above a confidence of {advice.threshold:.2f}"
    )
    kept = (
        "(none of the test photos was that confident)"
        if advice.automatic_accuracy is None
        else f"with **{percent(advice.automatic_accuracy)}** of them correct"
    )
    text = (
        f"**{heading}.** This was decided on the {advice.n_validation} validation photos, where the automatic "
        f"labels reached {percent(advice.validation_accuracy)} (target {percent(advice.target_accuracy)}). On "
        f"the test photos it labels **{percent(advice.automatic_share)}** of the dogs automatically, {kept}, and "
        f"sends **{percent(advice.human_share)}** to a person, who sees the model's suggestions."
    )
    if confirmed:
        return text
    return text + (
        f"\n\n**Not confirmed on the test photos:** there the automatic labels fall short of the "
        f"{percent(advice.target_accuracy)} target, so a threshold set on {advice.n_validation} "
        "validation photos does not hold. Confirm one on a larger labelled set (the table above shows "
        "the trade-off on the test photos); until then, let a person check every photo, with the "
        "model's suggestions."
    )


def _caveat(num_classes: int, transfer: bool) -> str:
    if transfer:
        return (
            "**Caveat.** The backbone was pre-trained on ImageNet, and Stanford Dogs was built from ImageNet "
            "photos: the backbone has very likely seen many of these test photos during pre-training, so the "
            "numbers above are optimistic. Shelter photos (other cameras, lighting, mixed breeds, breeds outside "
            f"the {num_classes} learnt) will score lower: check the threshold on a few hundred of the shelter's own "
            "labelled photos before relying on it, and always let a person correct a label."
        )
    return (
        "**Caveat.** Shelter photos (other cameras, lighting, mixed breeds, breeds outside the "
        f"{num_classes} learnt) will score lower than these test photos: check the threshold on the shelter's "
        "own labelled photos before relying on it."
    )


def threshold_markdown(advice: ShelterAdvice) -> str:
    """The chosen threshold on the chart of test photos: the share labelled without a person and their accuracy."""
    if advice.threshold is None or advice.automatic_accuracy is None:
        return "No threshold reached the target on the validation photos: every photo goes to a person."
    return (
        f"On the chart, the chosen threshold ({advice.threshold:.2f}, set on {advice.n_validation:,} validation "
        f"photos) labels **{advice.automatic_share:.0%}** of the test photos without a person, "
        f"**{advice.automatic_accuracy:.1%}** of them right, against {advice.top1:.1%} for all photos at threshold 0."
    )


def shipped_model_markdown(
    official: Mapping[str, Any],
    by_status: pd.DataFrame,
    folder: str,
    confidence_threshold: float,
    dog_threshold: float,
    detector_threshold: float = 0.0,
) -> str:
    """What the shipped model does for the shelter, from its record's ``official`` test metrics and the run's labels.

    ``by_status`` is :func:`status_summary` of the labels it wrote for the whole test
    photos of ``folder`` (index: status; columns ``photos``, ``share``, ``accuracy``).
    """
    at_threshold = official["at_threshold"]
    photos = int(by_status["photos"].sum())
    detector = f", or that the dog detector gives under {detector_threshold:.2f}," if detector_threshold else ""
    if "labelled" in by_status.index:
        labelled = by_status.loc["labelled"]
        here = (
            f"On the {photos:,} whole test photos of {folder} it labels **{labelled['share']:.0%}** without a person, "
            f"**{labelled['accuracy']:.1%}** of them correctly"
        )
    else:
        here = f"On the {photos:,} whole test photos of {folder} it labels none without a person"
    return (
        f"**For the shelter.** On the official test list (120 breeds, {official['n']:,} photos), the shipped model "
        f"names the right breed first for **{official['top1']:.1%}** of the dogs and among its top 5 for "
        f"{official['top5']:.1%}. Above its confidence threshold ({confidence_threshold:.2f}) it labels "
        f"**{at_threshold['coverage']:.0%}** of them without a person, **{at_threshold['accuracy']:.1%}** correctly; "
        f"the rest go to a person with its three best guesses. {here}. Photos whose ImageNet dog probability is under "
        f"{dog_threshold:.2f}{detector} are called *not a dog* ({official['dogs_flagged_not_a_dog']:.1%} of the dog "
        "photos of the test list). ImageNet contains the Stanford Dogs photos, so the backbone may have seen these "
        "test photos: for a shelter, expect the figures measured on the pet photos that are not ImageNet's."
    )


def same_recipe_markdown(run_name: str, data_hash: str | None, top1: float, shipped: Mapping[str, Any]) -> str:
    """Whether this run's studied model is the shipped model's recipe on the same photos, with both top-1.

    ``shipped`` is the shipped model's record (``params.recipe`` names the recipe's run, ``data.hash``
    its photos, ``params.shelter_photos`` the pet photos it also learnt from); ``run_name`` and ``data_hash``
    are the studied model's.
    """
    official = shipped["metrics"]
    if shipped["params"].get("recipe") != run_name or shipped["data"]["hash"] != data_hash:
        return (
            "This run's studied model is not the shelter's model (another recipe, or other photos), so the "
            "threshold below is its own: the shelter's model keeps the thresholds chosen on the pet photos above."
        )
    pets = shipped["params"].get("shelter_photos")
    if pets:
        photos = (
            "on the same crops; the shelter's model also learnt from the whole photos of the choosing half of the pet "
            f"dogs ({pets['weight']} times each, with their mirror images), which costs it a little on these crops: "
        )
    else:
        photos = "on the same photos: "
    return (
        f"This run's studied model is trained by the same recipe as the shelter's model, {photos}"
        f"top-1 **{top1:.1%}** here, {official['top1']:.1%} for the shipped model on its {official['n']:,} test "
        "photos. The threshold below is chosen on this run's validation photos, which come from ImageNet; the "
        "shelter's model keeps the thresholds chosen on the pet photos above, where the model is less sure of itself."
    )


def _calibration_sentence(overconfidence: float) -> str:
    if abs(overconfidence) < 0.05:
        return (
            f"**Confidence.** The model's confidence matches its accuracy closely (on average it is "
            f"{abs(overconfidence):.0%} {'above' if overconfidence >= 0 else 'below'}), so its percentages can "
            "be read as probabilities."
        )
    if overconfidence > 0:
        return (
            f"**Confidence.** The model is over-confident: its average confidence is {overconfidence:.0%} "
            "above its accuracy, so a displayed percentage overstates the chance of being right."
        )
    return (
        f"**Confidence.** The model is under-confident: its average confidence is {-overconfidence:.0%} "
        "below its accuracy, so it is right more often than its percentages say."
    )
