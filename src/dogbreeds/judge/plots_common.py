"""What every figure shares: the figure class, saving as PNG, the palette and the layout helpers.

Figures are built with the object API (``matplotlib.figure.Figure``), never through
pyplot, so no global figure state is created or leaked; :class:`NotebookFigure` shows
itself in Jupyter and :func:`save_figure` writes it as a PNG.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dogbreeds.core.errors import DogbreedsError
from dogbreeds.core.fileio import write_bytes_atomic
from dogbreeds.data.images import ImageLoadError, load_image

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
