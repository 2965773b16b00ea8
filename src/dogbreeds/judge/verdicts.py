"""Verdicts of an ablation table: is each variant better, worse or a tie against its control, given the noise?"""

from __future__ import annotations

import math

import pandas as pd
from scipy import stats

from dogbreeds.core.errors import DogbreedsError

_TOLERANCE = 1e-9  # a difference of exactly the noise level (e.g. two photos) is a tie despite rounding


class VerdictError(DogbreedsError, ValueError):
    """An ablation table that lacks what a verdict needs."""


def ablation_verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """The table with ``noise`` and ``verdict`` columns: "better", "worse" or "tie" against the control.

    A difference counts only when it is larger than the noise, the largest of: twice the
    standard error of the difference between two accuracies on ``test_images`` photos
    (binomial, about a 95 % band), the 95 % half-width of Welch's t-interval for the
    difference between the two means over seeds (with several seeds each), and two photos.
    The reference row gets "reference" and no noise.
    """
    missing = sorted(
        {"variant", "control", "test_accuracy", "test_delta", "test_accuracy_std", "test_images", "seeds"}
        - set(table.columns)
    )
    if missing:
        raise VerdictError(f"The table lacks {missing}; build it with ablation_table().")
    accuracy = dict(zip(table["variant"], table["test_accuracy"]))
    std = dict(zip(table["variant"], table["test_accuracy_std"]))
    seeds = dict(zip(table["variant"], table["seeds"]))
    noise, verdicts = [], []
    for row in table.itertuples():
        if not isinstance(row.control, str):  # None (or NaN once in a table): the reference
            noise.append(math.nan)
            verdicts.append("reference")
            continue
        n, mine, theirs = row.test_images, row.test_accuracy, accuracy[row.control]
        standard_error = math.sqrt(mine * (1 - mine) / n + theirs * (1 - theirs) / n)
        seed_level = welch_half_width(row.test_accuracy_std, row.seeds, std[row.control], seeds[row.control])
        level = max(2.0 * standard_error, seed_level if math.isfinite(seed_level) else 0.0, 2.0 / n)
        noise.append(level)
        if row.test_delta > level + _TOLERANCE:
            verdicts.append("better")
        elif row.test_delta < -level - _TOLERANCE:
            verdicts.append("worse")
        else:
            verdicts.append("tie")
    return table.assign(noise=noise, verdict=verdicts)


def welch_half_width(std_a: float, runs_a: int, std_b: float, runs_b: int, confidence: float = 0.95) -> float:
    """Half-width of Welch's t-interval for a difference between two means over seeds.

    ``std_*`` are the sample standard deviations (ddof=1) of ``runs_*`` runs. NaN when
    either side has fewer than two runs; 0 when neither varies.
    """
    if runs_a < 2 or runs_b < 2 or not (math.isfinite(std_a) and math.isfinite(std_b)):
        return math.nan
    a, b = std_a**2 / runs_a, std_b**2 / runs_b
    if a + b == 0:
        return 0.0
    freedom = (a + b) ** 2 / (a**2 / (runs_a - 1) + b**2 / (runs_b - 1))  # Welch-Satterthwaite
    return float(stats.t.ppf(0.5 + confidence / 2, freedom) * math.sqrt(a + b))


def summarize_ablation(table: pd.DataFrame) -> str:
    """What the ablation shows, in Markdown, from the measured table (see :func:`ablation_verdicts`)."""
    judged = ablation_verdicts(table)
    compared = judged[judged["verdict"] != "reference"]

    def listed(verdict: str) -> str:
        rows = compared[compared["verdict"] == verdict].sort_values("test_delta", ascending=verdict == "worse")
        return (
            ", ".join(f"**{row.variant}** ({row.change}; {row.test_delta:+.1%})" for row in rows.itertuples()) or "none"
        )

    photos = int(judged["test_images"].iloc[0])
    low, high = compared["noise"].min(), compared["noise"].max()
    threshold = f"{low:.1%}" if math.isclose(low, high) else f"{low:.1%} to {high:.1%}"
    seeds = int(judged["seeds"].max())
    spread = f" or the 95 % Welch interval of a difference between two means over {seeds} seeds," if seeds > 1 else ""
    return "\n".join(
        [
            f"- Better than its control: {listed('better')}.",
            f"- Worse than its control: {listed('worse')}.",
            f"- Ties (difference within the noise): {listed('tie')}.",
            f"- Noise level: with {photos} test photos (one photo is {1 / photos:.2%}), differences under {threshold} "
            f"(twice the standard error of a difference between two accuracies,{spread} depending on the accuracies) "
            "are read as ties.",
        ]
    )
