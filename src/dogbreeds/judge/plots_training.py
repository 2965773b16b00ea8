"""Figures of training: learning curves, the ablation study and time per step."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from dogbreeds.judge.plots_common import (
    _TRAIN_COLOR,
    _VALIDATION_COLOR,
    PlotInputError,
    _figure,
    _require_columns,
)


def plot_learning_curves(
    history: Mapping[str, Sequence[float]] | object,
    metrics: Sequence[str] = ("loss", "accuracy"),
    title: str | None = None,
    kept_epoch: int | None = None,
    chance: float | None = None,
) -> Figure:
    """One panel per metric: training vs validation by epoch, the epoch whose weights were kept circled.

    ``kept_epoch`` (1-based) is the epoch the model keeps; by default the one with the lowest
    validation loss, which early stopping on the validation loss restores. The same epoch is
    circled in every panel. ``chance`` (1 / number of breeds) draws the accuracy of guessing
    on the accuracy panels as a dotted line.

    ``history`` is a Keras ``History`` or its ``.history`` dict (``loss``, ``val_loss``, ...).
    """
    logs = getattr(history, "history", history)
    if not isinstance(logs, Mapping):
        raise PlotInputError("history must be a keras History or a dict of metric name -> values per epoch.")
    shown = [name for name in metrics if name in logs or f"val_{name}" in logs]
    if not shown:
        raise PlotInputError(f"None of the metrics {list(metrics)} is in the history; it has {sorted(logs)}.")
    kept = _kept_epoch(logs, kept_epoch)
    fig, axes = _figure(5.0 * len(shown), 3.8, ncols=len(shown))
    for ax, name in zip(axes.flat, shown):
        for key, label, color in ((name, "train", _TRAIN_COLOR), (f"val_{name}", "validation", _VALIDATION_COLOR)):
            if key not in logs:
                continue
            values = np.asarray(logs[key], dtype=float)
            epochs = np.arange(1, len(values) + 1)
            ax.plot(epochs, values, marker="o", markersize=3, color=color, label=label)
            if label == "validation" and kept is not None and kept <= len(values):
                ax.scatter(
                    kept,
                    values[kept - 1],
                    s=80,
                    facecolors="none",
                    edgecolors=color,
                    zorder=3,
                    label=f"kept: epoch {kept} ({values[kept - 1]:.3f})",
                )
        if chance is not None and "accuracy" in name:
            ax.axhline(chance, color="0.3", linestyle=":", linewidth=1.2, label=f"chance ({chance:.1%})")
        ax.set(xlabel="epoch", ylabel=name.replace("_", " "), title=name.replace("_", " "))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


def _kept_epoch(logs: Mapping[str, Sequence[float]], kept_epoch: int | None) -> int | None:
    """The 1-based epoch to circle: ``kept_epoch``, else the lowest validation loss, else none."""
    if kept_epoch is not None:
        epochs = max((len(values) for values in logs.values()), default=0)
        if not 1 <= kept_epoch <= epochs:
            raise PlotInputError(f"kept_epoch {kept_epoch} is outside the {epochs} epochs of the history (from 1).")
        return int(kept_epoch)
    losses = np.asarray(logs.get("val_loss", []), dtype=float)
    return int(np.nanargmin(losses)) + 1 if losses.size and np.isfinite(losses).any() else None


def plot_ablation(
    table: pd.DataFrame,
    metrics: Sequence[str] = ("val_accuracy", "test_accuracy"),
    label_column: str = "variant",
    reference: str | None = "baseline",
    title: str = "Ablation study",
    chance: float | None = None,
) -> Figure:
    """Grouped horizontal bars, one group per row in table order (first at the top), one bar per metric.

    A ``<metric>_std`` column, when present, draws error bars (NaN: none). A dashed line
    per metric marks the value of the ``reference`` row, so each bar reads as better or worse;
    ``chance`` (1 / number of breeds) draws the accuracy of guessing as a dotted line.
    """
    _require_columns(table, (label_column, *metrics))
    if table.empty:
        raise PlotInputError("table is empty; give one row per variant.")
    labels = table[label_column].astype(str).tolist()
    if reference is not None and reference not in labels:
        raise PlotInputError(f"The reference {reference!r} is not in the {label_column!r} column: {labels}.")
    positions = np.arange(len(table))[::-1]
    height = 0.8 / len(metrics)
    fig, axes = _figure(8.0, max(2.5, 0.3 * len(table) * len(metrics) + 1.2))
    ax = axes[0, 0]
    palette = sns.color_palette("colorblind", len(metrics))
    for offset, (metric, color) in enumerate(zip(metrics, palette)):
        values = table[metric].to_numpy(dtype=float)
        spread = table[f"{metric}_std"].to_numpy(dtype=float) if f"{metric}_std" in table else np.array([np.nan])
        errors = np.nan_to_num(spread) if np.isfinite(spread).any() else None
        bars = ax.barh(
            positions - (offset - (len(metrics) - 1) / 2) * height,
            values,
            height=height,
            xerr=errors,
            color=color,
            label=metric.replace("_", " "),
            error_kw={"elinewidth": 1, "capsize": 2},
        )
        ax.bar_label(bars, fmt="%.2f", padding=3, fontsize="x-small")
        if reference is not None:
            ax.axvline(values[labels.index(reference)], color=color, linestyle="--", linewidth=1)
    ax.set_yticks(positions, labels)
    upper = float(np.nanmax(table[list(metrics)].to_numpy(dtype=float)))
    ax.set(
        xlim=(0, max(1.0, upper) * 1.1),
        title=title + (f" (dashed: {reference})" if reference else ""),
        xlabel="accuracy (share of photos whose breed is the first answer)",
    )
    if chance is not None:
        ax.axvline(chance, color="0.3", linestyle=":", linewidth=1.2, label=f"chance ({chance:.0%})")
    ax.legend(loc="lower right", fontsize="small")
    return fig


def plot_timings(timings: Mapping[str, float] | pd.Series, unit: str = "s", title: str = "Time per step") -> Figure:
    """Horizontal bars of durations, longest at the top, values written on the bars."""
    series = pd.Series(timings, dtype=float).sort_values(ascending=True)
    if series.empty:
        raise PlotInputError("timings is empty; give name -> duration.")
    fig, axes = _figure(7.0, max(2.5, 0.4 * len(series) + 1.2))
    ax = axes[0, 0]
    bars = ax.barh(series.index, series.to_numpy(), color=_TRAIN_COLOR)
    ax.bar_label(bars, labels=[f"{value:.3g} {unit}" for value in series], padding=2, fontsize="small")
    ax.set(xlim=(0, float(series.max()) * 1.2 or 1.0), xlabel=unit, title=title)
    return fig
