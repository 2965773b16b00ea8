"""The data-size curve: test top-1 against training photos a breed, from scratch and by transfer, on a log scale."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from dogbreeds.judge.plots_common import PlotInputError, _figure, _require_columns

_STYLES = {"from scratch": "--", "transfer": "-"}


def plot_data_size_curve(
    curve: pd.DataFrame, chance: float | None = None, title: str = "Test top-1 against training photos a breed"
) -> Figure:
    """One line per model (columns family, model, per breed, test top-1, low, high), its interval as error bars.

    Scratch networks are dashed, transfer models solid (the legend names each model under the axes);
    ``chance`` is drawn as a dotted line.
    """
    _require_columns(curve, ("family", "model", "per breed", "test top-1", "low", "high"))
    if curve.empty:
        raise PlotInputError("The data-size curve has no point; give one row per model and training-set size.")
    fig, axes = _figure(7.5, 5.0)
    ax = axes[0, 0]
    groups = list(curve.groupby(["family", "model"], sort=False))
    for ((family, model), rows), color in zip(groups, sns.color_palette("colorblind", len(groups))):
        rows = rows.sort_values("per breed")
        values = rows["test top-1"].to_numpy()
        errors = np.vstack([values - rows["low"].to_numpy(), rows["high"].to_numpy() - values])
        ax.errorbar(
            rows["per breed"], values, yerr=errors, label=model, color=color,
            linestyle=_STYLES.get(family, "-"), marker="o", capsize=3,
        )  # fmt: skip
    if chance is not None:
        ax.axhline(chance, color="0.3", linestyle=":", linewidth=1.2, label=f"chance ({chance:.1%})")
    sizes = sorted(curve["per breed"].unique())
    ax.set_xscale("log")
    ax.set_xticks(sizes, [f"{size:.0f}" for size in sizes])
    ax.minorticks_off()
    ax.set(ylim=(0, 1), xlabel="training photos a breed (log scale)", ylabel="test top-1", title=title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, fontsize="small")  # under the axes
    return fig
