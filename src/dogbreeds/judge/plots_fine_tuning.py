"""The fine-tuning figure: each depth's loss and accuracy by epoch, the kept epoch marked, the head alone for scale."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from dogbreeds.judge.plots_common import _NEUTRAL_COLOR, PlotInputError, _figure

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def plot_fine_tuning_curves(
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    kept: Mapping[str, int],
    head_val_accuracy: float | None = None,
    title: str | None = None,
) -> Figure:
    """Training (dashed) and validation (solid) loss and accuracy of each fine-tuned model, one colour each.

    ``kept`` gives each model's kept epoch (1-based), circled on both validation curves;
    ``head_val_accuracy``, the validation top-1 of the head fine-tuning started from, is a grey line.
    """
    if not histories:
        raise PlotInputError("No fine-tuning history to plot.")
    fig, axes = _figure(10.0, 3.8, ncols=2)
    for ax, metric in zip(axes.flat, ("loss", "accuracy")):
        for (label, history), color in zip(histories.items(), _COLORS):
            if f"val_{metric}" not in history or label not in kept:
                raise PlotInputError(f"{label}: the history needs val_{metric} and a kept epoch.")
            validation = np.asarray(history[f"val_{metric}"], dtype=float)
            epochs = np.arange(1, len(validation) + 1)
            ax.plot(epochs, history[metric], linestyle="--", color=color, alpha=0.7)
            ax.plot(epochs, validation, marker="o", markersize=3, color=color, label=label)
            epoch = kept[label]
            ax.scatter(
                epoch, validation[epoch - 1], s=90, facecolors="none", edgecolors=color, linewidths=1.5, zorder=3
            )
        if metric == "accuracy" and head_val_accuracy is not None:
            ax.axhline(head_val_accuracy, color=_NEUTRAL_COLOR, linestyle=":", label="head alone (validation)")
        ax.set(xlabel="epoch", ylabel=metric, title=f"{metric}: training dashed, validation solid, kept epoch circled")
        ax.title.set_fontsize("small")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.flat[1].legend(fontsize="small", loc="best")
    if title:
        fig.suptitle(title)
    return fig
