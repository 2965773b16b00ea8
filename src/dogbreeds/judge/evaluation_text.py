"""What a model's test predictions show, in words: notebooks 04 and 05 print these sentences.

Each function takes the tables of :mod:`dogbreeds.judge.evaluation` (or plain arrays) and returns Markdown:

    Markdown(per_breed_markdown(evaluation.per_breed_accuracy(test.labels, test.probabilities, names)))
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from dogbreeds.core.words import counted
from dogbreeds.judge.evaluation import ErrorGallery, predicted_labels

HIGH_CONFIDENCE = 0.9
"""The confidence :func:`calibration_markdown` counts the photos at or above."""
LOW_ACCURACY = 0.7
"""The accuracy :func:`per_breed_markdown` counts the breeds under."""


def _verb(count: int, singular: str, plural: str) -> str:
    return singular if count == 1 else plural


def confusion_markdown(
    pairs: pd.DataFrame, top1: float, labels: Sequence[int] | np.ndarray, probabilities: np.ndarray
) -> str:
    """Reading the confusion matrix: top-1 and the pairs of :func:`most_confused_pairs`."""
    start = f"Reading the matrix: the right breed gets **{top1:.1%}** of the test photos"
    if pairs.empty:
        return f"{start}, and there is no mistake to read."
    mistakes = int((predicted_labels(probabilities) != np.asarray(labels)).sum())
    top = pairs.iloc[0]
    return (
        f"{start}; the mistakes gather in a few look-alike pairs rather than spreading evenly. The most frequent "
        f"one is *{top.true_breed}* taken for *{top.predicted_breed}*: {counted(int(top['count']), 'photo')}, "
        f"{top.share:.0%} of that breed's test photos. The {counted(len(pairs), 'pair')} above "
        f"{_verb(len(pairs), 'holds', 'hold')} {int(pairs['count'].sum())} of the {counted(mistakes, 'mistake')}."
    )


def per_breed_markdown(per_breed: pd.DataFrame) -> str:
    """The range of :func:`per_breed_accuracy`: weakest, strongest, median breed."""
    rated = per_breed.dropna(subset=["accuracy"]).sort_values("accuracy")
    if rated.empty:
        return "No breed has test photos, so there is no accuracy per breed."
    weakest, strongest = rated.iloc[0], rated.iloc[-1]
    under = int((rated["accuracy"] < LOW_ACCURACY).sum())
    return (
        f"Per-breed test accuracy ranges from **{weakest.accuracy:.0%}** (*{weakest.breed}*, "
        f"{counted(int(weakest.n), 'photo')}) to **{strongest.accuracy:.0%}** (*{strongest.breed}*); the median "
        f"breed is at {rated['accuracy'].median():.0%}, and {under} of {counted(len(rated), 'breed')} "
        f"{_verb(under, 'is', 'are')} under {LOW_ACCURACY:.0%}."
    )


def worst_breed_markdown(breed: str, per_breed: pd.DataFrame, gallery: ErrorGallery) -> str:
    """The weakest breed's score (a row of ``per_breed``) and what its :func:`error_gallery` shows."""
    row = per_breed.set_index("breed").loc[breed]
    text = (
        f"*{breed}*, the weakest breed: {int(row.correct)} of {counted(int(row.n), 'test photo')} right "
        f"({row.accuracy:.0%})."
    )
    missed = pd.Series([item.predicted_breed for item in gallery.false_negatives]).value_counts()
    if not missed.empty:
        text += (
            f" Among the missed photos shown, the model answered *{missed.index[0]}* most often "
            f"({missed.iloc[0]} of {len(gallery.false_negatives)})."
        )
    wrongly = len(gallery.false_positives)
    if not wrongly:
        return f"{text} No photo of another breed was called *{breed}*."
    return (
        f"{text} {counted(wrongly, 'photo')} of other breeds called *{breed}* {_verb(wrongly, 'is', 'are')} "
        "shown in the last row."
    )


def calibration_markdown(reliability: pd.DataFrame, ece: float, probabilities: np.ndarray) -> str:
    """The calibration error, the bin of :func:`reliability_table` furthest off, the confident photos."""
    confident = int((np.asarray(probabilities).max(axis=1) >= HIGH_CONFIDENCE).sum())
    filled = reliability[reliability["count"] > 0]
    worst = filled.loc[filled["gap"].abs().idxmax()]
    return (
        f"Calibration error (ECE): **{ece:.3f}**. The largest gap is in the bin of confidence "
        f"{worst.bin_lower:.1f}-{worst.bin_upper:.1f} ({counted(int(worst['count']), 'photo')}): mean confidence "
        f"{worst.confidence:.0%}, accuracy {worst.accuracy:.0%}. {confident:,} of the "
        f"{counted(len(probabilities), 'test photo')} {_verb(confident, 'gets', 'get')} a confidence of "
        f"{HIGH_CONFIDENCE:.0%} or more."
    )


def predictions_markdown(labels: Sequence[int] | np.ndarray, probabilities: np.ndarray, shown: Sequence[int]) -> str:
    """How many of the photos ``shown`` (rows of ``probabilities``) get the right breed first."""
    right = int((predicted_labels(np.asarray(probabilities)[list(shown)]) == np.asarray(labels)[list(shown)]).sum())
    return f"{right} of these {counted(len(shown), 'photo')} {_verb(right, 'gets', 'get')} the right breed first."


def gradcam_markdown(
    true_breeds: Sequence[str], predicted_breeds: Sequence[str], confidences: Sequence[float], heatmaps: np.ndarray
) -> str:
    """How many Grad-CAM photos are right, how confident, and how much heat lies in the central quarter."""
    hits = sum(true == predicted for true, predicted in zip(true_breeds, predicted_breeds))
    heat = np.asarray(heatmaps, dtype=float)
    height, width = heat.shape[1:3]
    centre = heat[:, height // 4 : height - height // 4, width // 4 : width - width // 4].sum(axis=(1, 2))
    central = centre / heat.sum(axis=(1, 2)).clip(1e-12)
    return (
        f"{hits} of the {counted(len(true_breeds), 'photo')} {_verb(hits, 'gets', 'get')} the right breed, with "
        f"confidences from {min(confidences):.0%} to {max(confidences):.0%}. On average {central.mean():.0%} of "
        "each heat map's weight lies in the central quarter of the photo (a quarter of its area), where the dog "
        "usually is; the rest is on the edges."
    )
