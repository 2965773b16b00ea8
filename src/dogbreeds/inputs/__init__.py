"""Inputs: pixels to tensors (datasets, arrays, Pillow/OpenCV preprocessing, augmentation, whitening).

Public names are re-exported here and imported on first use, so that importing one module
never loads the others (nor TensorFlow or Gradio when they are not needed)."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=[],
    submod_attrs={
        "arrays": [
            "ArraysError",
            "LabeledImages",
            "SplitArrays",
            "load_split_arrays",
            "load_labeled_images",
            "TimedPredictions",
            "predict_timed",
        ],
        "augmentation": [
            "FILL_MODES",
            "AugmentationError",
            "AugmentationConfig",
            "PRESETS",
            "resolve_config",
            "make_augmentation",
            "ResizedCropConfig",
            "random_resized_crop",
            "resized_crop_dataset",
            "preview_augmentations",
        ],
        "pipeline": [
            "make_dataset",
        ],
        "preprocessing": [
            "RGB",
            "RESIZE_MODES",
            "PreprocessingError",
            "InvalidImageError",
            "UnknownPreprocessorError",
            "to_rgb_array",
            "to_pil",
            "pil_resize",
            "pil_grayscale",
            "pil_autocontrast",
            "pil_equalize",
            "cv_resize",
            "cv_equalize_luma",
            "cv_clahe",
            "cv_denoise_nl_means",
            "cv_bilateral_filter",
            "cv_gaussian_blur",
            "map_images",
            "PREPROCESSORS",
            "named_preprocessor",
            "apply_named",
        ],
        "preprocessing_text": [
            "denoising_markdown",
            "whitening_fit_markdown",
            "whitening_check_markdown",
            "timings_markdown",
        ],
        "whitening": [
            "METHODS",
            "MAX_DIMENSIONS",
            "WhiteningError",
            "NotFittedError",
            "Whitener",
            "CovarianceCheck",
            "covariance_check",
        ],
    },
)
