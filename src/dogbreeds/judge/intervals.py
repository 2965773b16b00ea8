"""Intervals and paired comparisons of test accuracies: how sure is a number, and is a difference real?

- :func:`accuracy_interval`: a 95 % Wilson interval for one accuracy (SciPy's binomial test).
- :func:`paired_comparison`: two models scored on the same photos; the difference, its paired
  bootstrap interval and McNemar's exact test on the photos where they disagree.
- :func:`seeded_comparison`: two training recipes, each run with several seeds on the same photos;
  a bootstrap over photos and seeds at once, so both kinds of noise widen the interval.
- :func:`seeded_interval`: the mean accuracy of several seeds of one recipe, with the same bootstrap.
- :func:`holm_adjust`: Holm's step-down correction of several p-values (a family of comparisons).

A difference whose interval contains 0 is a tie (:func:`verdict`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from dogbreeds.core.errors import DogbreedsError

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000


class IntervalInputError(DogbreedsError, ValueError):
    """Counts or correctness arrays that an interval cannot be computed from."""


@dataclass(frozen=True)
class Interval:
    """A measured share and its interval at ``confidence``."""

    value: float
    low: float
    high: float
    confidence: float = CONFIDENCE

    def contains(self, number: float) -> bool:
        """Whether ``number`` lies inside the interval (bounds included)."""
        return self.low <= number <= self.high

    def text(self, digits: int = 1) -> str:
        """``"87.6 % (86.9-88.3 %)"``, in percent."""
        scale = 100
        return f"{self.value * scale:.{digits}f} % ({self.low * scale:.{digits}f}–{self.high * scale:.{digits}f} %)"

    def signed_text(self, digits: int = 1) -> str:
        """``"+1.2 points (-0.3 to +2.6)"``: a difference in percentage points."""
        scale = 100
        return (
            f"{self.value * scale:+.{digits}f} points "
            f"({self.low * scale:+.{digits}f} to {self.high * scale:+.{digits}f})"
        )


@dataclass(frozen=True)
class Comparison:
    """Model (or recipe) A against B on the same photos: ``difference`` is A's accuracy minus B's.

    ``p_value`` is two-sided (McNemar's exact test for two models, the bootstrap's for seeded recipes);
    ``verdict`` reads the interval: "better" or "worse" when it excludes 0, else "tie".
    """

    accuracy_a: float
    accuracy_b: float
    difference: Interval
    p_value: float
    photos: int
    method: str

    @property
    def verdict(self) -> str:
        """The verdict: "better", "worse" or "tie" (the interval of the difference contains 0)."""
        return verdict(self.difference)


def verdict(difference: Interval) -> str:
    """The verdict: "better" when the whole interval is above 0, "worse" when below, else "tie"."""
    if difference.low > 0:
        return "better"
    if difference.high < 0:
        return "worse"
    return "tie"


def accuracy_interval(correct: int, total: int, confidence: float = CONFIDENCE) -> Interval:
    """The Wilson score interval of ``correct`` right answers out of ``total`` photos."""
    correct, total = int(correct), int(total)
    if total <= 0 or not 0 <= correct <= total:
        raise IntervalInputError(f"Cannot compute an interval for {correct} right out of {total} photos.")
    bounds = stats.binomtest(correct, total).proportion_ci(confidence_level=confidence, method="wilson")
    return Interval(correct / total, float(bounds.low), float(bounds.high), confidence)


def correctness(labels: Sequence[int] | np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """One boolean per photo: is the model's first choice the true label?"""
    labels = np.asarray(labels).reshape(-1)
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 2 or probabilities.shape[0] != labels.shape[0]:
        raise IntervalInputError(
            f"Got {labels.shape[0]} labels and probabilities of shape {probabilities.shape}; "
            "expected one row of class probabilities per label."
        )
    return probabilities.argmax(axis=1) == labels


def paired_comparison(
    correct_a: Sequence[bool] | np.ndarray,
    correct_b: Sequence[bool] | np.ndarray,
    *,
    confidence: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> Comparison:
    """Two models scored on the same photos (one correctness flag per photo each, in the same order).

    The interval of the difference is a paired percentile bootstrap over photos; the p-value is
    McNemar's exact test (a binomial test on the photos exactly one of the two got right).
    """
    a, b = _paired_arrays(correct_a, correct_b)
    rng = np.random.default_rng(seed)
    per_photo = a.astype(np.float64) - b.astype(np.float64)
    samples = rng.integers(0, len(per_photo), size=(resamples, len(per_photo)))
    boot = per_photo[samples].mean(axis=1)
    low, high = np.quantile(boot, [(1 - confidence) / 2, (1 + confidence) / 2])
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    p_value = stats.binomtest(only_a, only_a + only_b).pvalue if only_a + only_b else 1.0
    difference = Interval(float(per_photo.mean()), float(low), float(high), confidence)
    return Comparison(float(a.mean()), float(b.mean()), difference, float(p_value), len(a), "paired bootstrap, McNemar")


def seeded_comparison(
    runs_a: Sequence[Sequence[bool]] | np.ndarray,
    runs_b: Sequence[Sequence[bool]] | np.ndarray,
    *,
    confidence: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> Comparison:
    """Two recipes, each trained with several seeds and scored on the same photos.

    ``runs_*``: one row of correctness flags per seed, the photos in the same order in every
    row. Each bootstrap draw resamples the photos (the same draw for both recipes: paired) and
    each recipe's seeds, so the interval of the difference between the two mean accuracies holds
    both the photo-to-photo and the seed-to-seed noise. The two-sided p-value is twice the share
    of draws on the far side of 0 (at least one draw's worth).
    """
    a, b = np.atleast_2d(np.asarray(runs_a, dtype=bool)), np.atleast_2d(np.asarray(runs_b, dtype=bool))
    if a.shape[1] != b.shape[1] or a.shape[1] == 0:
        raise IntervalInputError(
            f"The two recipes were scored on {a.shape[1]} and {b.shape[1]} photos; they must share the same photos."
        )
    rng = np.random.default_rng(seed)
    photos = a.shape[1]
    boot = np.empty(resamples)
    for draw in range(resamples):
        picked = rng.integers(0, photos, size=photos)
        seeds_a = rng.integers(0, a.shape[0], size=a.shape[0])
        seeds_b = rng.integers(0, b.shape[0], size=b.shape[0])
        boot[draw] = a[np.ix_(seeds_a, picked)].mean() - b[np.ix_(seeds_b, picked)].mean()
    low, high = np.quantile(boot, [(1 - confidence) / 2, (1 + confidence) / 2])
    far_side = min(np.mean(boot <= 0), np.mean(boot >= 0))
    p_value = min(1.0, 2 * max(far_side, 1 / resamples))
    observed = float(a.mean() - b.mean())
    difference = Interval(observed, float(low), float(high), confidence)
    return Comparison(float(a.mean()), float(b.mean()), difference, p_value, photos, "bootstrap over photos and seeds")


def seeded_interval(
    runs: Sequence[Sequence[bool]] | np.ndarray, *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> Interval:
    """The mean accuracy of one or more runs (rows of correctness flags on the same photos), with a 95 % interval.

    One run: Wilson. Several (seeds of one recipe): each bootstrap draw resamples the photos and the
    runs, so the interval holds both the photo-to-photo and the seed-to-seed noise.
    """
    runs = np.atleast_2d(np.asarray(runs, dtype=bool))
    if runs.shape[1] == 0:
        raise IntervalInputError("No photos: an accuracy needs at least one scored photo.")
    if len(runs) == 1:
        return accuracy_interval(int(runs.sum()), runs.shape[1])
    rng = np.random.default_rng(seed)
    boot = np.empty(resamples)
    for draw in range(resamples):
        photos = rng.integers(0, runs.shape[1], size=runs.shape[1])
        seeds = rng.integers(0, len(runs), size=len(runs))
        boot[draw] = runs[np.ix_(seeds, photos)].mean()
    low, high = np.quantile(boot, [(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2])
    return Interval(float(runs.mean()), float(low), float(high))


def holm_adjust(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the input order.

    Compared with a level alpha, they keep the chance of any false "better" or "worse" in the whole
    family of comparisons under alpha (the family-wise error rate), whatever their dependence.
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1 or np.any((p < 0) | (p > 1)) or np.any(np.isnan(p)):
        raise IntervalInputError(f"Holm's correction needs p-values between 0 and 1; got {p_values!r}.")
    order = np.argsort(p, kind="stable")
    ranked = np.minimum(1.0, (len(p) - np.arange(len(p))) * p[order])
    adjusted = np.empty_like(p)
    adjusted[order] = np.maximum.accumulate(ranked)
    return adjusted


def holm_verdicts(comparisons: Sequence[Comparison], alpha: float = 1 - CONFIDENCE) -> list[str]:
    """The verdict, "better", "worse" or "tie", of each comparison of a family, guarded by Holm's correction.

    A difference counts only when its Holm-adjusted p-value is under ``alpha`` and its interval
    excludes 0; otherwise it is a tie.
    """
    adjusted = holm_adjust([comparison.p_value for comparison in comparisons])
    return [comparison.verdict if p < alpha else "tie" for comparison, p in zip(comparisons, adjusted, strict=True)]


def _paired_arrays(correct_a: Sequence[bool] | np.ndarray, correct_b: Sequence[bool] | np.ndarray):
    a, b = np.asarray(correct_a, dtype=bool).reshape(-1), np.asarray(correct_b, dtype=bool).reshape(-1)
    if a.shape != b.shape or a.size == 0:
        raise IntervalInputError(
            f"The two models were scored on {a.size} and {b.size} photos; a paired comparison needs the same photos."
        )
    return a, b
