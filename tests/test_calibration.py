"""Temperature scaling and the confidence threshold for a target accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from dogbreeds.judge.calibration import (
    confidence_threshold,
    fit_temperature,
    negative_log_likelihood,
    softmax,
    threshold_metrics,
    view_probabilities,
)
from dogbreeds.judge.evaluation import EvaluationInputError, expected_calibration_error


def overconfident(n: int = 4000, classes: int = 10, scale: float = 3.0, seed: int = 0):
    """Logits of a model whose true temperature is ``scale``: its softmax is over-confident."""
    rng = np.random.default_rng(seed)
    true_logits = rng.normal(0, 1.5, (n, classes))
    labels = np.array([rng.choice(classes, p=row) for row in softmax(true_logits)])
    return true_logits * scale, labels


def test_fitted_temperature_recovers_the_scale_and_lowers_ece():
    logits, labels = overconfident(scale=3.0)
    temperature = fit_temperature(logits, labels)
    assert temperature == pytest.approx(3.0, rel=0.1)
    before = expected_calibration_error(labels, softmax(logits))
    after = expected_calibration_error(labels, softmax(logits, temperature))
    assert after < before / 3
    assert negative_log_likelihood(logits, labels, temperature) < negative_log_likelihood(logits, labels)
    # Scaling never changes the predicted class.
    assert np.array_equal(softmax(logits).argmax(1), softmax(logits, temperature).argmax(1))


def test_temperature_of_view_averages_and_its_validation():
    logits, labels = overconfident(n=1500, scale=2.0)
    views = np.stack([logits, logits + np.random.default_rng(1).normal(0, 0.1, logits.shape)])
    assert fit_temperature(views, labels) == pytest.approx(2.0, rel=0.15)
    assert view_probabilities(views).shape == logits.shape
    # at temperature 1 the views' probabilities are averaged, as test-time augmentation does
    np.testing.assert_allclose(view_probabilities(views), (softmax(views[0]) + softmax(views[1])) / 2)
    # a temperature tempers the mean as one prediction: it never changes the first breed nor the order
    near_ties = np.stack([np.array([[4.0, 0.0, 3.9]]), np.array([[0.0, 4.0, 3.9]])])
    for temperature in (0.05, 1.0, 2.5):  # averaging after tempering would pick breed 0 or 1 at 0.05
        tempered = view_probabilities(near_ties, temperature)
        assert tempered.sum() == pytest.approx(1.0)
        assert tempered.argmax(1) == view_probabilities(near_ties).argmax(1) == [2]
    with pytest.raises(EvaluationInputError):
        fit_temperature(logits, labels[:-1])
    with pytest.raises(EvaluationInputError):
        fit_temperature(logits, labels + 10)
    with pytest.raises(EvaluationInputError):
        softmax(logits, 0.0)


def test_confidence_threshold_is_the_lowest_that_reaches_the_target():
    # Confidences 0.9..0.5; the two least confident photos are wrong.
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.6, 0.4], [0.55, 0.45]])
    labels = np.array([0, 0, 0, 1, 1])
    chosen = confidence_threshold(labels, probabilities, target_accuracy=0.95)
    assert chosen.threshold == pytest.approx(0.7)
    assert (chosen.kept, chosen.coverage, chosen.accuracy) == (3, 0.6, 1.0)
    assert confidence_threshold(labels, probabilities, target_accuracy=0.75).threshold == pytest.approx(0.6)
    metrics = threshold_metrics(labels, probabilities, 0.0)
    assert (metrics.coverage, metrics.accuracy) == (1.0, 0.6)


def test_ties_are_kept_or_dropped_together_and_a_missed_target_says_so():
    probabilities = np.array([[0.8, 0.2], [0.8, 0.2], [0.6, 0.4]])
    labels = np.array([0, 1, 0])
    chosen = confidence_threshold(labels, probabilities, target_accuracy=0.9)
    assert chosen.accuracy < 0.9  # no threshold gives 90 %: the best one is returned
    assert chosen.kept in (2, 3)
    with pytest.raises(EvaluationInputError):
        confidence_threshold(labels, probabilities, target_accuracy=1.5)
