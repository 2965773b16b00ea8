"""Benchmarks on real data: transfer and scratch recipes, throughput, the labeller's speed."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=[],
    submod_attrs={
        "common": [
            "DEFAULT_RESULTS_DIR",
            "BENCH_KIND",
            "BenchError",
            "write_bench_record",
        ],
        "label_speed": [
            "bench_label",
        ],
        "scratch": [
            "bench_scratch",
        ],
        "throughput": [
            "bench_throughput",
        ],
        "transfer": [
            "DEFAULT_BACKBONES",
            "TABLE_COLUMNS",
            "default_transfer_variants",
            "bench_transfer",
            "format_table",
        ],
    },
)
