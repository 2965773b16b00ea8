"""Calibration on arrays: temperature scaling and the confidence threshold for a target accuracy.

A classifier's top probability is only useful as "how sure" if it is calibrated: of the
photos given 80 %, about 80 % should be right. Temperature scaling (Guo et al., 2017)
divides the logits by one number ``T`` fitted on validation data (``T > 1`` softens an
over-confident model); it never changes which breed comes first, also when several views of a photo
are averaged (:func:`view_probabilities`)::

    t = fit_temperature(val_logits, val_labels)
    probabilities = softmax(test_logits / t)
    threshold = confidence_threshold(val_labels, softmax(val_logits / t), target_accuracy=0.95)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, logsumexp
from scipy.special import softmax as _softmax

from dogbreeds.judge.evaluation import EvaluationInputError, check_predictions, predicted_labels

TEMPERATURE_BOUNDS = (0.05, 20.0)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature``."""
    if temperature <= 0:
        raise EvaluationInputError(f"temperature must be > 0, got {temperature}.")
    return _softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=-1)


def view_probabilities(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Probabilities of logits (N, classes) at ``temperature``, or of several views' logits (views, N, classes).

    Views are averaged first (the mean of their probabilities, as test-time augmentation does),
    then the mean is tempered as one prediction, ``softmax(log(mean) / temperature)``: the
    temperature never changes which breed comes first.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 3:
        return softmax(logits, temperature)
    log_mean = logsumexp(log_softmax(logits, axis=-1), axis=0) - np.log(len(logits))
    return softmax(log_mean, temperature)


def negative_log_likelihood(logits: np.ndarray, labels: Sequence[int] | np.ndarray, temperature: float = 1.0) -> float:
    """Mean cross-entropy of the true labels under :func:`view_probabilities` at ``temperature``."""
    labels = np.asarray(labels, dtype=np.int64)
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim == 2:
        log_p = log_softmax(logits / temperature, axis=1)[np.arange(len(labels)), labels]
    else:
        log_p = np.log(np.maximum(view_probabilities(logits, temperature)[np.arange(len(labels)), labels], 1e-300))
    return float(-log_p.mean())


def fit_temperature(logits: np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of ``labels`` (bounded search).

    ``logits`` is (N, classes), or (views, N, classes) when predictions average several
    views of each photo (e.g. the photo and its mirror image).
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if logits.ndim not in (2, 3) or logits.shape[-2] != len(labels) or len(labels) == 0:
        raise EvaluationInputError(
            f"fit_temperature needs (N, classes) or (views, N, classes) logits and N labels, "
            f"got {logits.shape} and {labels.shape}."
        )
    if labels.min() < 0 or labels.max() >= logits.shape[-1]:
        raise EvaluationInputError(f"labels must lie in 0..{logits.shape[-1] - 1}.")
    result = minimize_scalar(
        lambda log_t: negative_log_likelihood(logits, labels, float(np.exp(log_t))),
        bounds=tuple(np.log(TEMPERATURE_BOUNDS)),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(result.x))


@dataclass(frozen=True)
class Threshold:
    """A confidence threshold and what it gives on the data it was measured on."""

    threshold: float
    coverage: float
    accuracy: float
    kept: int
    total: int

    def to_dict(self) -> dict[str, float | int]:
        return {
            "threshold": self.threshold,
            "coverage": self.coverage,
            "accuracy": self.accuracy,
            "kept": self.kept,
            "total": self.total,
        }


def threshold_metrics(y_true: Sequence[int] | np.ndarray, probabilities: np.ndarray, threshold: float) -> Threshold:
    """Coverage and accuracy of the photos whose top probability is at least ``threshold``."""
    labels, probs = check_predictions(y_true, probabilities)
    kept = probs.max(axis=1) >= threshold
    hits = predicted_labels(probs) == labels
    accuracy = float(hits[kept].mean()) if kept.any() else float("nan")
    return Threshold(float(threshold), float(kept.mean()), accuracy, int(kept.sum()), len(labels))


def confidence_threshold(
    y_true: Sequence[int] | np.ndarray, probabilities: np.ndarray, *, target_accuracy: float = 0.95
) -> Threshold:
    """The lowest threshold whose kept photos reach ``target_accuracy`` (largest coverage that does).

    Every distinct top probability is a candidate, so the answer is exact on these data.
    When no threshold reaches the target, the one with the best accuracy is returned
    (its ``accuracy`` then says the target was missed).
    """
    if not 0 < target_accuracy <= 1:
        raise EvaluationInputError(f"target_accuracy must lie in (0, 1], got {target_accuracy}.")
    labels, probs = check_predictions(y_true, probabilities)
    confidence = probs.max(axis=1)
    order = np.argsort(-confidence, kind="stable")
    hits = (predicted_labels(probs) == labels)[order].astype(np.float64)
    kept = np.arange(1, len(hits) + 1)
    running = np.cumsum(hits) / kept
    sorted_conf = confidence[order]
    # Only cut between distinct confidences: ties are kept or dropped together.
    last_of_tie = np.r_[sorted_conf[1:] != sorted_conf[:-1], True]
    reached = np.flatnonzero(last_of_tie & (running >= target_accuracy))
    position = reached[-1] if len(reached) else int(np.argmax(np.where(last_of_tie, running, -1)))
    return threshold_metrics(labels, probs, float(sorted_conf[position]))
