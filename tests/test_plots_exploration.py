"""The figures of the exploration and preprocessing notebooks: image sizes, boxes, covariance heat maps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dogbreeds.data.exploration import box_statistics, image_sizes
from dogbreeds.data.folder import discover
from dogbreeds.judge import plots


def texts(ax) -> list[str]:
    return [text.get_text() for text in ax.texts]


def test_image_sizes_scatter_and_aspect_histogram(sample_dir, tmp_path):
    sizes = image_sizes(discover(sample_dir).records, progress=False)
    fig = plots.plot_image_sizes(sizes)
    scatter, histogram = fig.axes
    assert len(scatter.collections[0].get_offsets()) == 150 and "150 images" in scatter.get_title()
    assert sum(patch.get_height() for patch in histogram.patches) == 150
    median = f"median {sizes['aspect_ratio'].median():.2f}"
    assert median in [text.get_text() for text in histogram.get_legend().get_texts()]
    assert plots.save_figure(fig, tmp_path / "sizes.png").stat().st_size > 10_000


def test_image_sizes_refuses_a_table_without_rows_or_columns():
    with pytest.raises(plots.PlotInputError, match="sizes is empty"):
        plots.plot_image_sizes(pd.DataFrame(columns=["width", "height", "aspect_ratio"]))
    with pytest.raises(plots.PlotInputError, match="lacks columns"):
        plots.plot_image_sizes(pd.DataFrame({"width": [1]}))


def test_box_statistics_bars_and_shares(make_dogs_dir):
    boxes = box_statistics(discover(make_dogs_dir(annotations=True)).records, progress=False)
    counts_ax, share_ax = plots.plot_box_statistics(boxes).axes
    assert [patch.get_height() for patch in counts_ax.patches] == [18]  # 18 images, each with 2 boxes
    assert [int(tick) for tick in counts_ax.get_xticks()] == [2]
    first_box_bars = [patch for patch in share_ax.patches if hasattr(patch, "get_height")]
    assert sum(patch.get_height() for patch in first_box_bars) == 18
    [bar] = [patch for patch in first_box_bars if patch.get_height()]
    assert bar.get_x() == pytest.approx(0.2)  # the first box covers 396 / 1,920 = 0.206 of each image
    assert texts(counts_ax) == ["18"] and not texts(share_ax)  # bar labels, no "no annotations" note


def test_box_statistics_without_annotations_says_so(sample_dir):
    boxes = box_statistics(discover(sample_dir).records, progress=False)
    fig = plots.plot_box_statistics(boxes)
    assert all("no annotations in this data folder" in " ".join(texts(ax)) for ax in fig.axes)
    assert all(not ax.patches for ax in fig.axes)


def test_covariance_matrices_share_one_symmetric_scale():
    identity, noisy = np.eye(4), np.eye(4) + np.diag([0.5, -0.2, 0, 0])
    noisy[0, 3] = -1.5
    fig = plots.plot_covariance_matrices({"training": identity, "held out": noisy}, title="Whitened covariance")
    training, held_out, colorbar = fig.axes
    assert [training.get_title(), held_out.get_title()] == ["training", "held out"]
    for ax in (training, held_out):
        assert ax.images[0].get_clim() == (-1.5, 1.5)
    assert np.array_equal(held_out.images[0].get_array(), noisy)
    assert fig.get_suptitle() == "Whitened covariance"
    with pytest.raises(plots.PlotInputError, match="must be square"):
        plots.plot_covariance_matrices({"bad": np.ones((2, 3))})
    with pytest.raises(plots.PlotInputError, match="matrices is empty"):
        plots.plot_covariance_matrices({})
