"""Every figure builds from small inputs with the expected panels and bars, and saves as a PNG."""

from __future__ import annotations

import os

import matplotlib._pylab_helpers
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

from dogbreeds.judge import evaluation as ev
from dogbreeds.judge import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NAMES = ["beagle", "boxer", "collie", "dingo", "eskimo_dog"]


@pytest.fixture
def predictions() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(len(NAMES)), 8)
    logits = rng.normal(size=(len(labels), len(NAMES)))
    logits[np.arange(len(labels)), labels] += 1.5
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return labels, probs


def photo(seed: int = 0, size: tuple[int, int] = (20, 30)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def bars(ax) -> int:
    return len(ax.patches)


def test_figures_do_not_touch_pyplot(predictions):
    labels, probs = predictions
    plots.plot_per_breed_accuracy(ev.per_breed_accuracy(labels, probs, NAMES))
    assert matplotlib._pylab_helpers.Gcf.get_num_fig_managers() == 0


def test_figures_render_as_png_in_notebooks_without_pyplot():
    from IPython.core.formatters import PNGFormatter

    assert PNGFormatter()(plots.plot_timings({"load": 1.0})).startswith(PNG_SIGNATURE)


def test_save_figure_writes_png_atomically_and_creates_folders(tmp_path):
    fig = plots.plot_timings({"load": 1.0})
    target = plots.save_figure(fig, tmp_path / "deep" / "folder" / "timings.png")
    data = target.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000
    assert Image.open(target).size == (7 * plots.DEFAULT_DPI, int(2.5 * plots.DEFAULT_DPI))
    assert [p.name for p in target.parent.iterdir()] == ["timings.png"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # readable like any new file, not a private temp file
    with pytest.raises(plots.PlotInputError, match=r"\.png"):
        plots.save_figure(fig, tmp_path / "timings.jpg")


def test_learning_curves_one_panel_per_metric_with_train_and_validation():
    history = {
        "loss": [2.0, 1.5, 1.2],
        "val_loss": [2.1, 1.6, 1.7],
        "accuracy": [0.2, 0.4, 0.5],
        "val_accuracy": [0.2, 0.35, 0.33],
    }
    fig = plots.plot_learning_curves(history)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    loss_ax = fig.axes[0]
    assert [line.get_label() for line in loss_ax.lines] == ["train", "validation"]
    assert list(loss_ax.lines[1].get_ydata()) == [2.1, 1.6, 1.7]
    assert "kept: epoch 2" in loss_ax.get_legend().get_texts()[-1].get_text()
    assert len(plots.plot_learning_curves({"loss": [1.0, 0.5]}).axes) == 1


def test_learning_curves_circle_the_kept_epoch_in_every_panel_and_draw_chance():
    history = {  # lowest validation loss at epoch 2, highest validation accuracy at epoch 4
        "loss": [2.0, 1.5, 1.2, 1.0],
        "val_loss": [2.1, 1.6, 1.7, 1.8],
        "accuracy": [0.2, 0.4, 0.5, 0.6],
        "val_accuracy": [0.2, 0.3, 0.33, 0.36],
    }

    def circled(fig):
        return [tuple(ax.collections[0].get_offsets()[0]) for ax in fig.axes]

    assert circled(plots.plot_learning_curves(history)) == [(2, 1.6), (2, 0.3)]  # what early stopping restored
    fixed = plots.plot_learning_curves(history, kept_epoch=4, chance=0.1)  # a fixed budget keeps the last epoch
    assert circled(fixed) == [(4, 1.8), (4, 0.36)]
    assert "kept: epoch 4" in fixed.axes[1].get_legend().get_texts()[2].get_text()
    chance_lines = [line for line in fixed.axes[1].lines if line.get_label().startswith("chance")]
    assert len(chance_lines) == 1 and list(chance_lines[0].get_ydata()) == [0.1, 0.1]
    assert not [line for line in fixed.axes[0].lines if line.get_label().startswith("chance")]  # not on the loss
    with pytest.raises(plots.PlotInputError, match="outside the"):
        plots.plot_learning_curves(history, kept_epoch=0)


def test_learning_curves_accept_a_keras_history_object():
    class History:
        history = {"loss": [1.0], "val_loss": [1.1]}

    assert len(plots.plot_learning_curves(History()).axes) == 1
    with pytest.raises(plots.PlotInputError, match="None of the metrics"):
        plots.plot_learning_curves({"lr": [0.1]})


def test_images_per_breed_one_bar_per_breed():
    fig = plots.plot_images_per_breed({"beagle": 30, "boxer": 10, "collie": 20})
    ax = fig.axes[0]
    assert bars(ax) == 3
    assert [tick.get_text() for tick in ax.get_yticklabels()] == ["boxer", "collie", "beagle"]


def test_images_per_breed_for_many_breeds_fits_half_a_page_and_names_the_extremes():
    counts = {f"breed {i:03d}": 100 + i for i in range(120)}
    fig = plots.plot_images_per_breed(counts)
    ax = fig.axes[0]
    assert bars(ax) == 120 and fig.get_size_inches()[1] < 5
    text = "\n".join(t.get_text() for t in ax.texts)
    assert "breed 119 (219)" in text and "breed 000 (100)" in text and "breed 060" not in text
    assert ax.get_xlabel().startswith("breeds, from most to fewest") and ax.get_ylabel() == "images"


def test_image_grid_one_axis_per_image_from_arrays_and_files(tmp_path):
    path = tmp_path / "dog.png"
    Image.fromarray(photo(1)).save(path)
    images = [photo(i) for i in range(6)] + [path]
    fig = plots.plot_image_grid(images, titles=[f"dog {i}" for i in range(7)], ncols=3)
    assert len(fig.axes) == 7
    assert fig.axes[6].get_title() == "dog 6"
    with pytest.raises(plots.PlotInputError, match="No such file"):
        plots.plot_image_grid([tmp_path / "missing.jpg"])


def test_confusion_matrix_full_and_top_n():
    matrix = np.diag([9, 9, 9, 9, 9])
    matrix[2, 4] = 3
    matrix[4, 2] = 1
    fig = plots.plot_confusion_matrix(matrix, NAMES)
    assert len(fig.axes) == 2  # heat map and colour bar
    assert len(fig.axes[0].texts) == 25
    focused = plots.plot_confusion_matrix(matrix, NAMES, top_n=2, normalize=False)
    ax = focused.axes[0]
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["collie", "eskimo_dog"]
    assert [text.get_text() for text in ax.texts] == ["9", "3", "1", "9"]
    with pytest.raises(plots.PlotInputError, match="square"):
        plots.plot_confusion_matrix(matrix[:3], NAMES)


def test_per_breed_accuracy_bars_and_limit(predictions):
    labels, probs = predictions
    table = ev.per_breed_accuracy(labels, probs, NAMES)
    assert bars(plots.plot_per_breed_accuracy(table).axes[0]) == 5
    limited = plots.plot_per_breed_accuracy(table, limit=2).axes[0]
    assert bars(limited) == 4
    shown = [tick.get_text() for tick in limited.get_yticklabels()]
    ordered = table.sort_values(["accuracy", "breed"])["breed"].tolist()
    assert shown == ordered[:2] + ordered[-2:]


def test_model_comparison_grouped_bars():
    results = pd.DataFrame(
        {"model": ["scratch", "mobilenet", "tuned"], "top1": [0.1, 0.7, 0.2], "top5": [0.3, 0.9, 0.4]}
    )
    fig = plots.plot_model_comparison(results, metrics=("top1", "top5"))
    ax = fig.axes[0]
    assert bars(ax) == 6
    assert [tick.get_text() for tick in ax.get_yticklabels()] == ["scratch", "tuned", "mobilenet"]
    with pytest.raises(plots.PlotInputError, match="lacks columns"):
        plots.plot_model_comparison(results, metrics=("kappa",))


def test_reliability_diagram_bars_per_bin_and_errors_in_title(predictions):
    labels, probs = predictions
    table = ev.reliability_table(labels, probs, n_bins=8)
    fig = plots.plot_reliability_diagram(table)
    top, bottom = fig.axes
    assert bars(top) == 8 and bars(bottom) == 8
    ece = ev.expected_calibration_error(labels, probs, n_bins=8)
    assert f"ECE {ece:.3f}" in top.get_title()
    assert top.get_legend() is None and len(fig.legends) == 1  # the legend sits below the panels, off the bars
    fig.canvas.draw()
    legend_box, bottom_box = fig.legends[0].get_window_extent(), bottom.get_tightbbox()
    assert legend_box.y1 <= bottom_box.y0 + 1


def test_confidence_thresholds_plot(predictions):
    labels, probs = predictions
    table = ev.confidence_threshold_table(labels, probs)
    fig = plots.plot_confidence_thresholds(table, chosen_threshold=0.5)
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 3
    assert "threshold 0.50" in fig.axes[0].get_legend().get_texts()[-1].get_text()


def test_error_gallery_three_rows(predictions):
    labels, probs = predictions
    images = [photo(i) for i in range(len(labels))]
    gallery = ev.error_gallery(labels, probs, NAMES, "beagle", images=images, per_group=4)
    fig = plots.plot_error_gallery(gallery)
    expected = sum(
        max(1, len(group)) for group in (gallery.true_positives, gallery.false_negatives, gallery.false_positives)
    )
    assert len(fig.axes) == expected
    with pytest.raises(plots.PlotInputError, match="images="):
        plots.plot_error_gallery(ev.error_gallery(labels, probs, NAMES, "beagle"))


def test_prediction_photo_and_top_k_bars():
    probs = np.array([0.05, 0.6, 0.1, 0.2, 0.05])
    fig = plots.plot_prediction(photo(), probs, NAMES, top_k=3, true_breed="dingo")
    photo_ax, bars_ax = fig.axes
    assert bars(bars_ax) == 3
    assert [tick.get_text() for tick in bars_ax.get_yticklabels()] == ["boxer", "dingo", "collie"]
    assert "Predicted: boxer (60%)" in photo_ax.get_title()
    assert bars(plots.plot_prediction(photo(), probs, NAMES, top_k=10).axes[1]) == 5


def test_gradcam_grid_photo_and_overlay_per_image():
    from dogbreeds.judge.heatmaps import overlay_heatmap

    heatmaps = [np.random.default_rng(i).random((4, 4)) for i in range(3)]
    fig = plots.plot_gradcam_grid([photo(i) for i in range(3)], heatmaps, titles=["a", "b", "c"])
    assert len(fig.axes) == 6
    assert len(fig.axes[1].images) == 1  # the photo blended with its heat map
    blended = overlay_heatmap(photo(0), heatmaps[0], alpha=0.45)
    np.testing.assert_array_equal(np.asarray(fig.axes[1].images[0].get_array()), blended)
    with pytest.raises(plots.PlotInputError, match="one heat map per image"):
        plots.plot_gradcam_grid([photo()], heatmaps)


def test_histogram_comparison_rgb_and_grey():
    fig = plots.plot_histogram_comparison(photo(), np.random.default_rng(0).normal(size=(20, 30)).astype(np.float32))
    assert len(fig.axes) == 4
    assert len(fig.axes[2].lines) == 3 and len(fig.axes[3].lines) == 1


def test_timings_bars_with_values():
    fig = plots.plot_timings({"load": 1.5, "resize": 0.25, "train": 40.0}, unit="s")
    ax = fig.axes[0]
    assert bars(ax) == 3
    assert "40 s" in [text.get_text() for text in ax.texts]
