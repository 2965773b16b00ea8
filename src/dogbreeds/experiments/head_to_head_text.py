"""Scratch against transfer in words: Markdown for notebooks 04 and 05 from :mod:`~dogbreeds.experiments.head_to_head`.

Each function returns Markdown for one cell; a difference whose interval contains 0 is called a tie.
"""

from __future__ import annotations

import pandas as pd

from dogbreeds.core.words import counted
from dogbreeds.judge.intervals import Comparison, Interval

_VERDICTS = {
    "better": "transfer is measurably better",
    "worse": "the network trained from scratch is measurably better",
    "tie": "a tie: the interval of the difference contains 0",
}


def _interval(row: pd.Series, column: str = "test top-1") -> str:
    return Interval(row[column], row["low"], row["high"]).text()


def missing_markdown(table: pd.DataFrame) -> str:
    """What to run when a family of the central table has no record in this run ("" when both are there)."""
    families = set(table["family"]) if not table.empty else set()
    missing = []
    if "from scratch" not in families:
        missing.append(
            "the networks trained from scratch on the whole photos of the ten breeds are not among this run's "
            "records: run the scratch notebook (03) of this run, then this notebook again"
        )
    if "transfer" not in families:
        missing.append(
            "the heads trained on backbone features of the same photos are not among this run's records: run the "
            "transfer notebook (04), section on the ten breeds' whole photos, then this notebook again"
        )
    return ("**Not measured in this run:** " + "; ".join(missing) + ".") if missing else ""


def pair_markdown(scratch: str, transfer: str, comparison: Comparison) -> str:
    """The best transfer model against the best scratch CNN, on the same photos, with its verdict."""
    if comparison.method.startswith("bootstrap over photos and seeds"):
        how = "a bootstrap over the photos and the scratch network's seeds"
    else:
        how = f"a paired bootstrap over the photos; McNemar's test p = {comparison.p_value:.2g}"
    return (
        f"On the same {counted(comparison.photos, 'test photo')}, matched photo by photo, **{transfer}** "
        f"({comparison.accuracy_a:.1%}) against **{scratch}** ({comparison.accuracy_b:.1%}): transfer minus scratch "
        f"is {comparison.difference.signed_text()} ({how}), {_VERDICTS[comparison.verdict]}."
    )


def head_to_head_markdown(table: pd.DataFrame, breeds: int) -> str:
    """Each family's best test top-1 with its interval, and the chance level."""
    lines = [f"- Chance with {counted(breeds, 'breed')} is {1 / breeds:.1%}."]
    for family in ("from scratch", "transfer"):
        rows = table[table["family"] == family]
        if rows.empty:
            continue
        top = rows.loc[rows["test top-1"].idxmax()]
        lines.append(
            f"- Highest test top-1 {'from scratch' if family == 'from scratch' else 'by transfer'} (a description "
            f"of these photos, not a choice): **{top['model']}**, {_interval(top)}, "
            f"{top['test top-1'] * breeds:.1f} times chance"
            + (f", trained on {top['training photos']:,.0f} photos." if pd.notna(top["training photos"]) else ".")
        )
    return "\n".join(lines)


def _photos(point: pd.Series) -> str:
    """``"at most 25 training photos a breed (72 in all)"``."""
    total = "" if pd.isna(point["training photos"]) else f" ({point['training photos']:,.0f} in all)"
    return f"at most {point['per breed']:.0f} training photos a breed{total}"


def data_size_markdown(curve: pd.DataFrame) -> str:
    """The data-size curve in words: each model's test top-1 at its fewest and most training photos a breed."""
    if curve.empty:
        return "No point of the data-size curve was recorded in this run."
    lines = []
    for (family, model), rows in curve.groupby(["family", "model"], sort=False):
        first, last = rows.iloc[0], rows.iloc[-1]
        lines.append(
            f"- {model} ({family}): {_interval(first)} with {_photos(first)}, {_interval(last)} with {_photos(last)}."
        )
    return "\n".join(lines)


def central_markdown(table: pd.DataFrame, pair: tuple | None, curve: pd.DataFrame, breeds: int) -> str:
    """The central comparison in words: what is missing, each family's best, the paired verdict, the curve.

    ``pair``: :func:`~dogbreeds.experiments.head_to_head.best_pair`'s (scratch, transfer, comparison), or None.
    """
    parts = [missing_markdown(table)]
    if not table.empty:
        parts.append(head_to_head_markdown(table, breeds))
    if pair is not None:
        parts.append(pair_markdown(pair[0].model, pair[1].model, pair[2]))
    parts.append(data_size_markdown(curve))
    return "\n\n".join(part for part in parts if part)
