"""The fine-tuning figure marks the kept epoch (not the best of each curve) and the head alone."""

from __future__ import annotations

import numpy as np
import pytest

from dogbreeds.judge.plots_common import PlotInputError
from dogbreeds.judge.plots_fine_tuning import plot_fine_tuning_curves

HISTORY = {
    "loss": [1.0, 0.6, 0.4],
    "val_loss": [0.8, 0.5, 0.55],
    "accuracy": [0.6, 0.7, 0.8],
    "val_accuracy": [0.7, 0.74, 0.76],  # best accuracy at epoch 3, yet epoch 2 (lowest loss) is kept
}


def test_the_kept_epoch_is_circled_on_both_validation_curves():
    figure = plot_fine_tuning_curves({"depth 1": HISTORY}, {"depth 1": 2}, head_val_accuracy=0.72, title="t")
    loss_axes, accuracy_axes = figure.axes
    for axes, key in ((loss_axes, "val_loss"), (accuracy_axes, "val_accuracy")):
        [circle] = axes.collections
        np.testing.assert_allclose(circle.get_offsets(), [[2, HISTORY[key][1]]])
    assert [line.get_ydata()[0] for line in accuracy_axes.lines if line.get_linestyle() == ":"] == [0.72]
    assert [text.get_text() for text in accuracy_axes.get_legend().get_texts()] == [
        "depth 1",
        "head alone (validation)",
    ]


def test_a_history_without_validation_or_kept_epoch_is_refused():
    with pytest.raises(PlotInputError, match="kept epoch"):
        plot_fine_tuning_curves({"depth 1": HISTORY}, {})
    with pytest.raises(PlotInputError, match="No fine-tuning"):
        plot_fine_tuning_curves({}, {})
