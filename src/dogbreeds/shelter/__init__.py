"""Shelter: the shipped 120-breed model, its training, the CSV labeller, the web app and the advice.

Public names are re-exported here and imported on first use, so that importing one module
never loads the others (nor TensorFlow or Gradio when they are not needed)."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=[],
    submod_attrs={
        "advice": [
            "DEFAULT_TARGET_ACCURACY",
            "DEFAULT_MIN_KEPT",
            "ShelterAdvice",
            "shelter_advice",
            "shelter_markdown",
        ],
        "app": [
            "MAX_FILE_SIZE",
            "THUMBNAIL",
            "STATUS_COLOURS",
            "CSS",
            "theme",
            "card",
            "thumbnail_of",
            "ShelterApp",
            "build_app",
            "serve",
        ],
        "labeller": [
            "COLUMNS",
            "DEFAULT_BATCH",
            "LabelError",
            "LabelSummary",
            "image_extensions",
            "collect_photos",
            "csv_row",
            "read_done",
            "label_photos",
            "answer_batches",
            "status_summary",
            "iter_rows",
        ],
        "model": [
            "SHIPPED_MODEL_DIR",
            "CONFIG_FILE",
            "HEAD_FILE",
            "RECORD_FILE",
            "MODEL_FORMAT",
            "LABELLED",
            "ASK_A_HUMAN",
            "NOT_A_DOG",
            "UNREADABLE",
            "STATUSES",
            "BASE_VIEWS",
            "VIEW_NAMES",
            "DEFAULT_VIEWS",
            "ShelterModelError",
            "ShelterConfig",
            "Answer",
            "photo_views",
            "ShelterModel",
            "backbone_network",
        ],
        "training": [
            "DEFAULT_BACKBONE",
            "TRAINED_VIEWS",
            "TrainedShelter",
            "imagenet_probabilities",
            "dog_probability",
            "dog_threshold_for",
            "train_shelter_model",
            "POLICIES",
            "view_features",
            "measure_shelter_model",
        ],
    },
)
