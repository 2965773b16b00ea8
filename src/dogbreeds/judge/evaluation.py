"""Evaluation metrics for a breed classifier, computed from plain arrays.

Every function takes the true label ids ``y_true`` (N ints in ``0..C-1``) and the
model's ``probabilities`` (an N x C array, one row a photo, one column a breed);
the ones that name breeds also take ``class_names`` (C strings, in label order).
Label ids are never re-numbered: tables and matrices always have one row and one
column per class, even when a small test set lacks some breeds.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import cohen_kappa_score, f1_score
from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix

from dogbreeds.core.errors import DogbreedsError

DEFAULT_CALIBRATION_BINS = 15
DEFAULT_THRESHOLDS = tuple(round(0.05 * step, 2) for step in range(20))

ImageLike = np.ndarray | str | os.PathLike


class EvaluationInputError(DogbreedsError, ValueError):
    """Labels, probabilities or class names that do not fit together."""


def check_predictions(
    y_true: Sequence[int] | np.ndarray,
    probabilities: np.ndarray,
    class_names: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Validate and return ``(y_true, probabilities)`` as int64 and float64 arrays."""
    labels = np.asarray(y_true)
    probs = np.asarray(probabilities, dtype=np.float64)
    if labels.ndim != 1:
        raise EvaluationInputError(
            f"y_true must be a 1-D array of label ids, got shape {labels.shape}; "
            "convert one-hot labels with y_true.argmax(axis=1)."
        )
    if labels.dtype.kind not in "iu" and not (
        labels.dtype.kind == "f" and np.all(np.isfinite(labels)) and np.all(labels == np.round(labels))
    ):
        raise EvaluationInputError(
            f"y_true must hold integer label ids, got dtype {labels.dtype}; "
            "map breed names to ids with the label map first."
        )
    if probs.ndim != 2:
        raise EvaluationInputError(f"probabilities must be a 2-D array (photos x classes), got shape {probs.shape}.")
    if len(labels) != len(probs):
        raise EvaluationInputError(
            f"y_true has {len(labels)} labels but probabilities has {len(probs)} rows; "
            "they must describe the same photos in the same order."
        )
    if len(labels) == 0:
        raise EvaluationInputError("No predictions to evaluate: y_true and probabilities are empty.")
    num_classes = probs.shape[1]
    if num_classes == 0:
        raise EvaluationInputError("probabilities has no columns; it needs one column per class.")
    labels = labels.astype(np.int64)
    if labels.min() < 0 or labels.max() >= num_classes:
        raise EvaluationInputError(
            f"y_true holds label ids outside 0..{num_classes - 1} "
            f"(min {labels.min()}, max {labels.max()}); probabilities has {num_classes} columns."
        )
    if not np.all(np.isfinite(probs)) or probs.min() < -1e-6 or probs.max() > 1 + 1e-6:
        raise EvaluationInputError(
            "probabilities must be finite values in [0, 1]; if the model outputs logits, apply a softmax first."
        )
    if class_names is not None and len(class_names) != num_classes:
        raise EvaluationInputError(
            f"class_names has {len(class_names)} names but probabilities has {num_classes} columns."
        )
    return labels, probs


def predicted_labels(probabilities: np.ndarray) -> np.ndarray:
    """The most probable class of each row (the first one on ties)."""
    return np.asarray(probabilities).argmax(axis=1)


def top_k_accuracy(y_true: Sequence[int] | np.ndarray, probabilities: np.ndarray, k: int = 5) -> float:
    """Share of photos whose true class is among the k most probable; k is capped at C.

    Ties are broken by label order, so ``k=1`` agrees with :func:`predicted_labels`.
    """
    labels, probs = check_predictions(y_true, probabilities)
    if k < 1:
        raise EvaluationInputError(f"k must be at least 1, got {k}.")
    k = min(k, probs.shape[1])
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == labels[:, None], axis=1)))


def macro_f1(y_true: Sequence[int] | np.ndarray, probabilities: np.ndarray) -> float:
    """Unweighted mean F1 over the classes that occur in y_true or in the predictions.

    A class absent from both has an undefined F1 and is left out of the mean.
    """
    labels, probs = check_predictions(y_true, probabilities)
    return float(
        f1_score(
            labels,
            predicted_labels(probs),
            labels=np.arange(probs.shape[1]),
            average="macro",
            zero_division=np.nan,
        )
    )


def cohen_kappa(y_true: Sequence[int] | np.ndarray, probabilities: np.ndarray) -> float:
    """Cohen's kappa between true and predicted labels (NaN when undefined: a single class)."""
    labels, probs = check_predictions(y_true, probabilities)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return float(
            cohen_kappa_score(
                labels,
                predicted_labels(probs),
                labels=np.arange(probs.shape[1]),
                replace_undefined_by=np.nan,
            )
        )


def confusion_matrix(y_true: Sequence[int] | np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """C x C counts: row = true class, column = predicted class."""
    labels, probs = check_predictions(y_true, probabilities)
    return sklearn_confusion_matrix(labels, predicted_labels(probs), labels=np.arange(probs.shape[1]))


def per_breed_accuracy(
    y_true: Sequence[int] | np.ndarray, probabilities: np.ndarray, class_names: Sequence[str]
) -> pd.DataFrame:
    """One row per class in label order: ``label, breed, n, correct, accuracy`` (NaN when n = 0)."""
    labels, probs = check_predictions(y_true, probabilities, class_names)
    num_classes = probs.shape[1]
    hits = predicted_labels(probs) == labels
    n = np.bincount(labels, minlength=num_classes)
    correct = np.bincount(labels, weights=hits, minlength=num_classes).astype(np.int64)
    accuracy = np.where(n > 0, correct / np.maximum(n, 1), np.nan)
    return pd.DataFrame(
        {"label": np.arange(num_classes), "breed": list(class_names), "n": n, "correct": correct, "accuracy": accuracy}
    )


def most_confused_pairs(
    y_true: Sequence[int] | np.ndarray,
    probabilities: np.ndarray,
    class_names: Sequence[str],
    top_n: int = 10,
) -> pd.DataFrame:
    """The top_n (true, predicted) mistakes, most frequent first.

    Columns: ``true_label, predicted_label, true_breed, predicted_breed, count, share``
    where share is count / number of photos of the true breed. Ties are ordered by
    share, then by label ids. Only pairs seen at least once are listed.
    """
    labels, probs = check_predictions(y_true, probabilities, class_names)
    matrix = sklearn_confusion_matrix(labels, predicted_labels(probs), labels=np.arange(probs.shape[1]))
    frame = _ranked_mistakes(matrix)
    frame.insert(2, "true_breed", [class_names[i] for i in frame["true_label"]])
    frame.insert(3, "predicted_breed", [class_names[i] for i in frame["predicted_label"]])
    return frame.head(top_n).reset_index(drop=True)


def _ranked_mistakes(matrix: np.ndarray) -> pd.DataFrame:
    """Every (true, predicted) mistake of a confusion matrix: count, share of the true breed, most frequent first."""
    errors = np.asarray(matrix).copy()
    np.fill_diagonal(errors, 0)
    true_ids, predicted_ids = np.nonzero(errors)
    counts = errors[true_ids, predicted_ids]
    frame = pd.DataFrame(
        {
            "true_label": true_ids,
            "predicted_label": predicted_ids,
            "count": counts,
            "share": counts / np.asarray(matrix).sum(axis=1)[true_ids],
        }
    )
    return frame.sort_values(["count", "share", "true_label", "predicted_label"], ascending=[False, False, True, True])


def most_confused_classes(matrix: np.ndarray, top_n: int) -> np.ndarray:
    """Label ids of the top_n classes most involved in mistakes, in ascending label order.

    The breeds of the most frequent mistakes come first, in the order of
    :func:`most_confused_pairs`, so an excerpt of the matrix shows every pair of that table
    (its first top_n / 2 pairs at least); the other breeds by their mistakes (row + column sums).
    """
    counts = np.asarray(matrix)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise EvaluationInputError(f"A confusion matrix must be square, got shape {counts.shape}.")
    if top_n < 1:
        raise EvaluationInputError(f"top_n must be at least 1, got {top_n}.")
    wanted = min(top_n, len(counts))
    chosen: list[int] = []
    for pair in _ranked_mistakes(counts).itertuples():
        for label in (int(pair.true_label), int(pair.predicted_label)):
            if label not in chosen and len(chosen) < wanted:
                chosen.append(label)
    errors = counts.astype(np.float64).copy()
    np.fill_diagonal(errors, 0)
    involvement = errors.sum(axis=0) + errors.sum(axis=1)
    for label in np.argsort(-involvement, kind="stable"):
        if len(chosen) >= wanted:
            break
        if int(label) not in chosen:
            chosen.append(int(label))
    return np.sort(np.asarray(chosen, dtype=int))


def reliability_table(
    y_true: Sequence[int] | np.ndarray, probabilities: np.ndarray, n_bins: int = DEFAULT_CALIBRATION_BINS
) -> pd.DataFrame:
    """Reliability-diagram data over n_bins equal-width confidence bins.

    Confidence is the top probability of each photo; bin b holds confidences in
    ``(b/n_bins, (b+1)/n_bins]`` (the first bin also holds 0). Columns:
    ``bin_lower, bin_upper, count, confidence`` (mean), ``accuracy``, ``gap``
    (accuracy - confidence; negative = over-confident). Empty bins have NaN means.
    """
    labels, probs = check_predictions(y_true, probabilities)
    if n_bins < 1:
        raise EvaluationInputError(f"n_bins must be at least 1, got {n_bins}.")
    confidence = probs.max(axis=1)
    hits = (predicted_labels(probs) == labels).astype(np.float64)
    edges = np.arange(n_bins + 1) / n_bins
    bins = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(bins, weights=confidence, minlength=n_bins) / count
        accuracy = np.bincount(bins, weights=hits, minlength=n_bins) / count
    return pd.DataFrame(
        {
            "bin_lower": edges[:-1],
            "bin_upper": edges[1:],
            "count": count,
            "confidence": mean_confidence,
            "accuracy": accuracy,
            "gap": accuracy - mean_confidence,
        }
    )


def expected_calibration_error(
    y_true: Sequence[int] | np.ndarray, probabilities: np.ndarray, n_bins: int = DEFAULT_CALIBRATION_BINS
) -> float:
    """ECE: the count-weighted mean of |accuracy - confidence| over equal-width bins."""
    return calibration_errors(reliability_table(y_true, probabilities, n_bins))[0]


def calibration_errors(table: pd.DataFrame) -> tuple[float, float]:
    """(ECE, MCE) from a :func:`reliability_table`."""
    filled = table[table["count"] > 0]
    gaps = filled["gap"].abs().to_numpy()
    weights = filled["count"].to_numpy()
    return float(np.sum(weights * gaps) / np.sum(weights)), float(gaps.max())


def confidence_threshold_table(
    y_true: Sequence[int] | np.ndarray,
    probabilities: np.ndarray,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
) -> pd.DataFrame:
    """What auto-labelling above a confidence threshold would give.

    For each threshold t: ``n_kept`` photos with top probability >= t, ``coverage``
    (their share), ``selective_accuracy`` (accuracy on them; NaN when none is kept).
    The rest would go to a human.
    """
    labels, probs = check_predictions(y_true, probabilities)
    levels = np.asarray(thresholds, dtype=np.float64)
    if levels.ndim != 1 or levels.size == 0 or levels.min() < 0 or levels.max() > 1:
        raise EvaluationInputError("thresholds must be a non-empty list of values in [0, 1].")
    confidence = probs.max(axis=1)
    hits = predicted_labels(probs) == labels
    kept = confidence[None, :] >= levels[:, None]
    n_kept = kept.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        selective = (kept & hits[None, :]).sum(axis=1) / n_kept
    return pd.DataFrame(
        {
            "threshold": levels,
            "n_kept": n_kept,
            "coverage": n_kept / len(labels),
            "selective_accuracy": np.where(n_kept > 0, selective, np.nan),
        }
    )


def coverage_accuracy_curve(
    confidence: Sequence[float] | np.ndarray, correct: Sequence[bool] | np.ndarray
) -> pd.DataFrame:
    """Coverage against accuracy when the photos with ``confidence`` >= t are labelled, for every cut t.

    ``correct`` says whether each photo's answer is right. A photo that may never be
    labelled (another rule sends it to a person) has confidence ``-inf``: it counts in the
    total, never among the kept. One row per distinct finite confidence, highest first:
    ``threshold``, ``n_kept``, ``coverage`` (kept / all photos), ``accuracy`` (right / kept).
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    if confidence.ndim != 1 or confidence.shape != correct.shape or not len(confidence):
        raise EvaluationInputError("confidence and correct must be two non-empty 1-D arrays of one length.")
    order = np.argsort(-confidence, kind="stable")
    sorted_conf = confidence[order]
    finite = np.isfinite(sorted_conf)
    hits = np.cumsum(correct[order])
    kept = np.arange(1, len(order) + 1)
    last_of_tie = np.r_[sorted_conf[1:] != sorted_conf[:-1], True] & finite
    return pd.DataFrame(
        {
            "threshold": sorted_conf[last_of_tie],
            "n_kept": kept[last_of_tie],
            "coverage": kept[last_of_tie] / len(order),
            "accuracy": hits[last_of_tie] / kept[last_of_tie],
        }
    )


def threshold_for_accuracy(table: pd.DataFrame, target_accuracy: float) -> pd.Series | None:
    """The lowest-threshold row of a :func:`confidence_threshold_table` reaching target_accuracy.

    None when no threshold reaches it.
    """
    reached = table[table["selective_accuracy"] >= target_accuracy].sort_values("threshold")
    return None if reached.empty else reached.iloc[0]


@dataclass(frozen=True)
class GalleryItem:
    """One photo of an error gallery and what the model said about it."""

    index: int
    true_breed: str
    predicted_breed: str
    confidence: float
    true_class_probability: float
    image: ImageLike | None


@dataclass(frozen=True)
class ErrorGallery:
    """For one breed: photos it got right, photos of it it missed, photos wrongly called it.

    Each list is sorted by confidence, most confident first.
    """

    breed: str
    true_positives: list[GalleryItem]
    false_negatives: list[GalleryItem]
    false_positives: list[GalleryItem]


def error_gallery(
    y_true: Sequence[int] | np.ndarray,
    probabilities: np.ndarray,
    class_names: Sequence[str],
    breed: str | int,
    images: Sequence[ImageLike] | None = None,
    per_group: int = 6,
) -> ErrorGallery:
    """Pick up to per_group true positives, false negatives and false positives for one breed.

    ``breed`` is a class name or label id; ``images`` (arrays or file paths, one per
    row of probabilities) are attached to the items when given.
    """
    labels, probs = check_predictions(y_true, probabilities, class_names)
    if images is not None and len(images) != len(labels):
        raise EvaluationInputError(f"images has {len(images)} entries but there are {len(labels)} predictions.")
    label = _label_id(breed, class_names)
    predicted = predicted_labels(probs)
    confidence = probs.max(axis=1)

    def items(mask: np.ndarray) -> list[GalleryItem]:
        chosen = np.flatnonzero(mask)
        chosen = chosen[np.argsort(-confidence[chosen], kind="stable")][:per_group]
        return [
            GalleryItem(
                index=int(i),
                true_breed=class_names[labels[i]],
                predicted_breed=class_names[predicted[i]],
                confidence=float(confidence[i]),
                true_class_probability=float(probs[i, labels[i]]),
                image=None if images is None else images[i],
            )
            for i in chosen
        ]

    return ErrorGallery(
        breed=class_names[label],
        true_positives=items((labels == label) & (predicted == label)),
        false_negatives=items((labels == label) & (predicted != label)),
        false_positives=items((labels != label) & (predicted == label)),
    )


def _label_id(breed: str | int, class_names: Sequence[str]) -> int:
    if isinstance(breed, (int, np.integer)):
        if not 0 <= breed < len(class_names):
            raise EvaluationInputError(f"Label id {breed} is outside 0..{len(class_names) - 1}.")
        return int(breed)
    names = list(class_names)
    if breed not in names:
        raise EvaluationInputError(f"Unknown breed {breed!r}; expected one of the class names, e.g. {names[:3]}.")
    return names.index(breed)


def evaluate(
    y_true: Sequence[int] | np.ndarray,
    probabilities: np.ndarray,
    class_names: Sequence[str],
    n_bins: int = DEFAULT_CALIBRATION_BINS,
) -> dict[str, float | int | None]:
    """All scalar metrics, JSON-ready: n, num_classes, top1, top5, macro_f1, kappa, ece, mce.

    top5 uses k = min(5, num_classes). A metric that is undefined on this data
    (kappa with a single class) is None.
    """
    labels, probs = check_predictions(y_true, probabilities, class_names)
    ece, mce = calibration_errors(reliability_table(labels, probs, n_bins))
    metrics: dict[str, float | int | None] = {
        "n": int(len(labels)),
        "num_classes": int(probs.shape[1]),
        "top1": top_k_accuracy(labels, probs, k=1),
        "top5": top_k_accuracy(labels, probs, k=5),
        "macro_f1": macro_f1(labels, probs),
        "kappa": cohen_kappa(labels, probs),
        "ece": ece,
        "mce": mce,
    }
    return {key: None if isinstance(value, float) and math.isnan(value) else value for key, value in metrics.items()}
