"""Every figure of the notebooks and the report, in one namespace: ``plots.plot_xxx(...)``.

The figures live by family in :mod:`~dogbreeds.judge.plots_data` (the data and its
preprocessing), :mod:`~dogbreeds.judge.plots_training` (learning curves, ablation, timings) and
:mod:`~dogbreeds.judge.plots_results` (confusions, calibration, galleries, Grad-CAM) and
:mod:`~dogbreeds.judge.plots_head_to_head` (the data-size curve), on the
shared helpers of :mod:`~dogbreeds.judge.plots_common`; a notebook imports this one module.
Figures are ``matplotlib.figure.Figure`` objects built without pyplot; a notebook shows one as a
cell's last value or with ``display(fig)``, and :func:`save_figure` writes it as a PNG.
"""

from dogbreeds.judge.plots_common import DEFAULT_DPI, NotebookFigure, PlotInputError, save_figure
from dogbreeds.judge.plots_data import (
    LABELLED_BREEDS,
    plot_box_statistics,
    plot_covariance_matrices,
    plot_histogram_comparison,
    plot_image_grid,
    plot_image_sizes,
    plot_images_per_breed,
)
from dogbreeds.judge.plots_head_to_head import plot_data_size_curve
from dogbreeds.judge.plots_results import (
    plot_confidence_thresholds,
    plot_confusion_matrix,
    plot_coverage_accuracy,
    plot_error_gallery,
    plot_gradcam_grid,
    plot_model_comparison,
    plot_per_breed_accuracy,
    plot_prediction,
    plot_reliability_diagram,
)
from dogbreeds.judge.plots_training import plot_ablation, plot_learning_curves, plot_timings

__all__ = [
    "DEFAULT_DPI",
    "LABELLED_BREEDS",
    "NotebookFigure",
    "PlotInputError",
    "plot_ablation",
    "plot_box_statistics",
    "plot_confidence_thresholds",
    "plot_confusion_matrix",
    "plot_coverage_accuracy",
    "plot_covariance_matrices",
    "plot_data_size_curve",
    "plot_error_gallery",
    "plot_gradcam_grid",
    "plot_histogram_comparison",
    "plot_image_grid",
    "plot_image_sizes",
    "plot_images_per_breed",
    "plot_learning_curves",
    "plot_model_comparison",
    "plot_per_breed_accuracy",
    "plot_prediction",
    "plot_reliability_diagram",
    "plot_timings",
    "save_figure",
]
