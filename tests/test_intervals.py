"""Intervals and paired comparisons (dogbreeds.judge.intervals), against values worked out by hand."""

import math

import numpy as np
import pytest

from dogbreeds.judge import intervals
from dogbreeds.judge.intervals import (
    Interval,
    IntervalInputError,
    accuracy_interval,
    correctness,
    holm_adjust,
    holm_verdicts,
    paired_comparison,
    seeded_comparison,
)


def wilson_by_hand(correct, total, z=1.959963984540054):
    p = correct / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z / (1 + z * z / total) * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return centre - half, centre + half


@pytest.mark.parametrize("correct,total", [(8, 10), (0, 20), (7516, 8580), (501, 501)])
def test_wilson_interval_matches_the_formula(correct, total):
    interval = accuracy_interval(correct, total)
    low, high = wilson_by_hand(correct, total)
    assert interval.value == pytest.approx(correct / total)
    assert interval.low == pytest.approx(low, abs=1e-9)
    assert interval.high == pytest.approx(high, abs=1e-9)
    assert interval.contains(correct / total)


def test_wilson_interval_on_the_official_test_list_is_under_a_point():
    interval = accuracy_interval(7516, 8580)  # 87.6 %
    assert 0.006 < (interval.high - interval.low) / 2 < 0.008
    assert interval.text() == "87.6 % (86.9–88.3 %)"


@pytest.mark.parametrize("correct,total", [(3, 2), (-1, 5), (0, 0)])
def test_impossible_counts_are_refused(correct, total):
    with pytest.raises(IntervalInputError, match="right out of"):
        accuracy_interval(correct, total)


def test_correctness_reads_the_first_choice():
    probabilities = np.array([[0.7, 0.3], [0.4, 0.6], [0.9, 0.1]])
    assert correctness([0, 0, 1], probabilities).tolist() == [True, False, False]
    with pytest.raises(IntervalInputError, match="one row"):
        correctness([0, 1], probabilities)


def test_mcnemar_on_the_photos_where_models_disagree():
    a = np.array([True] * 10 + [True] * 50 + [False] * 40)
    b = np.array([False] * 10 + [True] * 50 + [False] * 40)
    result = paired_comparison(a, b)
    assert result.p_value == pytest.approx(2 * 0.5**10)
    assert result.difference.value == pytest.approx(0.10)
    assert result.difference.low > 0 and result.verdict == "better"
    assert paired_comparison(b, a).verdict == "worse"


def test_identical_models_tie():
    a = np.random.default_rng(1).random(300) < 0.8
    result = paired_comparison(a, a.copy())
    assert result.p_value == 1.0
    assert result.difference.low == result.difference.high == 0.0
    assert result.verdict == "tie"


def test_a_small_difference_on_few_photos_is_a_tie():
    a = np.array([True] * 2 + [True] * 40 + [False] * 58)
    b = np.array([False] * 2 + [True] * 40 + [False] * 58)
    result = paired_comparison(a, b)
    assert result.difference.value == pytest.approx(0.02)
    assert result.difference.contains(0.0)
    assert result.verdict == "tie"


def test_paired_comparison_needs_the_same_photos():
    with pytest.raises(IntervalInputError, match="same photos"):
        paired_comparison([True, False], [True])


def test_seeded_comparison_widens_with_the_seed_spread():
    rng = np.random.default_rng(0)
    photos = 500
    truth = rng.random(photos)
    steady_a = np.stack([truth < 0.60 for _ in range(3)])
    steady_b = np.stack([truth < 0.50 for _ in range(3)])
    steady = seeded_comparison(steady_a, steady_b)
    assert steady.difference.value == pytest.approx(0.10, abs=0.03)
    assert steady.verdict == "better" and steady.p_value < 0.01
    # the same means, but the seeds of A land anywhere between 40 % and 80 %
    noisy_a = np.stack([truth < share for share in (0.40, 0.60, 0.80)])
    noisy = seeded_comparison(noisy_a, steady_b)
    width = noisy.difference.high - noisy.difference.low
    assert width > 2 * (steady.difference.high - steady.difference.low)
    assert noisy.verdict == "tie"


def test_seeded_comparison_needs_the_same_photos():
    with pytest.raises(IntervalInputError, match="same photos"):
        seeded_comparison(np.ones((3, 10), bool), np.ones((3, 11), bool))


def test_holm_adjustment_by_hand():
    adjusted = holm_adjust([0.01, 0.04, 0.03, 0.005])
    assert adjusted.tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm_adjust([0.5, 0.9]).tolist() == pytest.approx([1.0, 1.0])
    with pytest.raises(IntervalInputError):
        holm_adjust([0.2, 1.5])


def test_holm_verdicts_turn_a_lone_unadjusted_win_into_a_tie():
    def comparison(p, low):
        return intervals.Comparison(0.5, 0.4, Interval(0.1, low, 0.2), p, 100, "test")

    family = [comparison(0.001, 0.05)] + [comparison(0.02, 0.01)] + [comparison(0.5, -0.1)] * 10
    # unadjusted, the second would be "better"; 12 comparisons * 0.02 is over 0.05
    assert [c.verdict for c in family[:2]] == ["better", "better"]
    assert holm_verdicts(family)[:3] == ["better", "tie", "tie"]


def test_signed_text_reads_in_points():
    assert Interval(0.012, -0.003, 0.026).signed_text() == "+1.2 points (-0.3 to +2.6)"
