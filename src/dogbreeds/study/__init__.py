"""Study: run profiles, run folders and results records, the notebook runner and the report.

Public names are re-exported here and imported on first use, so that importing one module
never loads the others (nor TensorFlow or Gradio when they are not needed)."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=[],
    submod_attrs={
        "profiles": [
            "STANDALONE_OUTPUT",
            "PROFILES",
            "Allowed",
            "RunSettings",
            "profile_folder",
            "settings_for",
        ],
        "reporting": [
            "HIDDEN_TAGS",
            "CHROMIUM_NAMES",
            "CHROMIUM_ENV",
            "CHROMIUM_FLAGS",
            "PRINT_CSS",
            "ReportError",
            "export_notebook_html",
            "combine_notebooks",
            "build_combined_html",
            "find_chromium",
            "html_to_pdf",
            "STUDY_SCOPE",
            "title_page_for_run",
            "results_at_a_glance",
            "build_report",
            "KEEP_IN_TARGET",
            "PUBLISHED",
            "publish",
        ],
        "runner": [
            "NOTEBOOK_DIR",
            "NOTEBOOKS",
            "MANIFEST",
            "RunError",
            "NotebookFailed",
            "RunInterrupted",
            "KERNEL_ARGUMENTS",
            "KERNEL_SHUTDOWN_NOISE",
            "NotebookResult",
            "RUN_MANAGED",
            "notebook_parameters",
            "resolve_parameters",
            "select_notebooks",
            "new_run_dir",
            "latest_run_dir",
            "read_manifest",
            "run_notebooks",
        ],
        "safe_html": [
            "DROPPED_TAGS",
            "CHECKED_ATTRIBUTES",
            "DROPPED_ATTRIBUTES",
            "POLICY",
            "printable_html",
            "allowed",
        ],
        "session": [
            "DATASETS",
            "StudyData",
            "Study",
        ],
    },
)
