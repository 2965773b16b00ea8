"""The figures of the notebooks and the report, as matplotlib ``Figure`` objects.

Figures are built with the object API (``matplotlib.figure.Figure``), never through
pyplot, so no global figure state is created or leaked. A notebook shows a returned
figure as a cell's last value or with ``display(fig)``, pyplot imported or not, and
:func:`save_figure` writes it as a PNG. Inputs are plain: arrays, file paths, dicts and DataFrames from
:mod:`dogbreeds.judge.evaluation`.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from dogbreeds.core.errors import DogbreedsError
from dogbreeds.core.fileio import write_bytes_atomic
from dogbreeds.data.images import ImageLoadError, load_image
from dogbreeds.judge.evaluation import ErrorGallery, GalleryItem, calibration_errors, most_confused_classes
from dogbreeds.judge.heatmaps import overlay_heatmap

DEFAULT_DPI = 120
ImageLike = np.ndarray | str | os.PathLike

_TRAIN_COLOR = "#1f77b4"
_VALIDATION_COLOR = "#ff7f0e"
_GOOD_COLOR = "#2ca02c"
_BAD_COLOR = "#d62728"
_NEUTRAL_COLOR = "#8c8c8c"
_BAR_HEIGHT_INCHES = 0.22


class PlotInputError(DogbreedsError, ValueError):
    """Data a plot cannot be drawn from."""


class NotebookFigure(Figure):
    """A Figure that Jupyter renders as a PNG even when pyplot's inline backend is not loaded."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=DEFAULT_DPI, bbox_inches="tight")
        return buffer.getvalue()


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = DEFAULT_DPI) -> Path:
    """Write the figure as a PNG at path (folders created), atomically; returns the path."""
    target = Path(path)
    if target.suffix.lower() != ".png":
        raise PlotInputError(f"save_figure writes PNG files; give a path ending in .png, got {target.name!r}.")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    write_bytes_atomic(target, buffer.getvalue())
    return target


def plot_learning_curves(
    history: Mapping[str, Sequence[float]] | object,
    metrics: Sequence[str] = ("loss", "accuracy"),
    title: str | None = None,
) -> Figure:
    """One panel per metric: training vs validation by epoch, best validation epoch marked.

    The best epoch has the lowest value for a loss, the highest for any other metric.

    ``history`` is a Keras ``History`` or its ``.history`` dict (``loss``, ``val_loss``, ...).
    """
    logs = getattr(history, "history", history)
    if not isinstance(logs, Mapping):
        raise PlotInputError("history must be a keras History or a dict of metric name -> values per epoch.")
    shown = [name for name in metrics if name in logs or f"val_{name}" in logs]
    if not shown:
        raise PlotInputError(f"None of the metrics {list(metrics)} is in the history; it has {sorted(logs)}.")
    fig, axes = _figure(5.0 * len(shown), 3.8, ncols=len(shown))
    for ax, name in zip(axes.flat, shown):
        for key, label, color in ((name, "train", _TRAIN_COLOR), (f"val_{name}", "validation", _VALIDATION_COLOR)):
            if key not in logs:
                continue
            values = np.asarray(logs[key], dtype=float)
            epochs = np.arange(1, len(values) + 1)
            ax.plot(epochs, values, marker="o", markersize=3, color=color, label=label)
            if label == "validation" and len(values):
                best = int(np.nanargmin(values) if "loss" in name else np.nanargmax(values))
                ax.scatter(
                    epochs[best],
                    values[best],
                    s=80,
                    facecolors="none",
                    edgecolors=color,
                    zorder=3,
                    label=f"best: {values[best]:.3f} (epoch {best + 1})",
                )
        ax.set(xlabel="epoch", ylabel=name, title=name.replace("_", " "))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


LABELLED_BREEDS = 40
"""Above this many breeds, ``plot_images_per_breed`` names only the extremes (a chart must fit a page)."""


def plot_images_per_breed(counts: Mapping[str, int] | pd.Series, title: str = "Images per breed") -> Figure:
    """Horizontal bars, one per breed, most images at the top, with the mean as a dashed line.

    With more than ``LABELLED_BREEDS`` breeds, the bars stand side by side in rank order and only
    the five breeds at each end are named, so the chart keeps the height of a page's half.
    """
    series = pd.Series(counts, dtype=float).sort_values(ascending=True)
    if series.empty:
        raise PlotInputError("counts is empty; give one image count per breed.")
    if len(series) > LABELLED_BREEDS:
        return _ranked_counts(series.sort_values(ascending=False), title)
    fig, axes = _figure(7.0, _bars_height(len(series)))
    ax = axes[0, 0]
    ax.barh(series.index, series.to_numpy(), color=_TRAIN_COLOR)
    ax.axvline(series.mean(), color="black", linestyle="--", linewidth=1, label=f"mean {series.mean():.1f}")
    ax.set(xlabel="images", title=title)
    ax.margins(y=0.005)
    _small_ticks(ax, len(series))
    ax.legend(loc="lower right")
    return fig


def _ranked_counts(series: pd.Series, title: str) -> Figure:
    fig, axes = _figure(7.5, 3.6)
    ax = axes[0, 0]
    positions = np.arange(1, len(series) + 1)
    ax.bar(positions, series.to_numpy(), width=0.85, color=_TRAIN_COLOR)
    ax.axhline(series.mean(), color="black", linestyle="--", linewidth=1, label=f"mean {series.mean():.1f}")
    most = "\n".join(f"{name} ({count:.0f})" for name, count in series.head(5).items())
    fewest = "\n".join(f"{name} ({count:.0f})" for name, count in series.tail(5).items())
    box = dict(boxstyle="round", facecolor="white", alpha=0.9, edgecolor="0.7")
    ax.text(0.02, 0.97, f"most photos:\n{most}", transform=ax.transAxes, va="top", fontsize="x-small", bbox=box)
    ax.text(
        0.98,
        0.97,
        f"fewest photos:\n{fewest}",
        transform=ax.transAxes,
        va="top",
        ha="right",
        fontsize="x-small",
        bbox=box,
    )
    ax.set(
        xlabel=f"breeds, from most to fewest photos (1 to {len(series)})",
        ylabel="images",
        title=title,
        xlim=(0, len(series) + 1),
        ylim=(0, series.max() * 1.75),
    )
    ax.legend(loc="center right")
    return fig


def plot_image_grid(
    images: Sequence[ImageLike],
    titles: Sequence[str] | None = None,
    ncols: int = 5,
    cell_size: float = 2.4,
    title: str | None = None,
) -> Figure:
    """Photos (arrays or file paths) in a grid, one axis per photo, with optional titles."""
    if len(images) == 0:
        raise PlotInputError("images is empty.")
    if titles is not None and len(titles) != len(images):
        raise PlotInputError(f"titles has {len(titles)} entries for {len(images)} images.")
    fig = _bare_figure(len(images), ncols, cell_size)
    axes = _image_axes(fig, len(images), ncols)
    for position, (ax, image) in enumerate(zip(axes, images)):
        _show_image(ax, _as_array(image))
        if titles is not None:
            ax.set_title(titles[position], fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


def plot_confusion_matrix(
    matrix: np.ndarray,
    class_names: Sequence[str],
    normalize: bool = True,
    top_n: int | None = None,
    annotate: bool | None = None,
) -> Figure:
    """Heat map of a confusion matrix (rows: true breed, columns: predicted breed).

    ``normalize`` shows each cell as a share of its true breed. ``top_n`` keeps only
    the breeds most involved in mistakes (readable for 120 classes); shares still
    refer to all photos of the breed. ``annotate`` writes the values (default: up to 20 breeds).
    """
    counts = np.asarray(matrix)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] != len(class_names):
        raise PlotInputError(
            f"matrix must be square with one row per class name ({len(class_names)}), got shape {counts.shape}."
        )
    values = counts.astype(float)
    if normalize:
        totals = values.sum(axis=1, keepdims=True)
        values = np.divide(values, totals, out=np.zeros_like(values), where=totals > 0)
    ids = np.arange(len(class_names)) if top_n is None else most_confused_classes(counts, top_n)
    shown = values[np.ix_(ids, ids)]
    names = [class_names[i] for i in ids]
    annotate = len(ids) <= 20 if annotate is None else annotate
    side = max(5.0, 0.16 * len(ids) + 3.0) if not annotate else max(5.0, 0.55 * len(ids) + 3.0)
    fig, axes = _figure(side + 1.2, side, style="white")
    ax = axes[0, 0]
    sns.heatmap(
        shown,
        ax=ax,
        cmap="Blues",
        square=True,
        xticklabels=names,
        yticklabels=names,
        annot=annotate,
        fmt=".2f" if normalize else "g",
        annot_kws={"fontsize": "x-small"},
        vmin=0,
        vmax=1 if normalize else None,
        cbar_kws={"label": "share of the true breed" if normalize else "photos", "shrink": 0.6},
    )
    ax.set(xlabel="predicted breed", ylabel="true breed")
    ax.tick_params(axis="y", labelrotation=0)
    ax.tick_params(axis="x", labelrotation=90)
    _small_ticks(ax, len(ids), axis="both")
    subset = "" if top_n is None else f" ({len(ids)} most confused breeds)"
    ax.set_title(f"Confusion matrix{subset}")
    return fig


def plot_per_breed_accuracy(per_breed: pd.DataFrame, limit: int | None = None) -> Figure:
    """Accuracy per breed as horizontal bars, lowest at the top, mean as a dashed line.

    ``per_breed`` has ``breed`` and ``accuracy`` columns (see
    :func:`dogbreeds.judge.evaluation.per_breed_accuracy`); breeds without photos are left out.
    ``limit`` shows only the ``limit`` lowest and ``limit`` highest breeds.
    """
    _require_columns(per_breed, ("breed", "accuracy"))
    table = per_breed.dropna(subset=["accuracy"]).sort_values(["accuracy", "breed"])
    if table.empty:
        raise PlotInputError("per_breed has no breed with an accuracy (no photos were evaluated).")
    mean = float(table["accuracy"].mean())
    heading = "Accuracy per breed"
    if limit is not None and 2 * limit < len(table):
        table = pd.concat([table.head(limit), table.tail(limit)])
        heading += f" (lowest {limit} and highest {limit} of {len(per_breed.dropna(subset=['accuracy']))})"
    fig, axes = _figure(7.0, _bars_height(len(table)))
    ax = axes[0, 0]
    colors = [_BAD_COLOR if value < mean else _GOOD_COLOR for value in table["accuracy"]]
    ax.barh(np.arange(len(table)), table["accuracy"].to_numpy(), color=colors)
    ax.set_yticks(np.arange(len(table)), table["breed"].tolist())
    ax.invert_yaxis()
    ax.axvline(mean, color="black", linestyle="--", linewidth=1, label=f"mean {mean:.2f}")
    ax.set(xlim=(0, 1), xlabel="accuracy", title=heading)
    ax.margins(y=0.005)
    _small_ticks(ax, len(table))
    ax.legend(loc="upper right", framealpha=0.9)  # the shortest bars are at the top
    return fig


def plot_model_comparison(
    results: pd.DataFrame,
    metrics: Sequence[str] = ("top1",),
    label_column: str = "model",
    title: str = "Model comparison",
    chance: float | None = None,
    xlabel: str = "share of photos (accuracy) or score",
) -> Figure:
    """Grouped horizontal bars: one group per model (best first by the first metric), one bar per metric.

    ``chance`` draws the accuracy of guessing (1 / number of breeds) as a dotted line.
    """
    _require_columns(results, (label_column, *metrics))
    if results.empty:
        raise PlotInputError("results is empty; give one row per model.")
    table = results.sort_values(metrics[0], ascending=True)
    positions = np.arange(len(table))
    height = 0.8 / len(metrics)
    fig, axes = _figure(7.5, max(2.5, 0.45 * len(table) * max(1, len(metrics) / 1.5) + 1.2))
    ax = axes[0, 0]
    palette = sns.color_palette("colorblind", len(metrics))
    for offset, (metric, color) in enumerate(zip(metrics, palette)):
        bars = ax.barh(
            positions + (offset - (len(metrics) - 1) / 2) * height,
            table[metric].to_numpy(),
            height=height,
            color=color,
            label=metric,
        )
        ax.bar_label(bars, fmt="%.3f", padding=2, fontsize="x-small")
    ax.set_yticks(positions, table[label_column].astype(str).tolist())
    upper = float(np.nanmax(table[list(metrics)].to_numpy()))
    ax.set(xlim=(0, max(1.0, upper) * 1.1), title=title, xlabel=xlabel if len(metrics) > 1 else metrics[0])
    if chance is not None:
        ax.axvline(chance, color="0.3", linestyle=":", linewidth=1.2, label=f"chance ({chance:.1%})")
    if len(metrics) > 1 or chance is not None:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")  # beside the bars, never on them
    return fig


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


def plot_reliability_diagram(table: pd.DataFrame, title: str = "Reliability diagram") -> Figure:
    """Accuracy vs confidence per bin (top) and photos per bin (bottom), ECE and MCE in the title.

    ``table`` comes from :func:`dogbreeds.judge.evaluation.reliability_table`.
    """
    _require_columns(table, ("bin_lower", "bin_upper", "count", "confidence", "accuracy"))
    if int(table["count"].sum()) == 0:
        raise PlotInputError("The reliability table has no photos in any bin.")
    ece, mce = calibration_errors(table)
    fig = _new_figure(figsize=(5.5, 6.5), layout="constrained")
    with sns.axes_style("whitegrid"):
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    lower = table["bin_lower"].to_numpy()
    width = (table["bin_upper"] - table["bin_lower"]).to_numpy()
    accuracy = table["accuracy"].fillna(0).to_numpy()
    confidence = table["confidence"].to_numpy()
    filled = table["count"].to_numpy() > 0
    centers = lower + width / 2
    top.bar(lower, accuracy, width=width, align="edge", color=_TRAIN_COLOR, edgecolor="white", label="accuracy")
    top.vlines(centers[filled], accuracy[filled], confidence[filled], color=_BAD_COLOR, linewidth=2)
    top.plot(
        centers[filled],
        confidence[filled],
        "D",
        color=_BAD_COLOR,
        markersize=5,
        label="mean confidence (red line: gap)",
    )
    top.plot([0, 1], [0, 1], color="black", linestyle="--", linewidth=1, label="perfect calibration")
    top.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy", title=f"{title}\nECE {ece:.3f}, MCE {mce:.3f}")
    # below the panels: inside, any corner can hide the bars of a badly calibrated model
    fig.legend(*top.get_legend_handles_labels(), loc="outside lower center", ncols=2, fontsize="small")
    bottom.bar(lower, table["count"].to_numpy(), width=width, align="edge", color=_NEUTRAL_COLOR, edgecolor="white")
    bottom.set(xlabel="confidence (top probability)", ylabel="photos")
    return fig


def plot_confidence_thresholds(table: pd.DataFrame, chosen_threshold: float | None = None) -> Figure:
    """Coverage and selective accuracy against the confidence threshold (auto-label above, human below).

    ``table`` comes from :func:`dogbreeds.judge.evaluation.confidence_threshold_table`.
    """
    _require_columns(table, ("threshold", "coverage", "selective_accuracy"))
    fig, axes = _figure(6.5, 4.0)
    ax = axes[0, 0]
    ax.plot(
        table["threshold"],
        table["coverage"],
        marker="o",
        markersize=3,
        color=_TRAIN_COLOR,
        label="coverage (share labelled automatically)",
    )
    ax.plot(
        table["threshold"],
        table["selective_accuracy"],
        marker="o",
        markersize=3,
        color=_GOOD_COLOR,
        label="accuracy on those photos",
    )
    if chosen_threshold is not None:
        row = table.iloc[int(np.argmin(np.abs(table["threshold"].to_numpy() - chosen_threshold)))]
        ax.axvline(
            chosen_threshold,
            color="black",
            linestyle="--",
            linewidth=1,
            label=f"threshold {chosen_threshold:.2f}: {row['coverage']:.0%} covered, "
            f"{row['selective_accuracy']:.0%} correct",
        )
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1.02),
        xlabel="confidence threshold",
        ylabel="share",
        title="Automatic labelling above a confidence threshold",
    )
    ax.legend(loc="lower left", fontsize="small")
    return fig


def plot_coverage_accuracy(
    curves: Mapping[str, pd.DataFrame],
    chosen: Mapping[str, tuple[float, float]] | None = None,
    title: str = "Labelled without a person: how many, and how many right",
) -> Figure:
    """Accuracy of the automatically labelled photos against their share, one line per set of photos.

    ``curves`` maps a set's name to a :func:`dogbreeds.judge.evaluation.coverage_accuracy_curve`;
    ``chosen`` maps some names to the (coverage, accuracy) the shipped threshold gives, marked.
    """
    if not curves:
        raise PlotInputError("plot_coverage_accuracy needs at least one curve.")
    fig, axes = _figure(6.5, 4.2)
    ax = axes[0, 0]
    colors = sns.color_palette("colorblind", len(curves))
    lowest = 1.0
    for color, (name, table) in zip(colors, curves.items()):
        _require_columns(table, ("coverage", "accuracy"))
        ax.plot(table["coverage"], table["accuracy"], color=color, linewidth=1.5, label=name)
        lowest = min(lowest, float(table["accuracy"].min()))
        if chosen and name in chosen:
            coverage, accuracy = chosen[name]
            ax.plot([coverage], [accuracy], marker="o", color=color, markersize=7, markeredgecolor="black")
            ax.annotate(
                f"{coverage:.0%} labelled, {accuracy:.1%} right",
                (coverage, accuracy),
                textcoords="offset points",
                xytext=(-8, -14),
                ha="right",
                fontsize="small",
                color=color,
            )
    ax.set(
        xlim=(0, 1),
        ylim=(max(0.0, min(lowest, 0.8) - 0.02), 1.005),
        xlabel="share of the photos labelled without a person (coverage)",
        ylabel="accuracy of those labels",
        title=title,
    )
    ax.legend(loc="lower left", fontsize="small")
    return fig


def plot_error_gallery(gallery: ErrorGallery, cell_size: float = 2.2) -> Figure:
    """Three rows for one breed: correct photos, missed photos, photos wrongly given this breed."""
    groups = (
        (f"Correct: {gallery.breed}", gallery.true_positives, _correct_caption),
        (f"Missed: {gallery.breed} predicted as another breed", gallery.false_negatives, _missed_caption),
        (f"Wrongly called {gallery.breed}", gallery.false_positives, _false_alarm_caption),
    )
    items = [item for _, group, _ in groups for item in group]
    if any(item.image is None for item in items):
        raise PlotInputError("The gallery has no images; pass images= to dogbreeds.judge.evaluation.error_gallery.")
    ncols = max(1, *(len(group) for _, group, _ in groups))
    fig = _new_figure(figsize=(cell_size * ncols, 3 * (cell_size + 0.6)), layout="constrained")
    for row, (heading, group, caption) in zip(fig.subfigures(3, 1), groups):
        row.suptitle(f"{heading} ({len(group)} shown)", fontsize="medium", x=0.01, ha="left")
        if not group:
            ax = row.subplots()
            ax.axis("off")
            ax.text(0.5, 0.5, "none", ha="center", va="center", color=_NEUTRAL_COLOR)
            continue
        axes = np.atleast_1d(row.subplots(1, ncols))
        for position, ax in enumerate(axes):
            if position >= len(group):
                ax.remove()
                continue
            _show_image(ax, _as_array(group[position].image))
            ax.set_title(caption(group[position]), fontsize="x-small")
    return fig


def plot_prediction(
    image: ImageLike,
    probabilities: Sequence[float] | np.ndarray,
    class_names: Sequence[str],
    top_k: int = 5,
    true_breed: str | None = None,
) -> Figure:
    """The photo beside its top-k breeds with confidence bars (the true breed in green when known)."""
    probs = np.asarray(probabilities, dtype=float)
    if probs.ndim != 1 or len(probs) != len(class_names):
        raise PlotInputError(
            f"probabilities must be 1-D with one value per class name ({len(class_names)}), got shape {probs.shape}."
        )
    order = np.argsort(-probs, kind="stable")[: min(top_k, len(probs))]
    fig = _new_figure(figsize=(9.0, 3.6), layout="constrained")
    with sns.axes_style("whitegrid"):
        photo_ax, bars_ax = fig.subplots(1, 2, width_ratios=(1, 1.3))
    _show_image(photo_ax, _as_array(image))
    best = class_names[order[0]]
    photo_ax.set_title(
        f"Predicted: {best} ({probs[order[0]]:.0%})" + (f"\nTrue: {true_breed}" if true_breed is not None else ""),
        fontsize="medium",
    )
    names = [class_names[i] for i in order]
    colors = [
        _GOOD_COLOR if name == true_breed else _TRAIN_COLOR if position == 0 else _NEUTRAL_COLOR
        for position, name in enumerate(names)
    ]
    bars = bars_ax.barh(np.arange(len(order)), probs[order], color=colors)
    bars_ax.bar_label(bars, labels=[f"{value:.1%}" for value in probs[order]], padding=2, fontsize="small")
    bars_ax.set_yticks(np.arange(len(order)), names)
    bars_ax.invert_yaxis()
    bars_ax.set(xlim=(0, 1.15), xlabel="confidence", title=f"Top {len(order)} breeds")
    return fig


def plot_gradcam_grid(
    images: Sequence[ImageLike],
    heatmaps: Sequence[np.ndarray] | np.ndarray,
    titles: Sequence[str] | None = None,
    pairs_per_row: int = 2,
    alpha: float = 0.45,
    colormap: str = "jet",
    cell_size: float = 2.4,
) -> Figure:
    """Each photo beside itself with its Grad-CAM heat map laid over it.

    Heat maps (0..1, any size) are stretched over the whole photo and blended with it by
    :func:`dogbreeds.judge.heatmaps.overlay_heatmap`, as in the shelter app: pass photos as the
    model saw them (after any crop).
    """

    if len(images) == 0 or len(images) != len(heatmaps):
        raise PlotInputError(f"Give one heat map per image: {len(images)} images, {len(heatmaps)} heat maps.")
    if titles is not None and len(titles) != len(images):
        raise PlotInputError(f"titles has {len(titles)} entries for {len(images)} images.")
    ncols = 2 * min(pairs_per_row, len(images))
    fig = _bare_figure(2 * len(images), ncols, cell_size)
    axes = _image_axes(fig, 2 * len(images), ncols)
    for position, (image, heatmap) in enumerate(zip(images, heatmaps)):
        photo = _as_array(image)
        heat = np.asarray(heatmap, dtype=float)
        if heat.ndim != 2:
            raise PlotInputError(f"Heat map {position} must be 2-D, got shape {heat.shape}.")
        photo_ax, overlay_ax = axes[2 * position], axes[2 * position + 1]
        _show_image(photo_ax, photo)
        pixels = photo if photo.dtype == np.uint8 else _stretched(photo) * 255.0
        _show_image(overlay_ax, overlay_heatmap(pixels, heat, alpha=alpha, colormap=colormap))
        if titles is not None:
            photo_ax.set_title(titles[position], fontsize="small")
        overlay_ax.set_title("Grad-CAM", fontsize="small")
    return fig


def plot_histogram_comparison(
    before: np.ndarray,
    after: np.ndarray,
    labels: tuple[str, str] = ("before", "after"),
    bins: int = 64,
) -> Figure:
    """Two images (top) and their per-channel intensity histograms (bottom), e.g. around a preprocessing step.

    uint8 images are binned over 0..255; float images over their own range and shown
    stretched to it (e.g. after normalisation).
    """
    fig = _new_figure(figsize=(10.0, 7.0), layout="constrained")
    with sns.axes_style("whitegrid"):
        axes = fig.subplots(2, 2, height_ratios=(1.3, 1))
    for column, (image, label) in enumerate(zip((before, after), labels)):
        pixels = np.asarray(image)
        if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] not in (1, 3)):
            raise PlotInputError(f"The {label} image must be (H, W) or (H, W, 3), got shape {pixels.shape}.")
        _show_image(axes[0, column], pixels)
        axes[0, column].set_title(f"{label} ({pixels.dtype}, {pixels.shape[1]}x{pixels.shape[0]})")
        channels = pixels.reshape(*pixels.shape[:2], -1)
        value_range = (0, 255) if pixels.dtype == np.uint8 else None
        names = ("red", "green", "blue") if channels.shape[2] == 3 else ("grey",)
        colors = ("#d62728", "#2ca02c", "#1f77b4") if channels.shape[2] == 3 else ("black",)
        for index, (name, color) in enumerate(zip(names, colors)):
            counts, edges = np.histogram(channels[..., index], bins=bins, range=value_range)
            axes[1, column].plot((edges[:-1] + edges[1:]) / 2, counts, color=color, label=name)
        axes[1, column].set(xlabel="pixel value", ylabel="pixels", title=f"{label}: histogram")
        axes[1, column].legend(fontsize="small")
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


def plot_image_sizes(sizes: pd.DataFrame, title: str = "Image sizes") -> Figure:
    """Width against height, one dot per image (left), and the aspect ratios (right), square marked.

    ``sizes`` has ``width``, ``height`` and ``aspect_ratio`` columns (see
    :func:`dogbreeds.data.exploration.image_sizes`).
    """
    _require_columns(sizes, ("width", "height", "aspect_ratio"))
    if sizes.empty:
        raise PlotInputError("sizes is empty; give one row per image.")
    fig, axes = _figure(11.0, 4.2, ncols=2)
    scatter, histogram = axes[0]
    scatter.scatter(sizes["width"], sizes["height"], s=10, alpha=0.4, color=_TRAIN_COLOR, edgecolors="none")
    side = float(max(sizes["width"].max(), sizes["height"].max()))
    scatter.plot([0, side], [0, side], color="black", linestyle="--", linewidth=1, label="square")
    scatter.set(
        xlim=(0, side * 1.05),
        ylim=(0, side * 1.05),
        xlabel="width (px)",
        ylabel="height (px)",
        title=f"{title}: {len(sizes):,} images",
    )
    scatter.legend(loc="lower right")
    sns.histplot(sizes["aspect_ratio"], ax=histogram, bins=30, color=_TRAIN_COLOR)
    median = float(sizes["aspect_ratio"].median())
    histogram.axvline(1.0, color="black", linestyle="--", linewidth=1, label="square (1.0)")
    histogram.axvline(median, color=_VALIDATION_COLOR, linewidth=2, label=f"median {median:.2f}")
    histogram.set(xlabel="aspect ratio (width / height)", ylabel="images", title="Aspect ratios")
    histogram.legend(loc="upper right")
    return fig


def plot_box_statistics(boxes: pd.DataFrame, title: str = "Bounding boxes") -> Figure:
    """Images by number of boxes (left) and the first and largest box's share of the image area (right).

    ``boxes`` comes from :func:`dogbreeds.data.exploration.box_statistics`. An empty table
    (a data folder without annotations) draws the same empty panels with a note saying so.
    """
    _require_columns(boxes, ("boxes", "first_box_fraction", "largest_box_fraction"))
    fig, axes = _figure(11.0, 3.8, ncols=2)
    counts_ax, share_ax = axes[0]
    counts_ax.set(xlabel="boxes in the image", ylabel="images", title=f"{title}: boxes per image")
    share_ax.set(xlim=(0, 1), xlabel="box area / image area", ylabel="images", title="How much of the photo is dog")
    if boxes.empty:
        for ax in (counts_ax, share_ax):
            ax.text(
                0.5,
                0.5,
                "no annotations in this data folder\n(no Annotation/ folder)",
                ha="center",
                va="center",
                color=_NEUTRAL_COLOR,
                transform=ax.transAxes,
            )
        return fig
    per_count = boxes["boxes"].value_counts().sort_index()
    bars = counts_ax.bar(per_count.index.astype(int), per_count.to_numpy(), color=_TRAIN_COLOR)
    counts_ax.bar_label(bars, padding=2, fontsize="small")
    counts_ax.set_xticks(per_count.index.astype(int))
    edges = np.linspace(0, 1, 21)
    share_ax.hist(boxes["first_box_fraction"], bins=edges, color=_TRAIN_COLOR, alpha=0.6, label="first box")
    share_ax.hist(
        boxes["largest_box_fraction"],
        bins=edges,
        histtype="step",
        linewidth=2,
        color=_VALIDATION_COLOR,
        label="largest box",
    )
    share_ax.legend(loc="upper left")
    return fig


def plot_covariance_matrices(matrices: Mapping[str, np.ndarray], title: str = "Covariance") -> Figure:
    """Square matrices side by side as heat maps, on one colour scale centred on 0 (identity: a clean diagonal)."""
    if not matrices:
        raise PlotInputError("matrices is empty; give panel title -> square matrix.")
    for name, matrix in matrices.items():
        shape = np.shape(matrix)
        if len(shape) != 2 or shape[0] != shape[1]:
            raise PlotInputError(f"The matrix {name!r} must be square, got shape {shape}.")
    limit = max(1.0, *(float(np.abs(matrix).max()) for matrix in matrices.values()))
    fig, axes = _figure(4.2 * len(matrices) + 0.8, 4.0, ncols=len(matrices), style="white")
    for ax, (name, matrix) in zip(axes[0], matrices.items()):
        image = ax.imshow(np.asarray(matrix, dtype=float), cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set(title=name, xlabel="direction", ylabel="direction")
    fig.colorbar(image, ax=list(axes[0]), shrink=0.8, label="covariance")
    fig.suptitle(title)
    return fig


def _new_figure(**options) -> NotebookFigure:
    """A figure with its own Agg canvas (no pyplot), so text sizes are measured without redrawing."""
    fig = NotebookFigure(**options)
    FigureCanvasAgg(fig)
    return fig


def _figure(width: float, height: float, nrows: int = 1, ncols: int = 1, style: str = "whitegrid"):
    fig = _new_figure(figsize=(width, height), layout="constrained")
    with sns.axes_style(style):
        axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _bare_figure(count: int, ncols: int, cell_size: float) -> Figure:
    ncols = max(1, min(ncols, count))
    nrows = math.ceil(count / ncols)
    return _new_figure(figsize=(cell_size * ncols, (cell_size + 0.4) * nrows), layout="constrained")


def _image_axes(fig: Figure, count: int, ncols: int) -> list[Axes]:
    """``count`` axes in a grid of ncols columns; the unused cells of the last row are removed."""
    ncols = max(1, min(ncols, count))
    axes = list(fig.subplots(math.ceil(count / ncols), ncols, squeeze=False).flat)
    for extra in axes[count:]:
        extra.remove()
    return axes[:count]


def _show_image(ax: Axes, pixels: np.ndarray) -> None:
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    if pixels.dtype != np.uint8:
        pixels = _stretched(pixels)
    ax.imshow(pixels, cmap="gray" if pixels.ndim == 2 else None, vmin=0, vmax=255 if pixels.dtype == np.uint8 else 1)
    ax.set_xticks([])
    ax.set_yticks([])


def _stretched(pixels: np.ndarray) -> np.ndarray:
    """Pixels stretched from their own min..max to 0..1 (all zeros when they are all equal)."""
    low, high = float(np.min(pixels)), float(np.max(pixels))
    return (pixels - low) / (high - low) if high > low else np.zeros_like(pixels, dtype=float)


def _as_array(image: ImageLike) -> np.ndarray:
    if isinstance(image, np.ndarray):
        return image
    try:
        return np.asarray(load_image(image))
    except ImageLoadError as error:
        raise PlotInputError(f"Cannot show {error.path}: {error.reason}.") from None


def _require_columns(table: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise PlotInputError(f"The table lacks columns {missing}; it has {list(table.columns)}.")


def _bars_height(count: int) -> float:
    return max(2.5, _BAR_HEIGHT_INCHES * count + 1.2)


def _small_ticks(ax: Axes, count: int, axis: str = "y") -> None:
    if count > 40:
        ax.tick_params(axis=axis, labelsize=6)


def _correct_caption(item: GalleryItem) -> str:
    return f"#{item.index}: {item.confidence:.0%}"


def _missed_caption(item: GalleryItem) -> str:
    return (
        f"#{item.index}: {item.predicted_breed} {item.confidence:.0%}\n(true breed {item.true_class_probability:.0%})"
    )


def _false_alarm_caption(item: GalleryItem) -> str:
    return f"#{item.index}: is {item.true_breed}\n({item.confidence:.0%})"
