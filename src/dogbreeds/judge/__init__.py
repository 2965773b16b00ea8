"""Judge: metrics, calibration, verdicts and figures, computed on arrays (no model needed).

Public names are re-exported here and imported on first use, so that importing one module
never loads the others (nor TensorFlow or Gradio when they are not needed)."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=[],
    submod_attrs={
        "calibration": [
            "TEMPERATURE_BOUNDS",
            "softmax",
            "view_probabilities",
            "negative_log_likelihood",
            "fit_temperature",
            "Threshold",
            "threshold_metrics",
            "confidence_threshold",
        ],
        "evaluation": [
            "DEFAULT_CALIBRATION_BINS",
            "DEFAULT_THRESHOLDS",
            "EvaluationInputError",
            "check_predictions",
            "predicted_labels",
            "top_k_accuracy",
            "macro_f1",
            "cohen_kappa",
            "confusion_matrix",
            "per_breed_accuracy",
            "most_confused_pairs",
            "most_confused_classes",
            "reliability_table",
            "expected_calibration_error",
            "calibration_errors",
            "confidence_threshold_table",
            "threshold_for_accuracy",
            "GalleryItem",
            "ErrorGallery",
            "error_gallery",
            "evaluate",
        ],
        "heatmaps": [
            "HeatmapError",
            "overlay_heatmap",
        ],
        "plots_common": [
            "DEFAULT_DPI",
            "PlotInputError",
            "NotebookFigure",
            "save_figure",
        ],
        "plots_data": [
            "LABELLED_BREEDS",
            "plot_images_per_breed",
            "plot_image_grid",
            "plot_histogram_comparison",
            "plot_image_sizes",
            "plot_box_statistics",
            "plot_covariance_matrices",
        ],
        "plots_results": [
            "plot_confusion_matrix",
            "plot_per_breed_accuracy",
            "plot_model_comparison",
            "plot_reliability_diagram",
            "plot_confidence_thresholds",
            "plot_error_gallery",
            "plot_prediction",
            "plot_gradcam_grid",
        ],
        "plots_training": [
            "plot_learning_curves",
            "plot_ablation",
            "plot_timings",
        ],
        "verdicts": [
            "VerdictError",
            "ablation_verdicts",
            "welch_half_width",
            "summarize_ablation",
        ],
    },
)
