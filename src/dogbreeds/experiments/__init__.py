"""Experiments: the study's experiments as data (transfer variants, ablations, the comparison).

Public names are re-exported here and imported on first use, so that importing one module
never loads the others (nor TensorFlow or Gradio when they are not needed)."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=[],
    submod_attrs={
        "ablation": [
            "DEFAULT_PATIENCE",
            "EVALUATION_KEYS",
            "TABLE_COLUMNS",
            "TrainedModel",
            "train_and_evaluate",
            "SeedRun",
            "VariantResult",
            "RESUME_FORMAT",
            "run_variant",
            "run_ablation",
            "ablation_table",
        ],
        "ablation_variants": [
            "AblationError",
            "Variant",
            "BASELINE",
            "VARIANTS",
            "describe_change",
            "VariantInputs",
        ],
        "comparison": [
            "COLUMNS",
            "DISPLAY_COLUMNS",
            "ACCURACY_COLUMNS",
            "COST_COLUMNS",
            "REQUIRED_COLUMNS",
            "ComparisonError",
            "NoModelRecordsError",
            "comparison_table",
            "BestModel",
            "choose_best",
            "readable_table",
            "worst_breed",
            "pick_photos",
            "comparison_markdown",
            "studied_markdown",
            "percent",
            "resolve_model_path",
        ],
        "predictions": [
            "PredictionsError",
            "PhotoPredictor",
            "SplitPredictions",
            "save_predictions",
            "load_predictions",
            "predict_split",
        ],
        "records": [
            "TABLE_SECTIONS",
            "MODEL_KINDS",
            "ModelResult",
            "check_model_record",
            "latest_records",
            "load_records",
        ],
        "scratch_text": [
            "scratch_conclusions",
        ],
        "transfer_experiment": [
            "ExperimentError",
            "TransferVariant",
            "FineTuneVariant",
            "TransferResult",
            "TransferExperiment",
            "head_variants",
            "fine_tune_variants",
            "results_table",
        ],
        "transfer_text": [
            "head_runs_markdown",
            "fine_tune_choice_markdown",
            "epochs_markdown",
            "chart_markdown",
            "saved_bundle_markdown",
            "transfer_conclusions",
        ],
    },
)
