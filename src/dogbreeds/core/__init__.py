"""Core: paths and settings, the error hierarchy, atomic files and JSON, provenance and timing (no domain)."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=[],
    submod_attrs={
        "config": [
            "REPO_ROOT",
            "SAMPLE_DATA_DIR",
            "DATA_DIR_ENV",
            "SHARED_DATASETS_ENV",
            "DEFAULT_SEED",
            "default_data_dir",
            "resolve_data_dir",
            "shared_datasets_dir",
        ],
        "errors": [
            "EXIT_OK",
            "EXIT_PROBLEMS_FOUND",
            "EXIT_USAGE",
            "EXIT_INTERRUPTED",
            "EXIT_TERMINATED",
            "DogbreedsError",
        ],
        "fileio": [
            "UnstorableValueError",
            "to_jsonable",
            "write_json_atomic",
            "write_bytes_atomic",
            "write_npz_atomic",
            "safe_name",
            "write_temp_file",
            "dumps_json",
            "loads_strict_json",
            "json_digest",
            "standard_error_to",
        ],
        "provenance": [
            "DEFAULT_HASH_CACHE",
            "file_sha256",
            "data_hash",
            "code_fingerprint",
            "source_fingerprint",
            "code_version",
            "device_name",
        ],
        "recordfile": [
            "SCHEMA_VERSION",
            "REQUIRED_KEYS",
            "RecordError",
            "library_versions",
            "make_record",
            "write_record",
            "load_record",
        ],
        "timing": [
            "TIMING_COLUMNS",
            "TimingError",
            "seconds_per_image",
            "compare_libraries",
            "alternating_passes",
        ],
        "words": [
            "counted",
        ],
    },
)
