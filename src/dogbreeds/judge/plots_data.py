"""Figures of the data and its preprocessing: breeds' counts, image grids, sizes, boxes, histograms, covariances."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from dogbreeds.judge.plots_common import (
    _NEUTRAL_COLOR,
    _TRAIN_COLOR,
    _VALIDATION_COLOR,
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
)

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
