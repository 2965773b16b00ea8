"""Verdicts of an ablation table: is each variant better, worse or a tie against its control, given the noise?"""

from __future__ import annotations

import math

import pandas as pd

from dogbreeds.errors import DogbreedsError

_TOLERANCE = 1e-9  # a difference of exactly the noise level (e.g. two photos) is a tie despite rounding


class VerdictError(DogbreedsError, ValueError):
    """An ablation table that lacks what a verdict needs."""


def ablation_verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """The table with ``noise`` and ``verdict`` columns: "better", "worse" or "tie" against the control.

    A difference counts only when it is larger than the noise, the largest of: twice the
    standard error of the difference between two accuracies on ``test_images`` photos
    (binomial, about a 95 % band), twice the standard deviation of the difference over
    seeds (with several seeds), and two photos. The reference row gets "reference" and no noise.
    """
    missing = sorted({"variant", "control", "test_accuracy", "test_delta", "test_accuracy_std", "test_images"}
                     - set(table.columns))
    if missing:
        raise VerdictError(f"The table lacks {missing}; build it with ablation_table().")
    accuracy = dict(zip(table["variant"], table["test_accuracy"]))
    std = dict(zip(table["variant"], table["test_accuracy_std"]))
    noise, verdicts = [], []
    for row in table.itertuples():
        if not isinstance(row.control, str):  # None (or NaN once in a table): the reference
            noise.append(math.nan)
            verdicts.append("reference")
            continue
        n, mine, theirs = row.test_images, row.test_accuracy, accuracy[row.control]
        standard_error = math.sqrt(mine * (1 - mine) / n + theirs * (1 - theirs) / n)
        spread = math.hypot(row.test_accuracy_std, std[row.control])
        level = max(2.0 * standard_error, 2.0 * spread if math.isfinite(spread) else 0.0, 2.0 / n)
        noise.append(level)
        if row.test_delta > level + _TOLERANCE:
            verdicts.append("better")
        elif row.test_delta < -level - _TOLERANCE:
            verdicts.append("worse")
        else:
            verdicts.append("tie")
    return table.assign(noise=noise, verdict=verdicts)


def summarize_ablation(table: pd.DataFrame) -> str:
    """What the ablation shows, in Markdown, from the measured table (see :func:`ablation_verdicts`)."""
    judged = ablation_verdicts(table)
    compared = judged[judged["verdict"] != "reference"]

    def listed(verdict: str) -> str:
        rows = compared[compared["verdict"] == verdict].sort_values("test_delta", ascending=verdict == "worse")
        return ", ".join(f"**{row.variant}** ({row.change}; {row.test_delta:+.1%})" for row in rows.itertuples()) \
            or "none"

    photos = int(judged["test_images"].iloc[0])
    low, high = compared["noise"].min(), compared["noise"].max()
    threshold = f"{low:.1%}" if math.isclose(low, high) else f"{low:.1%} to {high:.1%}"
    seeds = int(judged["seeds"].max())
    spread = f" or twice the spread over the {seeds} seeds," if seeds > 1 else ""
    return "\n".join([
        f"- Better than its control: {listed('better')}.",
        f"- Worse than its control: {listed('worse')}.",
        f"- Ties (difference within the noise): {listed('tie')}.",
        f"- Noise level: with {photos} test photos (one photo is {1 / photos:.2%}), differences under {threshold} "
        f"(twice the standard error of a difference between two accuracies,{spread} depending on the accuracies) "
        "are read as ties.",
    ])
