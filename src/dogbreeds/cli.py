"""The `dogbreeds` command line (also `python -m dogbreeds`).

Each command is one `add_<name>_command(commands)` function that creates its parser
and sets `run=<function taking the parsed args, returning an exit code>`. `COMMANDS`
lists the top-level commands (`dogbreeds COMMAND`), `DATA_COMMANDS` the subcommands of
`dogbreeds data`. The `data` commands never import TensorFlow.

Exit codes (``dogbreeds.errors``): 0 success, 1 `data scan` found unusable files, a notebook
failed or `predict` could not read a photo, 2 wrong usage, data folder, model or file (any
``DogbreedsError``: a one-line message, no traceback), 130 interrupted (Ctrl-C), 143
terminated (SIGTERM, during `run`).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from dogbreeds import __version__
from dogbreeds.config import DATA_DIR_ENV, DEFAULT_SEED, REPO_ROOT, default_data_dir, resolve_data_dir
from dogbreeds.data import discover, summarize
from dogbreeds.download import OFFICIAL_BASE_URL, PARTS, download_stanford_dogs, missing_parts
from dogbreeds.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_PROBLEMS_FOUND, EXIT_USAGE, DogbreedsError
from dogbreeds.profiles import PROFILES, profile_folder

Subcommands = argparse._SubParsersAction  # what add_subparsers() returns


def add_data_dir_option(parser: argparse.ArgumentParser) -> None:
    """The `--data-dir DIR` option every data command takes."""
    parser.add_argument("--data-dir", type=Path, metavar="DIR",
                        help=f"data folder in the Stanford Dogs layout (Images/<wnid>-<Breed>/*.jpg, optional "
                             f"Annotation/ and lists/); default: ${DATA_DIR_ENV} if set, else the bundled "
                             f"sample (now: {default_data_dir()})")


def _command_parser(commands: Subcommands, name: str, summary: str, description: str,
                    examples: str) -> argparse.ArgumentParser:
    return commands.add_parser(name, help=summary, description=description, epilog=f"examples:\n{examples}",
                               formatter_class=argparse.RawDescriptionHelpFormatter)


def add_summary_command(commands: Subcommands) -> None:
    """`dogbreeds data summary`: counts of breeds, images and splits."""
    parser = _command_parser(
        commands, "summary", "count breeds, images and official split sizes (fast: opens no image)",
        "Print the number of breeds and images, the official train/test split sizes (when lists/ exists),\n"
        "images that no list names (not used in splits), annotations, and a per-breed table.",
        "  dogbreeds data summary\n"
        "  dogbreeds data summary --data-dir ../shared/datasets/stanford-dogs-crops224\n"
        "  dogbreeds data summary --json > summary.json")
    add_data_dir_option(parser)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(run=run_summary)


def run_summary(args: argparse.Namespace) -> int:
    """Print the summary of the data folder."""
    summary = summarize(discover(resolve_data_dir(args.data_dir)))
    print(json.dumps(summary.to_dict(), indent=2) if args.json else summary.to_text())
    return EXIT_OK


def add_scan_command(commands: Subcommands) -> None:
    """`dogbreeds data scan`: list unreadable or suspicious files."""
    parser = _command_parser(
        commands, "scan", "list unreadable or suspicious files (exit code 1 when a file is unusable)",
        "Check every image and annotation. Errors are files the loaders skip (not an image, truncated or\n"
        "corrupt, too small, decompression bomb); warnings are files used with a caveat (PNG data in a .jpg\n"
        "file, grayscale/CMYK/transparent images converted to RGB, unreadable annotation: image uncropped,\n"
        "empty breed folder, stray file, list entry with no image). Exit code 1 when there is any error,\n"
        "0 otherwise (warnings alone do not fail).",
        "  dogbreeds data scan\n"
        "  dogbreeds data scan --data-dir ~/stanford-dogs --deep\n"
        "  dogbreeds data scan --json > problems.json")
    add_data_dir_option(parser)
    parser.add_argument("--deep", action="store_true",
                        help="decode every image completely (slower; finds corruption inside JPEG data)")
    parser.add_argument("--workers", type=_positive_int, metavar="N", help="threads reading files (default: a few "
                        "more than the CPU count, at most 8)")
    parser.add_argument("--max-rows", type=int, default=50, metavar="N",
                        help="problems shown in the table (default: 50; 0 shows all)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON (every problem)")
    parser.set_defaults(run=run_scan)


def run_scan(args: argparse.Namespace) -> int:
    """Scan the data folder and print its problems."""
    from dogbreeds.quality import scan

    report = scan(resolve_data_dir(args.data_dir), deep=args.deep, workers=args.workers,
                  progress=sys.stderr.isatty())
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.to_text(args.max_rows))
    return EXIT_PROBLEMS_FOUND if report.errors else EXIT_OK


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_download_command(commands: Subcommands) -> None:
    """`dogbreeds data download`: fetch and extract the official Stanford Dogs archives."""
    parser = _command_parser(
        commands, "download", "download the official Stanford Dogs archives into a folder (needs network)",
        "Download images.tar (757 MiB), annotation.tar and lists.tar, check each one's size and sha256,\n"
        "and extract them safely into DIR/Images, DIR/Annotation and DIR/lists. An interrupted download\n"
        "resumes where it stopped; parts already in DIR are skipped, so running it again does nothing.\n"
        f"Without network, use an existing copy instead: --data-dir DIR or {DATA_DIR_ENV}=DIR.",
        "  dogbreeds data download --dest ~/stanford-dogs\n"
        "  dogbreeds data download --dest ~/stanford-dogs --parts images lists\n"
        "  dogbreeds data summary --data-dir ~/stanford-dogs")
    parser.add_argument("--dest", type=Path, metavar="DIR", required=True,
                        help="folder to put the data in (created if needed; about 1.6 GB during the download)")
    parser.add_argument("--base-url", default=OFFICIAL_BASE_URL, metavar="URL",
                        help=f"where the archives are served (default: {OFFICIAL_BASE_URL})")
    parser.add_argument("--parts", nargs="+", choices=list(PARTS), default=list(PARTS), metavar="PART",
                        help=f"archives to fetch, among {', '.join(PARTS)} (default: all)")
    parser.set_defaults(run=run_download)


def run_download(args: argparse.Namespace) -> int:
    """Download the missing parts into the destination folder, then name the next command."""
    dest = args.dest.expanduser()
    if not missing_parts(dest, args.parts):
        print(f"Stanford Dogs ({', '.join(args.parts)}) is already in {dest}: nothing to download.")
    else:
        download_stanford_dogs(dest, args.base_url, args.parts, progress=sys.stderr.isatty())
        print(f"Stanford Dogs ({', '.join(args.parts)}) is in {dest}.")
    print(f"Next: dogbreeds data summary --data-dir {shlex.quote(str(dest))}")
    return EXIT_OK


DATA_COMMANDS: list[Callable[[Subcommands], None]] = [add_summary_command, add_scan_command, add_download_command]
"""The `data` subcommands, in the order `dogbreeds data --help` lists them."""


def add_data_group(commands: Subcommands) -> None:
    """`dogbreeds data`: the group of data subcommands (`DATA_COMMANDS`)."""
    data = commands.add_parser("data", help="inspect, check or download a Stanford Dogs data folder",
                               description="Inspect, check or download a data folder in the Stanford Dogs layout.",
                               epilog="Run `dogbreeds data SUBCOMMAND --help` for its options and examples.")
    subcommands = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    for add_command in DATA_COMMANDS:
        add_command(subcommands)


def _parameter(text: str) -> tuple[str, object]:
    """`KEY=VALUE` from --set; VALUE read as JSON when it parses (3, 0.5, "all", [..]), else as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with KEY a parameter name, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def add_run_command(commands: Subcommands) -> None:
    """`dogbreeds run`: execute notebooks 01-05 with papermill into a run folder, then build the report."""
    parser = _command_parser(
        commands, "run", "run the notebooks 01-05 into a run folder and build the report (what ./run_all.sh does)",
        "Execute notebooks/01_exploration ... 05_comparison in order, each in a fresh kernel, into\n"
        "RUNS/<time>-<profile>/notebooks/, then export the report (HTML of each notebook, a combined\n"
        "report.html and report.pdf) into that folder's report/ (with --publish, also into the\n"
        "repository's report/, the reference report).\n"
        "A failing notebook stops the run and is named with its cell; --from resumes from a notebook.",
        "  dogbreeds run                                  # quick profile on the bundled sample\n"
        "  dogbreeds run --data-dir ../shared/datasets/stanford-dogs-photos10\n"
        "  dogbreeds run --profile cpu --publish          # the real study on ../shared/datasets (CPU, ~2 h),\n"
        "                                                 # made the reference report in report/\n"
        "  dogbreeds run --full                           # GPU reproduction on Stanford Dogs\n"
        "  dogbreeds run --from 03                        # resume the latest run from notebook 03\n"
        "  dogbreeds run --set epochs=3 --set breeds=5    # override notebook parameters")
    add_data_dir_option(parser)
    parser.add_argument("--profile", choices=sorted(PROFILES), help="quick: minutes on a CPU, the bundled sample "
                        "(default); cpu: the real study on a CPU, on ../shared/datasets (about 2 hours); "
                        "full: the real reproduction, meant for a GPU")
    parser.add_argument("--full", action="store_true", help="--profile full on the full Stanford Dogs "
                        "(default folder data/stanford-dogs, downloaded when missing and the network allows)")
    parser.add_argument("--from", dest="start", metavar="NN", help="resume the latest run (or --run-dir) from "
                        "notebook NN, e.g. 03")
    parser.add_argument("--until", metavar="NN", help="stop after notebook NN")
    parser.add_argument("--run-dir", type=Path, metavar="DIR", help="the run folder (default: a new one in RUNS)")
    parser.add_argument("--runs", type=Path, default=REPO_ROOT / "runs", metavar="RUNS",
                        help="where run folders go (default: runs/)")
    parser.add_argument("--set", dest="overrides", type=_parameter, action="append", default=[],
                        metavar="KEY=VALUE", help="a notebook parameter or any profile setting (breeds, image_size, "
                        "epochs, batch_size, tuner_trials, ablation_seeds, seed, ...); an unknown name is refused")
    parser.add_argument("--no-pdf", action="store_true", help="skip the PDF (HTML only)")
    parser.add_argument("--publish", action="store_true", help="also make this run's report the reference report "
                        "committed in report/ (otherwise everything stays in the run folder)")
    parser.set_defaults(run=run_notebooks_command)


def _full_data_dir(args: argparse.Namespace) -> Path:
    """The data folder for --full: given, from the environment, or data/stanford-dogs (downloaded if missing)."""
    if args.data_dir or os.environ.get(DATA_DIR_ENV):
        return resolve_data_dir(args.data_dir)
    target = REPO_ROOT / "data" / "stanford-dogs"
    if missing_parts(target):
        print(f"Stanford Dogs is not in {target}: downloading it.", file=sys.stderr)
        download_stanford_dogs(target)
    return target


def run_notebooks_command(args: argparse.Namespace) -> int:
    """Run the notebooks and build the report; exit 1 when a notebook fails."""
    from dogbreeds import runner

    runner.select_notebooks(args.start, args.until)  # a wrong --from/--until fails before anything runs
    resuming = bool(args.start) and args.run_dir is None
    run_dir = args.run_dir or (runner.latest_run_dir(args.runs) if resuming else None)
    previous = runner.read_manifest(run_dir).get("parameters", {}) if run_dir else {}
    profile = "full" if args.full else (args.profile or previous.get("profile", "quick"))
    data_dir = _full_data_dir(args) if args.full else (
        resolve_data_dir(args.data_dir or previous.get("data_dir") or profile_folder(profile, "data_dir")))
    discover(data_dir)  # a wrong folder fails here, in one line, before any kernel starts
    settings = runner.resolve_parameters(dict(args.overrides))
    overrides = {**previous.get("overrides", {}), **settings.pop("overrides", {})}
    parameters = {**previous, "profile": profile, "data_dir": str(data_dir.resolve()), **settings,
                  **({"overrides": overrides} if overrides else {})}
    run_dir = run_dir or runner.new_run_dir(args.runs, profile)
    print(f"run folder: {run_dir}\nparameters: {json.dumps(parameters)}", flush=True)

    def started(name: str, position: int, total: int) -> None:
        print(f"[{position}/{total}] {name} ...", flush=True)

    def finished(result: runner.NotebookResult) -> None:
        print(f"      {result.name} done in {result.seconds:.1f} s", flush=True)

    began = time.perf_counter()
    try:
        runner.run_notebooks(run_dir, parameters, start=args.start, until=args.until,
                             on_start=started, on_done=finished)
    except runner.NotebookFailed as failure:
        print(f"dogbreeds: error: {failure}", file=sys.stderr)
        print(f"fix it, then resume with: dogbreeds run --run-dir {run_dir} --from {failure.notebook[:2]}",
              file=sys.stderr)
        return EXIT_PROBLEMS_FOUND
    except runner.RunInterrupted as stop:
        print(f"dogbreeds: interrupted ({stop}) during notebook {stop.notebook}; the notebooks before it are "
              f"kept. Resume with: dogbreeds run --run-dir {run_dir} --from {(stop.notebook or '01')[:2]}",
              file=sys.stderr)
        return stop.exit_code
    print(f"notebooks done in {time.perf_counter() - began:.1f} s", flush=True)
    return _build_report(run_dir, pdf=not args.no_pdf, publish=args.publish)


def _build_report(run_dir: Path, pdf: bool, publish: bool = False) -> int:
    from dogbreeds import reporting

    if pdf:
        try:
            reporting.find_chromium()
        except reporting.ReportError as error:
            print(f"dogbreeds: warning: {error} Building the HTML report only.", file=sys.stderr)
            pdf = False
    made = reporting.build_report(run_dir, pdf=pdf)
    print(f"report: {made['report.html']}" + (f" and {made['report.pdf']}" if pdf else ""))
    if publish:
        print(f"published as the reference report in {reporting.publish(run_dir, made, REPO_ROOT / 'report')}")
    return EXIT_OK


def add_report_command(commands: Subcommands) -> None:
    """`dogbreeds report`: (re)build the report of a run folder."""
    parser = _command_parser(
        commands, "report", "build the report (HTML per notebook, combined HTML and PDF) of a run folder",
        "Export the executed notebooks of RUN_DIR to HTML, combine them into one report for a jury\n"
        "(code and logs hidden) and print it to PDF with headless Chromium; --publish copies it to report/.",
        "  dogbreeds report runs/20261122-101500-quick\n  dogbreeds report runs/20261122-101500-quick --no-pdf")
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a folder made by `dogbreeds run`")
    parser.add_argument("--no-pdf", action="store_true", help="skip the PDF (HTML only)")
    parser.add_argument("--publish", action="store_true", help="copy it to report/ as the reference report")
    parser.set_defaults(run=lambda args: _build_report(args.run_dir, pdf=not args.no_pdf, publish=args.publish))


def add_bench_command(commands: Subcommands) -> None:
    """`dogbreeds bench transfer|scratch|throughput`: benchmarks on real data, results into benchmarks/results/."""
    bench = commands.add_parser(
        "bench", help="benchmark transfer learning, the scratch CNN or pipeline throughput on real data",
        description="Benchmarks on real data. Each writes results records (kind 'benchmark', the command in\n"
                    "'source') into --results-dir (default: benchmarks/results/) and prints a table.",
        epilog="Run `dogbreeds bench BENCHMARK --help` for its options and examples.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    benchmarks = bench.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)

    transfer = _command_parser(
        benchmarks, "transfer", "frozen backbones + heads, flip TTA, ensembles: 120-breed top-1 / top-5",
        "Features of each backbone on the official train list (cached in .cache/features), a stratified\n"
        "validation hold-out for early stopping, one row per variant scored on the official test list.",
        "  dogbreeds bench transfer --data-dir ../shared/datasets/stanford-dogs-crops224\n"
        "  dogbreeds bench transfer --data-dir DIR --backbones mobilenet_v2 --variants mobilenet_v2/logreg")
    add_data_dir_option(transfer)
    transfer.add_argument("--backbones", nargs="+", default=["mobilenet_v2", "efficientnet_lite0"], metavar="NAME",
                          help="backbones whose variants run (default: mobilenet_v2 efficientnet_lite0)")
    transfer.add_argument("--variants", nargs="+", metavar="NAME", help="run only these variants (default: all)")
    transfer.add_argument("--val-fraction", type=float, default=0.1, metavar="F",
                          help="share of each breed's training images held out for early stopping (default: 0.1)")
    transfer.add_argument("--cache-dir", type=Path, metavar="DIR", help="feature cache (default: .cache/features)")
    _add_bench_options(transfer, run_bench_transfer)

    scratch = _command_parser(
        benchmarks, "scratch", "scratch CNN trained from random weights on the official split: top-1 / top-5",
        "Train the benchmark's scratch CNN (4 conv blocks, batch norm, AdamW) on the official train list\n"
        "for a fixed warm-up + cosine schedule, with random resized crops, flips and colour jitter, and\n"
        "score its last weights on the official test list (with flip test-time augmentation).",
        "  dogbreeds bench scratch --data-dir ../shared/datasets/stanford-dogs-photos10\n"
        "  dogbreeds bench scratch --data-dir DIR --image-size 96 --epochs 300 --val-fraction 0.2\n"
        "  dogbreeds bench scratch --data-dir ../shared/datasets/stanford-dogs-photos10 \\\n"
        "      --pretrain-dir ../shared/datasets/stanford-dogs-crops224")
    add_data_dir_option(scratch)
    scratch.add_argument("--image-size", type=_positive_int, default=64, metavar="N", help="input side (default: 64)")
    scratch.add_argument("--load-size", type=_positive_int, metavar="N",
                         help="side the training photos are loaded at, crops are taken from (default: image size)")
    scratch.add_argument("--epochs", type=_positive_int, default=200, metavar="N", help="epochs (default: 200)")
    scratch.add_argument("--crop-area", type=float, default=0.35, metavar="F",
                         help="smallest share of a photo a training crop covers (default: 0.35)")
    scratch.add_argument("--val-fraction", type=float, default=0.0, metavar="F",
                         help="share of each breed's training photos held out and scored each epoch (default: 0)")
    scratch.add_argument("--no-tta", action="store_true", help="score the test photos without their mirror images")
    scratch.add_argument("--pretrain-dir", metavar="DIR",
                         help="first train the CNN from random weights on this folder's train list (official lists; "
                              "none of its photos may be a test photo), then start from its layers")
    scratch.add_argument("--pretrain-epochs", type=_positive_int, default=30, metavar="N",
                         help="epochs of that pre-training (default: 30)")
    _add_bench_options(scratch, run_bench_scratch)

    throughput = _command_parser(
        benchmarks, "throughput", "images/s of the file pipeline + backbone vs the backbone on preloaded tensors",
        "Time the feature pipeline (tf.data: parallel Pillow decode, resize, prefetch, then the backbone)\n"
        "against the same compiled backbone on the same images already in memory; report the ratio.",
        "  dogbreeds bench throughput --data-dir ../shared/datasets/stanford-dogs-crops224\n"
        "  dogbreeds bench throughput --backbone efficientnet_lite0 --images 256")
    add_data_dir_option(throughput)
    throughput.add_argument("--backbone", default="mobilenet_v2", metavar="NAME", help="default: mobilenet_v2")
    throughput.add_argument("--images", type=_positive_int, default=512, metavar="N",
                            help="images timed (default: 512)")
    throughput.add_argument("--batch-size", type=_positive_int, default=64, metavar="N", help="default: 64")
    throughput.add_argument("--repeats", type=_positive_int, default=3, metavar="N",
                            help="timed passes of each, best kept (default: 3)")
    _add_bench_options(throughput, run_bench_throughput)

    from dogbreeds.cli_shelter import add_shelter_benchmarks

    add_shelter_benchmarks(benchmarks)


def _add_bench_options(parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], int]) -> None:
    """Options every benchmark takes; remembers the parser's options to write the command into records."""
    parser.add_argument("--results-dir", type=Path, default=REPO_ROOT / "benchmarks" / "results", metavar="DIR",
                        help="where the results records go (default: benchmarks/results/)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"default: {DEFAULT_SEED}")
    _remember_options(parser)
    parser.set_defaults(run=run)


def _remember_options(parser: argparse.ArgumentParser) -> None:
    """Keep the parser's options (after they are all added), so that `_command_line` can rebuild the command."""
    options = [(action.dest, action.option_strings[-1], action.default) for action in parser._actions
               if action.option_strings and action.dest != "help"]
    parser.set_defaults(command_options=options)


def _command_line(words: Sequence[str], args: argparse.Namespace) -> str:
    """The command that reproduces a run: ``words`` and every remembered option not at its default."""
    words = list(words)
    for dest, flag, default in args.command_options:
        value = getattr(args, dest)
        if value == default:
            continue
        values = value if isinstance(value, list) else [value]
        words += [flag, *(str(item) for item in values)]
    return shlex.join(words)


def _bench_command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this benchmark: `dogbreeds bench NAME` and every option not at its default."""
    return _command_line(["dogbreeds", "bench", args.benchmark], args)


def run_bench_transfer(args: argparse.Namespace) -> int:
    """Run the transfer benchmark and print its table."""
    from dogbreeds.bench import BenchError, bench_transfer, default_transfer_variants, format_table

    variants = default_transfer_variants(args.backbones)
    if args.variants:
        unknown = sorted(set(args.variants) - {variant.name for variant in variants})
        if unknown:
            raise BenchError(f"Unknown variant(s) {unknown}; choose among: {', '.join(v.name for v in variants)}.")
        variants = [variant for variant in variants if variant.name in args.variants]
    table = bench_transfer(resolve_data_dir(args.data_dir), variants=variants, val_fraction=args.val_fraction,
                           cache_dir=args.cache_dir, results_dir=args.results_dir, seed=args.seed,
                           source=_bench_command_line(args), progress=True)
    print(format_table(table))
    print(f"records: {args.results_dir}")
    return EXIT_OK


def run_bench_scratch(args: argparse.Namespace) -> int:
    """Run the scratch CNN benchmark and print its scores."""
    from dogbreeds.augmentation import AugmentationError, ResizedCropConfig
    from dogbreeds.bench import BenchError, bench_scratch

    try:
        crop = ResizedCropConfig(area=(args.crop_area, 1.0))
    except AugmentationError as error:
        raise BenchError(f"--crop-area: {error}") from None
    result = bench_scratch(resolve_data_dir(args.data_dir), image_size=args.image_size, load_size=args.load_size,
                           epochs=args.epochs, crop=crop, flip_tta=not args.no_tta, val_fraction=args.val_fraction,
                           pretrain_dir=args.pretrain_dir, pretrain_epochs=args.pretrain_epochs,
                           results_dir=args.results_dir, seed=args.seed, source=_bench_command_line(args),
                           progress=True)
    metrics, timings = result["metrics"], result["timings"]
    print(f"scratch CNN: top-1 {metrics['top1']:.1%}, top-5 {metrics['top5']:.1%}, macro F1 {metrics['macro_f1']:.3f} "
          f"on {metrics['n']} test images (top-1 without flip TTA {metrics['top1_without_tta']:.1%}); "
          f"{timings['epochs_run']} epochs in {timings['train_seconds']:.0f} s"
          + (f" after {timings['pretrain_seconds']:.0f} s of pre-training" if "pretrain_seconds" in timings else ""))
    print(f"record: {result['record']}")
    return EXIT_OK


def run_bench_throughput(args: argparse.Namespace) -> int:
    """Run the throughput benchmark and print images per second and their ratio."""
    from dogbreeds.bench import bench_throughput

    result = bench_throughput(resolve_data_dir(args.data_dir), backbone=args.backbone, images=args.images,
                              batch_size=args.batch_size, repeats=args.repeats, results_dir=args.results_dir,
                              source=_bench_command_line(args), progress=True)
    metrics = result["metrics"]
    print(f"{args.backbone}: pipeline {metrics['pipeline_images_per_s']:.1f} img/s, model only "
          f"{metrics['model_images_per_s']:.1f} img/s, ratio {metrics['ratio']:.2f}")
    print(f"record: {result['record']}")
    return EXIT_OK


def add_predict_command(commands: Subcommands) -> None:
    """`dogbreeds predict`: the most likely breeds of dog photos, from a saved model bundle."""
    parser = _command_parser(
        commands, "predict", "name the most likely breeds of dog photos with a saved model",
        "Load a model bundle (a folder with model.keras, label_map.json and preprocessing.json, such as\n"
        "<run folder>/models/best_transfer written by notebook 04) and print, for each photo, its top-k\n"
        "breeds with the model's confidence. When the best breed's confidence is under --threshold, the\n"
        "answer is 'ask a human'. A photo that cannot be read is reported and the others are still\n"
        "predicted; the exit code is then 1.",
        "  dogbreeds predict --model runs/20261122-101500-quick/models/best_transfer rex.jpg\n"
        "  dogbreeds predict --model DIR --top-k 3 --threshold 0.8 photos/*.jpg\n"
        "  dogbreeds predict --model DIR --json rex.jpg > rex.json")
    parser.add_argument("--model", type=Path, required=True, metavar="DIR", help="the model bundle folder")
    parser.add_argument("photos", type=Path, nargs="+", metavar="PHOTO", help="image files (JPEG, PNG, ...)")
    parser.add_argument("--top-k", type=_positive_int, default=5, metavar="K",
                        help="breeds listed per photo (default: 5)")
    parser.add_argument("--threshold", type=_probability, default=0.5, metavar="P",
                        help="under this confidence in the best breed, answer 'ask a human' (default: 0.5)")
    parser.add_argument("--json", action="store_true", help="print the predictions as JSON")
    parser.set_defaults(run=run_predict)


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def run_predict(args: argparse.Namespace) -> int:
    """Predict each photo's breeds; exit 2 for an unusable bundle, 1 when a photo could not be read."""
    from dogbreeds.images import ImageLoadError
    from dogbreeds.predict import load_bundle

    predictor = load_bundle(args.model)
    photos, unreadable = {}, {}
    for path in args.photos:
        try:
            photos[path] = predictor.load_photo(path)
        except ImageLoadError as error:
            print(f"dogbreeds: error: {error}", file=sys.stderr)
            unreadable[path] = error.reason
    ranked = dict(zip(photos, predictor.predict_arrays(list(photos.values()), args.top_k))) if photos else {}
    answers = [{"photo": str(path), "error": unreadable[path]} if path in unreadable
               else _breed_answer(path, ranked[path], args.threshold) for path in args.photos]
    if args.json:
        print(json.dumps(answers, indent=2))
    else:
        for answer in answers:
            if "error" not in answer:
                _print_answer(answer, args.threshold)
    return EXIT_PROBLEMS_FOUND if unreadable else EXIT_OK


def _breed_answer(path: Path, scores: Sequence[tuple[str, float]], threshold: float) -> dict[str, object]:
    """One photo's answer: its breed, or None and ask_human when the best confidence is under threshold."""
    best, confidence = scores[0]
    sure = confidence >= threshold
    return {"photo": str(path), "breed": best if sure else None, "ask_human": not sure,
            "top_k": [{"breed": breed, "probability": probability} for breed, probability in scores]}


def _print_answer(answer: dict, threshold: float) -> None:
    best = answer["top_k"][0]
    verdict = (f"{best['breed']} ({best['probability']:.1%})" if not answer["ask_human"] else
               f"ask a human (best guess {best['breed']} at {best['probability']:.1%}, under {threshold:.0%})")
    print(f"{answer['photo']}: {verdict}")
    for rank, score in enumerate(answer["top_k"], start=1):
        print(f"  {rank}. {score['breed']:<30} {score['probability']:6.1%}")


COMMANDS: list[Callable[[Subcommands], None]] = [add_data_group, add_run_command, add_report_command,
                                                 add_bench_command, add_predict_command]
"""The top-level commands, in the order `dogbreeds --help` lists them."""


def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole command line."""
    parser = argparse.ArgumentParser(
        prog="dogbreeds",
        description="Identify a dog's breed from a photo (Stanford Dogs, 120 breeds).",
        epilog="examples:\n"
               "  dogbreeds data summary                   # the bundled sample (5 breeds, 150 photos)\n"
               "  dogbreeds data summary --data-dir ../shared/datasets/stanford-dogs-crops224\n"
               "  dogbreeds data scan --data-dir DIR       # list unreadable or suspicious files\n"
               f"  {DATA_DIR_ENV}=DIR dogbreeds data scan   # the same, folder from the environment\n"
               "  dogbreeds run                            # notebooks 01-05 + report, quick profile\n"
               "  dogbreeds predict --model DIR photo.jpg  # breeds of a photo, with a saved model\n\n"
               "Run `dogbreeds COMMAND --help` for a command's options.\n"
               "Exit codes: 0 success, 1 scan found unusable files, a notebook failed or predict could not read a\n"
               "photo, 2 wrong usage, data folder, model or file, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).\n"
               "A file name that starts with '-' goes after '--': dogbreeds label --out labels.csv -- -rex.jpg",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    from dogbreeds.cli_shelter import SHELTER_COMMANDS

    for add_command in [*COMMANDS, *SHELTER_COMMANDS]:
        add_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up notices are noise to a user
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:  # --help, --version, or a usage error already printed by argparse
        return exit_request.code if isinstance(exit_request.code, int) else EXIT_USAGE
    try:
        return args.run(args)
    except DogbreedsError as error:
        print(f"dogbreeds: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("dogbreeds: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into a command that stopped reading (e.g. `| head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
