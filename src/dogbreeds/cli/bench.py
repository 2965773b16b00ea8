"""The ``dogbreeds bench transfer|scratch|throughput`` commands (and the ``bench`` group they belong to).

Registered by :mod:`dogbreeds.cli.program` (``COMMANDS``); the group also holds the shelter's benchmarks
(:func:`dogbreeds.cli.shelter.add_shelter_benchmarks`). Helpers from :mod:`dogbreeds.cli.common`; each
benchmark writes the command that reproduces it (``_bench_command_line``) into its records.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dogbreeds.cli.common import (
    Subcommands,
    _add_bench_options,
    _bench_command_line,
    _command_parser,
    _positive_int,
    add_data_dir_option,
)
from dogbreeds.cli.shelter import add_shelter_benchmarks
from dogbreeds.core.config import resolve_data_dir
from dogbreeds.core.errors import EXIT_OK


def add_bench_command(commands: Subcommands) -> None:
    """``dogbreeds bench transfer|scratch|throughput``: benchmarks on real data, results into benchmarks/results/."""
    bench = commands.add_parser(
        "bench",
        help="benchmark transfer learning, the scratch CNN or pipeline throughput on real data",
        description="Benchmarks on real data. Each writes results records (kind 'benchmark', the command in\n"
        "'source') into --results-dir (default: benchmarks/results/) and prints a table.",
        epilog="Run `dogbreeds bench BENCHMARK --help` for its options and examples.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    benchmarks = bench.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    for benchmark in _BENCHMARKS:
        parser = _command_parser(
            benchmarks, benchmark.name, benchmark.summary, benchmark.description, benchmark.examples
        )
        add_data_dir_option(parser)
        for flag, settings in benchmark.options:
            parser.add_argument(flag, **settings)
        _add_bench_options(parser, benchmark.run)
    add_shelter_benchmarks(benchmarks)


def run_bench_transfer(args: argparse.Namespace) -> int:
    """Run the transfer benchmark and print its table."""
    from dogbreeds.bench.common import BenchError
    from dogbreeds.bench.transfer import bench_transfer, default_transfer_variants, format_table

    variants = default_transfer_variants(args.backbones)
    if args.variants:
        unknown = sorted(set(args.variants) - {variant.name for variant in variants})
        if unknown:
            raise BenchError(f"Unknown variant(s) {unknown}; choose among: {', '.join(v.name for v in variants)}.")
        variants = [variant for variant in variants if variant.name in args.variants]
    table = bench_transfer(
        resolve_data_dir(args.data_dir),
        variants=variants,
        val_fraction=args.val_fraction,
        cache_dir=args.cache_dir,
        results_dir=args.results_dir,
        seed=args.seed,
        source=_bench_command_line(args),
        progress=True,
    )
    print(format_table(table))
    print(f"records: {args.results_dir}")
    return EXIT_OK


def run_bench_scratch(args: argparse.Namespace) -> int:
    """Run the scratch CNN benchmark and print its scores."""
    from dogbreeds.bench.common import BenchError
    from dogbreeds.bench.scratch import bench_scratch
    from dogbreeds.inputs.augmentation import AugmentationError, ResizedCropConfig

    try:
        crop = ResizedCropConfig(area=(args.crop_area, 1.0))
    except AugmentationError as error:
        raise BenchError(f"--crop-area: {error}") from None
    result = bench_scratch(
        resolve_data_dir(args.data_dir),
        image_size=args.image_size,
        load_size=args.load_size,
        epochs=args.epochs,
        crop=crop,
        flip_tta=not args.no_tta,
        val_fraction=args.val_fraction,
        pretrain_dir=args.pretrain_dir,
        pretrain_epochs=args.pretrain_epochs,
        results_dir=args.results_dir,
        seed=args.seed,
        source=_bench_command_line(args),
        progress=True,
    )
    metrics, timings = result["metrics"], result["timings"]
    print(
        f"scratch CNN: top-1 {metrics['top1']:.1%}, top-5 {metrics['top5']:.1%}, macro F1 {metrics['macro_f1']:.3f} "
        f"on {metrics['n']} test images (top-1 without flip TTA {metrics['top1_without_tta']:.1%}); "
        f"{timings['epochs_run']} epochs in {timings['train_seconds']:.0f} s"
        + (f" after {timings['pretrain_seconds']:.0f} s of pre-training" if "pretrain_seconds" in timings else "")
    )
    print(f"record: {result['record']}")
    return EXIT_OK


def run_bench_throughput(args: argparse.Namespace) -> int:
    """Run the throughput benchmark and print images per second and their ratio."""
    from dogbreeds.bench.throughput import bench_throughput

    result = bench_throughput(
        resolve_data_dir(args.data_dir),
        backbone=args.backbone,
        images=args.images,
        batch_size=args.batch_size,
        repeats=args.repeats,
        results_dir=args.results_dir,
        source=_bench_command_line(args),
        progress=True,
    )
    metrics = result["metrics"]
    print(
        f"{args.backbone}: pipeline {metrics['pipeline_images_per_s']:.1f} img/s, model only "
        f"{metrics['model_images_per_s']:.1f} img/s, ratio {metrics['ratio']:.2f}"
    )
    print(f"record: {result['record']}")
    return EXIT_OK


@dataclass(frozen=True)
class _Benchmark:
    """One ``dogbreeds bench`` command: its help texts, its options (flag, ``add_argument`` keywords) and its run."""

    name: str
    summary: str
    description: str
    examples: str
    options: tuple[tuple[str, dict[str, Any]], ...]
    run: Callable[[argparse.Namespace], int]


_BENCHMARKS = (
    _Benchmark(
        "transfer",
        "frozen backbones + heads, flip TTA, ensembles: 120-breed top-1 / top-5",
        "Features of each backbone on the official train list (cached in .cache/features), a stratified\n"
        "validation hold-out for early stopping, one row per variant scored on the official test list.",
        "  dogbreeds bench transfer --data-dir ../shared/datasets/stanford-dogs-crops224\n"
        "  dogbreeds bench transfer --data-dir DIR --backbones mobilenet_v2 --variants mobilenet_v2/logreg",
        (
            (
                "--backbones",
                dict(
                    nargs="+",
                    default=["mobilenet_v2", "efficientnet_lite0"],
                    metavar="NAME",
                    help="backbones whose variants run (default: mobilenet_v2 efficientnet_lite0)",
                ),
            ),
            ("--variants", dict(nargs="+", metavar="NAME", help="run only these variants (default: all)")),
            (
                "--val-fraction",
                dict(
                    type=float,
                    default=0.1,
                    metavar="F",
                    help="share of each breed's training images held out for early stopping (default: 0.1)",
                ),
            ),
            ("--cache-dir", dict(type=Path, metavar="DIR", help="feature cache (default: .cache/features)")),
        ),
        run_bench_transfer,
    ),
    _Benchmark(
        "scratch",
        "scratch CNN trained from random weights on the official split: top-1 / top-5",
        "Train the benchmark's scratch CNN (4 conv blocks, batch norm, AdamW) on the official train list\n"
        "for a fixed warm-up + cosine schedule, with random resized crops, flips and colour jitter, and\n"
        "score its last weights on the official test list (with flip test-time augmentation).",
        "  dogbreeds bench scratch --data-dir ../shared/datasets/stanford-dogs-photos10\n"
        "  dogbreeds bench scratch --data-dir DIR --image-size 96 --epochs 300 --val-fraction 0.2\n"
        "  dogbreeds bench scratch --data-dir ../shared/datasets/stanford-dogs-photos10 \\\n"
        "      --pretrain-dir ../shared/datasets/stanford-dogs-crops224",
        (
            ("--image-size", dict(type=_positive_int, default=64, metavar="N", help="input side (default: 64)")),
            (
                "--load-size",
                dict(
                    type=_positive_int,
                    metavar="N",
                    help="side the training photos are loaded at, crops are taken from (default: image size)",
                ),
            ),
            ("--epochs", dict(type=_positive_int, default=200, metavar="N", help="epochs (default: 200)")),
            (
                "--crop-area",
                dict(
                    type=float,
                    default=0.35,
                    metavar="F",
                    help="smallest share of a photo a training crop covers (default: 0.35)",
                ),
            ),
            (
                "--val-fraction",
                dict(
                    type=float,
                    default=0.0,
                    metavar="F",
                    help="share of each breed's training photos held out and scored each epoch (default: 0)",
                ),
            ),
            ("--no-tta", dict(action="store_true", help="score the test photos without their mirror images")),
            (
                "--pretrain-dir",
                dict(
                    metavar="DIR",
                    help="first train the CNN from random weights on this folder's train list (official lists; "
                    "none of its photos may be a test photo), then start from its layers",
                ),
            ),
            (
                "--pretrain-epochs",
                dict(type=_positive_int, default=30, metavar="N", help="epochs of that pre-training (default: 30)"),
            ),
        ),
        run_bench_scratch,
    ),
    _Benchmark(
        "throughput",
        "images/s of the file pipeline + backbone vs the backbone on preloaded tensors",
        "Time the feature pipeline (tf.data: parallel Pillow decode, resize, prefetch, then the backbone)\n"
        "against the same compiled backbone on the same images already in memory; report the ratio.",
        "  dogbreeds bench throughput --data-dir ../shared/datasets/stanford-dogs-crops224\n"
        "  dogbreeds bench throughput --backbone efficientnet_lite0 --images 256",
        (
            ("--backbone", dict(default="mobilenet_v2", metavar="NAME", help="default: mobilenet_v2")),
            ("--images", dict(type=_positive_int, default=512, metavar="N", help="images timed (default: 512)")),
            ("--batch-size", dict(type=_positive_int, default=64, metavar="N", help="default: 64")),
            (
                "--repeats",
                dict(type=_positive_int, default=3, metavar="N", help="timed passes of each, best kept (default: 3)"),
            ),
        ),
        run_bench_throughput,
    ),
)
"""The benchmarks in the order `dogbreeds bench --help` lists them."""
