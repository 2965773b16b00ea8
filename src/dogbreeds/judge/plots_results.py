"""Figures of the results, from :mod:`dogbreeds.judge.evaluation`'s tables and arrays.

Confusions, per-breed accuracy, the model comparison, reliability, confidence thresholds,
error galleries, single predictions and Grad-CAM grids.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from dogbreeds.judge.evaluation import ErrorGallery, GalleryItem, calibration_errors, most_confused_classes
from dogbreeds.judge.heatmaps import overlay_heatmap
from dogbreeds.judge.plots_common import (
    _BAD_COLOR,
    _GOOD_COLOR,
    _NEUTRAL_COLOR,
    _TRAIN_COLOR,
    ImageLike,
    PlotInputError,
    _as_array,
    _bare_figure,
    _bars_height,
    _figure,
    _image_axes,
    _new_figure,
    _require_columns,
    _show_image,
    _small_ticks,
    _stretched,
)
from dogbreeds.judge.tables import words


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
            label=words(metric),  # "top-1", not the column's code name "top1"
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


def _correct_caption(item: GalleryItem) -> str:
    return f"#{item.index}: {item.confidence:.0%}"


def _missed_caption(item: GalleryItem) -> str:
    return (
        f"#{item.index}: {item.predicted_breed} {item.confidence:.0%}\n(true breed {item.true_class_probability:.0%})"
    )


def _false_alarm_caption(item: GalleryItem) -> str:
    return f"#{item.index}: is {item.true_breed}\n({item.confidence:.0%})"
