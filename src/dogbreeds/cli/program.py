"""The ``dogbreeds`` command line (also ``python -m dogbreeds``).

Each command is one ``add_<name>_command(commands)`` function that creates its parser
and sets ``run=<function taking the parsed args, returning an exit code>``. ``COMMANDS``
lists the top-level commands (``dogbreeds COMMAND``), ``DATA_COMMANDS`` the subcommands of
``dogbreeds data``. The ``data`` commands never import TensorFlow.

This module holds the parser, ``main``, the ``data`` commands and ``predict``; ``run`` and ``report``
are in :mod:`dogbreeds.cli.run`, the ``bench`` group in :mod:`dogbreeds.cli.bench`, the shelter's
commands in :mod:`dogbreeds.cli.shelter`, the helpers they share in :mod:`dogbreeds.cli.common`.

Exit codes (``dogbreeds.core.errors``): 0 success, 1 ``data scan`` found unusable files, a notebook
failed or ``predict`` could not read a photo, 2 wrong usage, data folder, model or file (any
``DogbreedsError``: a one-line message, no traceback), 130 interrupted (Ctrl-C), 143
terminated (SIGTERM, during ``run``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from dogbreeds import __version__
from dogbreeds.cli.bench import add_bench_command
from dogbreeds.cli.common import (
    CommandParser,
    Subcommands,
    _command_parser,
    _positive_int,
    add_data_dir_option,
    import_tensorflow_quietly,
)
from dogbreeds.cli.common import _parameter as _parameter  # re-exported: `cli._parameter` reads --set values
from dogbreeds.cli.run import add_report_command, add_run_command
from dogbreeds.cli.shelter import SHELTER_COMMANDS
from dogbreeds.core.config import DATA_DIR_ENV, resolve_data_dir
from dogbreeds.core.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_PROBLEMS_FOUND, EXIT_USAGE, DogbreedsError
from dogbreeds.data.download import OFFICIAL_BASE_URL, PARTS, download_stanford_dogs, missing_parts
from dogbreeds.data.folder import discover
from dogbreeds.data.summary import summarize


def add_summary_command(commands: Subcommands) -> None:
    """``dogbreeds data summary``: counts of breeds, images and splits."""
    parser = _command_parser(
        commands,
        "summary",
        "count breeds, images and official split sizes (fast: opens no image)",
        "Print the number of breeds and images, the official train/test split sizes (when lists/ exists),\n"
        "images that no list names (not used in splits), annotations, and a per-breed table.",
        "  dogbreeds data summary\n"
        "  dogbreeds data summary --data-dir ../shared/datasets/stanford-dogs-crops224\n"
        "  dogbreeds data summary --json > summary.json",
    )
    add_data_dir_option(parser)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(run=run_summary)


def run_summary(args: argparse.Namespace) -> int:
    """Print the summary of the data folder."""
    summary = summarize(discover(resolve_data_dir(args.data_dir)))
    print(json.dumps(summary.to_dict(), indent=2) if args.json else summary.to_text())
    return EXIT_OK


def add_scan_command(commands: Subcommands) -> None:
    """``dogbreeds data scan``: list unreadable or suspicious files."""
    parser = _command_parser(
        commands,
        "scan",
        "list unreadable or suspicious files (exit code 1 when a file is unusable)",
        "Check every image and annotation. Errors are files the loaders skip (not an image, truncated or\n"
        "corrupt, too small, decompression bomb); warnings are files used with a caveat (PNG data in a .jpg\n"
        "file, grayscale/CMYK/transparent images converted to RGB, unreadable annotation: image uncropped,\n"
        "empty breed folder, stray file, list entry with no image). Exit code 1 when there is any error,\n"
        "0 otherwise (warnings alone do not fail).",
        "  dogbreeds data scan\n"
        "  dogbreeds data scan --data-dir ~/stanford-dogs --deep\n"
        "  dogbreeds data scan --json > problems.json",
    )
    add_data_dir_option(parser)
    parser.add_argument(
        "--deep", action="store_true", help="decode every image completely (slower; finds corruption inside JPEG data)"
    )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="threads reading files (default: a few more than the CPU count, at most 8)",
    )
    parser.add_argument(
        "--max-rows", type=int, default=50, metavar="N", help="problems shown in the table (default: 50; 0 shows all)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON (every problem)")
    parser.set_defaults(run=run_scan)


def run_scan(args: argparse.Namespace) -> int:
    """Scan the data folder and print its problems."""
    from dogbreeds.data.quality import scan

    report = scan(resolve_data_dir(args.data_dir), deep=args.deep, workers=args.workers, progress=sys.stderr.isatty())
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.to_text(args.max_rows))
    return EXIT_PROBLEMS_FOUND if report.errors else EXIT_OK


def add_download_command(commands: Subcommands) -> None:
    """``dogbreeds data download``: fetch and extract the official Stanford Dogs archives."""
    parser = _command_parser(
        commands,
        "download",
        "download the official Stanford Dogs archives into a folder (needs network)",
        "Download images.tar (757 MiB), annotation.tar and lists.tar, check each one's size and sha256,\n"
        "and extract them safely into DIR/Images, DIR/Annotation and DIR/lists. An interrupted download\n"
        "resumes where it stopped; parts already in DIR are skipped, so running it again does nothing.\n"
        f"Without network, use an existing copy instead: --data-dir DIR or {DATA_DIR_ENV}=DIR.",
        "  dogbreeds data download --dest ~/stanford-dogs\n"
        "  dogbreeds data download --dest ~/stanford-dogs --parts images lists\n"
        "  dogbreeds data summary --data-dir ~/stanford-dogs",
    )
    parser.add_argument(
        "--dest",
        type=Path,
        metavar="DIR",
        required=True,
        help="folder to put the data in (created if needed; about 1.6 GB during the download)",
    )
    parser.add_argument(
        "--base-url",
        default=OFFICIAL_BASE_URL,
        metavar="URL",
        help=f"where the archives are served (default: {OFFICIAL_BASE_URL})",
    )
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=list(PARTS),
        default=list(PARTS),
        metavar="PART",
        help=f"archives to fetch, among {', '.join(PARTS)} (default: all)",
    )
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
    """``dogbreeds data``: the group of data subcommands (``DATA_COMMANDS``)."""
    data = commands.add_parser(
        "data",
        help="inspect, check or download a Stanford Dogs data folder",
        description="Inspect, check or download a data folder in the Stanford Dogs layout.",
        epilog="Run `dogbreeds data SUBCOMMAND --help` for its options and examples.",
    )
    subcommands = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    for add_command in DATA_COMMANDS:
        add_command(subcommands)


def add_predict_command(commands: Subcommands) -> None:
    """``dogbreeds predict``: the most likely breeds of dog photos, from a saved model bundle."""
    parser = _command_parser(
        commands,
        "predict",
        "name the most likely breeds of dog photos with a saved model",
        "Load a model bundle (a folder with model.keras, label_map.json and preprocessing.json, such as\n"
        "<run folder>/models/best_transfer written by notebook 04) and print, for each photo, its top-k\n"
        "breeds with the model's confidence. When the best breed's confidence is under --threshold, the\n"
        "answer is 'ask a human'. A photo that cannot be read is reported and the others are still\n"
        "predicted; the exit code is then 1.",
        "  dogbreeds predict --model runs/20261122-101500-quick/models/best_transfer rex.jpg\n"
        "  dogbreeds predict --model DIR --top-k 3 --threshold 0.8 photos/*.jpg\n"
        "  dogbreeds predict --model DIR --json rex.jpg > rex.json",
    )
    parser.add_argument("--model", type=Path, required=True, metavar="DIR", help="the model bundle folder")
    parser.add_argument("photos", type=Path, nargs="+", metavar="PHOTO", help="image files (JPEG, PNG, ...)")
    parser.add_argument(
        "--top-k", type=_positive_int, default=5, metavar="K", help="breeds listed per photo (default: 5)"
    )
    parser.add_argument(
        "--threshold",
        type=_probability,
        default=0.5,
        metavar="P",
        help="under this confidence in the best breed, answer 'ask a human' (default: 0.5)",
    )
    parser.add_argument("--json", action="store_true", help="print the predictions as JSON")
    parser.set_defaults(run=run_predict, uses_tensorflow=True)


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
    from dogbreeds.data.images import ImageLoadError
    from dogbreeds.models.bundle import load_bundle

    predictor = load_bundle(args.model)
    photos, unreadable = {}, {}
    for path in args.photos:
        try:
            photos[path] = predictor.load_photo(path)
        except ImageLoadError as error:
            print(f"dogbreeds: error: {error}", file=sys.stderr)
            unreadable[path] = error.reason
    ranked = dict(zip(photos, predictor.predict_arrays(list(photos.values()), args.top_k))) if photos else {}
    answers = [
        {"photo": str(path), "error": unreadable[path]}
        if path in unreadable
        else _breed_answer(path, ranked[path], args.threshold)
        for path in args.photos
    ]
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
    return {
        "photo": str(path),
        "breed": best if sure else None,
        "ask_human": not sure,
        "top_k": [{"breed": breed, "probability": probability} for breed, probability in scores],
    }


def _print_answer(answer: dict, threshold: float) -> None:
    best = answer["top_k"][0]
    verdict = (
        f"{best['breed']} ({best['probability']:.1%})"
        if not answer["ask_human"]
        else f"ask a human (best guess {best['breed']} at {best['probability']:.1%}, under {threshold:.0%})"
    )
    print(f"{answer['photo']}: {verdict}")
    for rank, score in enumerate(answer["top_k"], start=1):
        print(f"  {rank}. {score['breed']:<30} {score['probability']:6.1%}")


COMMANDS: list[Callable[[Subcommands], None]] = [
    add_data_group,
    add_run_command,
    add_report_command,
    add_bench_command,
    add_predict_command,
]
"""The top-level commands, in the order `dogbreeds --help` lists them."""


def build_parser() -> CommandParser:
    """The parser of the whole command line."""
    parser = CommandParser(
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
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
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
        if getattr(args, "uses_tensorflow", False):
            import_tensorflow_quietly()
        return args.run(args)
    except DogbreedsError as error:
        print(f"dogbreeds: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("dogbreeds: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into a command that stopped reading (e.g. `| head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
