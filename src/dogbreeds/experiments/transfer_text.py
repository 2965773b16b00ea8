"""Notebook 04's findings in words, from its variants' results table (:func:`results_table`).

Each function returns Markdown for one cell of the notebook; run names are the table's index.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np
import pandas as pd

from dogbreeds.core.words import counted

_TTA = "+tta"
"""The suffix of a head's run name classified with flip TTA."""


def head_runs_markdown(variants: int, backbones: int, counts: Mapping[str, int]) -> str:
    """How many head variants ran on how many backbones, and the photos of each split (``counts``)."""
    return (
        f"{counted(variants, 'variant')} on {counted(backbones, 'backbone')}; training photos: {counts['train']:,}, "
        f"validation photos (early stopping, choice of the model): {counts['val']:,}, test photos: {counts['test']:,}."
    )


def _kept_epoch(history: Mapping[str, Sequence[float]]) -> int:
    """The epoch early stopping kept (lowest validation loss), 1-based."""
    return int(np.argmin(history["val_loss"])) + 1


def epochs_markdown(histories: Mapping[str, Mapping[str, Sequence[float]]]) -> str:
    """For each trained model (label: Keras history), the epochs run and the accuracies of the epoch kept."""
    lines = []
    for label, history in histories.items():
        kept = _kept_epoch(history)
        lines.append(
            f"- {label}: {counted(len(history['val_loss']), 'epoch')} run, weights of epoch {kept} kept (validation "
            f"accuracy {history['val_accuracy'][kept - 1]:.1%}, training accuracy {history['accuracy'][kept - 1]:.1%})."
        )
    return "\n".join(lines)


def chart_markdown(table: pd.DataFrame, breeds: int) -> str:
    """The lowest and highest test top-1 of the chart, against chance, and the widest validation-test gap."""
    ranked = table.sort_values("test top-1")
    low, high = ranked.iloc[0], ranked.iloc[-1]
    gap = (table["validation top-1"] - table["test top-1"]).abs().max()
    return (
        f"On the chart, test top-1 goes from {low['test top-1']:.1%} (*{low['model']}*) to "
        f"**{high['test top-1']:.1%}** (*{high['model']}*), against chance at {1 / breeds:.1%}; "
        f"validation and test top-1 differ by at most {100 * gap:.1f} points for any variant."
    )


def saved_bundle_markdown(table: pd.DataFrame, best: str) -> str:
    """Which variant (run name ``best``) was saved as the run's transfer bundle, with its accuracies."""
    row = table.loc[best]
    return (
        f"Saved **{row['model']}** (validation top-1 {row['validation top-1']:.1%}, test top-1 "
        f"{row['test top-1']:.1%}) as the run's transfer bundle, with its validation and test probabilities "
        "for notebook 05."
    )


def transfer_conclusions(
    table: pd.DataFrame,
    heads: Collection[str],
    start: str,
    best: str,
    backbone: str,
    breeds: int,
    test_photos: int,
    comparisons: pd.DataFrame | None = None,
) -> str:
    """The notebook's conclusions as a Markdown list: chance, the heads and flip TTA, fine-tuning, the saved model.

    ``heads`` names the rows of trained heads (with and without TTA), the other rows are fine-tuned versions of
    the head ``start`` on ``backbone``; ``best`` is the saved variant; ``comparisons``
    (:func:`~dogbreeds.experiments.transfer_tables.compare_variants`) adds the verdicts against it.
    """
    head_rows = table.loc[[name for name in table.index if name in heads]]
    best_head = head_rows.loc[head_rows["validation top-1"].idxmax()]
    lines = [
        f"- Chance level with {counted(breeds, 'breed')} is {1 / breeds:.1%}.",
        f"- Frozen backbones: the best head on validation is **{best_head['model']}** "
        f"({best_head['validation top-1']:.1%} validation top-1, **{best_head['test top-1']:.1%} test top-1** on "
        f"{counted(test_photos, 'test photo')}, top-5 {best_head['test top-5']:.1%}); the heads trained in "
        f"{head_rows['training (s)'].max():.0f} s or less on cached features.{_tta_sentence(table)}",
    ]
    tuned = table.drop(index=head_rows.index)
    if not tuned.empty:
        plain = table.loc[start]
        lines.append(
            f"- Fine-tuning {backbone}: test top-1 "
            + ", ".join(f"{row['model']} {row['test top-1']:.1%}" for _, row in tuned.iterrows())
            + f", against {plain['test top-1']:.1%} for its head alone (validation: "
            + ", ".join(f"{row['validation top-1']:.1%}" for _, row in tuned.iterrows())
            + f" against {plain['validation top-1']:.1%})."
        )
    saved = table.loc[best]
    lines.append(
        f"- Saved for prediction: **{saved['model']}**, {saved['ms per photo']:.1f} ms per photo here, "
        f"{saved['parameters (M)']:.1f} million parameters."
    )
    if comparisons is not None:
        lines.append("- " + verdicts_markdown(comparisons))
    return "\n".join(lines)


def verdicts_markdown(comparisons: pd.DataFrame) -> str:
    """How the variants compare with the one chosen on validation: ties, and any real difference.

    ``comparisons``: :func:`~dogbreeds.experiments.transfer_tables.compare_variants`'s table.
    """
    reference = comparisons[comparisons["verdict"] == "reference"].iloc[0]
    others = comparisons[comparisons["verdict"] != "reference"]
    if others.empty:
        return f"**{reference['model']}** is the only variant; there is nothing to compare it with."
    ties = others[others["verdict"] == "tie"]
    real = others[others["verdict"] != "tie"]
    text = (
        f"Against **{reference['model']}** (the choice on validation, {reference['test top-1']} on the test photos), "
        f"photo by photo: {counted(len(ties), 'variant')} of {len(others)} "
        f"{'is a tie' if len(ties) == 1 else 'are ties'} (the 95 % interval of the difference contains 0, or the "
        f"difference does not survive Holm's correction for {counted(len(others), 'comparison')})"
    )
    if real.empty:
        return text + "; no variant is measurably better or worse, so their order in the table is noise."
    return (
        text
        + "; "
        + "; ".join(f"{row['model']} is {row['verdict']} ({row['difference (points)']})" for _, row in real.iterrows())
        + "."
    )


def _tta_sentence(table: pd.DataFrame) -> str:
    changes = [
        f"{100 * (table.loc[name + _TTA, 'test top-1'] - table.loc[name, 'test top-1']):+.1f} points "
        f"({table.loc[name, 'model']})"
        for name in table.index
        if name + _TTA in table.index
    ]
    return f" Flip TTA changes test top-1 by {', '.join(changes)}." if changes else ""
