"""The shelter's commands: ``dogbreeds train``, ``label``, ``app`` and ``bench shelter|oxford|label``.

Registered by :mod:`dogbreeds.cli.program` (``SHELTER_COMMANDS``) and :mod:`dogbreeds.cli.bench`
(``add_shelter_benchmarks``); helpers from :mod:`dogbreeds.cli.common`.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from dogbreeds.cli.common import (
    Subcommands,
    _add_bench_options,
    _bench_command_line,
    _command_line,
    _command_parser,
    _port,
    _positive_int,
    _remember_options,
    add_data_dir_option,
    import_tensorflow_quietly,
)
from dogbreeds.core.config import DEFAULT_SEED, REPO_ROOT, resolve_data_dir
from dogbreeds.core.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from dogbreeds.shelter.app_access import AUTH_ENV

SHARED = "../shared/datasets"


def add_train_command(commands: Subcommands) -> None:
    """``dogbreeds train``: retrain the shelter model from a data folder with official lists."""
    parser = _command_parser(
        commands,
        "train",
        "retrain the shelter's 120-breed model (what `label` and `app` use)",
        "Train the shelter model on a folder with official lists with notebook 04's best recipe: EfficientNet-\n"
        "Lite2 features of the train list (cached in .cache/features), a softmax head with early stopping on a\n"
        "10% validation share, each photo classified with its mirror image. Then on those validation photos\n"
        "the temperature (calibration), the confidence threshold for the\n"
        "target accuracy and the ImageNet dog probability under which a photo is 'not a dog'. Scored once\n"
        "on the official test list. With --choose-on and --not-dogs, the head also trains on the whole photos\n"
        "of the choosing half of those dogs that are not ImageNet photos (4 times each, with mirror images),\n"
        "and the thresholds ('not a dog', 'may not be a dog', confidence, 'may be a breed not among the 120')\n"
        "are chosen instead on that choosing half and on the choosing half of those not-dogs, each photo\n"
        "scored by a head trained without its fold (5 folds; the other halves are for `dogbreeds bench\n"
        "oxford`). Writes head.npz, model.json and record.json into --out (default: the\n"
        "model shipped with dogbreeds) and the record into benchmarks/results/.",
        f"  dogbreeds train --data-dir {SHARED}/stanford-dogs-crops224 \\\n"
        f"      --choose-on {SHARED}/oxford-pet-dogs --not-dogs {SHARED}/not-dogs\n"
        f"  dogbreeds train --data-dir {SHARED}/stanford-dogs-crops224 --out models/my-shelter-model",
    )
    add_data_dir_option(parser)
    parser.add_argument("--out", type=Path, metavar="DIR", help="model folder (default: the shipped model)")
    parser.add_argument(
        "--target-accuracy",
        type=float,
        default=0.95,
        metavar="A",
        help="accuracy wanted on the photos labelled without a person (default: 0.95)",
    )
    parser.add_argument(
        "--choose-on",
        type=Path,
        metavar="DIR",
        help="an oxford-pet-dogs folder: choose the thresholds on its choosing half (needs --not-dogs)",
    )
    parser.add_argument(
        "--not-dogs", type=Path, metavar="DIR", help="a not-dogs folder: its choosing half, with --choose-on"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"default: {DEFAULT_SEED}")
    parser.add_argument("--cache-dir", type=Path, metavar="DIR", help="feature cache (default: .cache/features)")
    _remember_options(parser)
    parser.set_defaults(run=run_train, uses_tensorflow=True)


def run_train(args: argparse.Namespace) -> int:
    """Train, save and summarise the shelter model."""
    from dogbreeds.core.recordfile import write_record
    from dogbreeds.shelter.model import SHIPPED_MODEL_DIR
    from dogbreeds.shelter.training import train_shelter_model

    if (args.choose_on is None) != (args.not_dogs is None):
        print("dogbreeds train: --choose-on and --not-dogs go together.", file=sys.stderr)
        return EXIT_USAGE
    trained = train_shelter_model(
        resolve_data_dir(args.data_dir),
        target_accuracy=args.target_accuracy,
        seed=args.seed,
        cache_dir=args.cache_dir,
        source=_command_line(["dogbreeds", "train"], args),
        choose_on=args.choose_on,
        not_dogs=args.not_dogs,
    )
    out = args.out or SHIPPED_MODEL_DIR
    trained.model.save(out, trained.record)
    path = write_record(trained.record, REPO_ROOT / "benchmarks" / "results")
    metrics, config = trained.record["metrics"], trained.model.config
    kept = metrics["at_threshold"]
    print(
        f"test list: top-1 {metrics['top1']:.1%}, top-5 {metrics['top5']:.1%} on {metrics['n']} photos; "
        f"ECE {metrics['ece_before_calibration']:.3f} -> {metrics['ece_after_calibration']:.3f} "
        f"(temperature {config.temperature:.2f})"
    )
    if "against_crops_only" in metrics:
        against = metrics["against_crops_only"]
        print(
            f"the same recipe on the crops alone: top-1 {metrics['crops_only_top1']:.1%}; with the choosing photos "
            f"{100 * against['difference']:+.1f} points ({100 * against['low']:+.1f} to {100 * against['high']:+.1f}),"
            f" {against['verdict']}"
        )
    statuses = metrics["statuses"]
    print(
        f"confidence >= {config.confidence_threshold:.2f}: {kept['coverage']:.1%} of the test photos, "
        f"{kept['accuracy']:.1%} right; with every rule: {statuses['labelled']:.1%} labelled "
        f"({statuses['labelled_accuracy']:.1%} right), {statuses['ask_a_human']:.1%} to a person, "
        f"{statuses['not_a_dog']:.2%} 'not a dog' (dog probability < {config.dog_threshold:.2f})"
    )
    if trained.record["params"]["choice"]:
        chosen = trained.record["params"]["choice"]["dogs"]
        print(
            f"choosing half of {args.choose_on}: {chosen['labelled']:.1%} labelled ({chosen['labelled_accuracy']:.1%}"
            f" right); measure the reporting half with `dogbreeds bench oxford`"
        )
    print(f"model: {out}\nrecord: {path}")
    return EXIT_OK


def add_label_command(commands: Subcommands) -> None:
    """``dogbreeds label``: photos and folders to a CSV of breeds, with "not a dog" and "ask a human"."""
    parser = _command_parser(
        commands,
        "label",
        "label photos and folders with a breed, 'ask a human' or 'not a dog' (CSV)",
        "Label every photo (folders are searched recursively) with the shipped 120-breed model. Each row:\n"
        "file, status (labelled | ask a human | not a dog | unreadable), breed, confidence, top 3,\n"
        "dog probability and the reason for the status. Rows are written batch by batch; rerunning the\n"
        "same command skips the photos already in the CSV, so an interrupted run simply continues; a CSV\n"
        "written by another model is refused. Files of other formats are counted, by extension.\n"
        "A file name starting with '-' goes after '--'.",
        "  dogbreeds label data/sample --out labels.csv\n"
        "  dogbreeds label intake/ more/rex.jpg --out labels.csv\n"
        "  dogbreeds label --out labels.csv -- -odd-name.jpg",
    )
    parser.add_argument("paths", type=Path, nargs="+", metavar="PATH", help="photo files or folders")
    parser.add_argument("--out", type=Path, required=True, metavar="CSV", help="the CSV to write (appended to)")
    parser.add_argument(
        "--model", type=Path, metavar="DIR", help="a model folder from `dogbreeds train` (default: the shipped model)"
    )
    parser.add_argument(
        "--batch-size", type=_positive_int, default=16, metavar="N", help="photos per batch (default: 16)"
    )
    parser.set_defaults(run=run_label, uses_tensorflow=True)


def run_label(args: argparse.Namespace) -> int:
    """Label the photos into the CSV and print the counts (the CSV is checked before the model loads)."""
    from dogbreeds.shelter.labeller import label_photos
    from dogbreeds.shelter.model import STATUSES

    written = {"rows": 0}
    try:
        summary = label_photos(
            args.paths,
            args.out,
            model_dir=args.model,
            batch_size=args.batch_size,
            on_batch=lambda count: written.update(rows=count),
        )
    except KeyboardInterrupt:
        print(
            f"dogbreeds: interrupted; {written['rows']} new rows are safe in {args.out}. Run the same command "
            "again to label the rest.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    for note in summary.notes:
        print(f"note: {note}")
    if summary.skipped_formats:
        skipped = ", ".join(f"{count} {extension}" for extension, count in sorted(summary.skipped_formats.items()))
        print(f"skipped for their format (not photos read here): {skipped}")
    counts = ", ".join(f"{summary.counts[status]} {status}" for status in STATUSES if summary.counts[status])
    done = f"; {summary.skipped_done} already in the CSV" if summary.skipped_done else ""
    print(f"{summary.labelled_now} photos labelled ({counts or 'none'}){done} -> {summary.out}")
    return EXIT_OK


def add_app_command(commands: Subcommands) -> None:
    """``dogbreeds app``: the web app for the shelter."""
    parser = _command_parser(
        commands,
        "app",
        "open the shelter's web app (drop photos, get breeds; runs offline on this computer)",
        "Start the web app on http://127.0.0.1:PORT: drop one or many photos and see, for each, its top 3\n"
        "breeds with confidence bars, its status and, on request, a Grad-CAM overlay; download the batch\n"
        "as the same CSV as `dogbreeds label`. No analytics, nothing fetched from the internet.\n"
        "Another --host than this computer's loopback serves the network: it needs --allow-network and a\n"
        f"login in the environment ({AUTH_ENV}=user:password). Ctrl-C stops it (exit code 130).\n"
        "--review CSV opens a finished labels CSV instead: its 'ask a human' photos first, a person picks\n"
        "each one's breed, 'mixed or unknown breed' or 'not a dog', and the answers are saved into the CSV\n"
        "(columns checked_by_person, final_breed, checked_at; every other cell kept).",
        "  dogbreeds app\n  dogbreeds app --port 7861\n  dogbreeds app --review labels.csv\n"
        f"  {AUTH_ENV}=shelter:SECRET dogbreeds app --host 0.0.0.0 --allow-network",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this computer only)"
    )
    parser.add_argument("--port", type=_port, default=7860, help="default: 7860")
    parser.add_argument(
        "--allow-network",
        action="store_true",
        help=f"let a --host other than 127.0.0.1 serve the network (needs {AUTH_ENV}=user:password)",
    )
    parser.add_argument("--model", type=Path, metavar="DIR", help="a model folder (default: the shipped model)")
    parser.add_argument(
        "--review", type=Path, metavar="CSV", help="check the photos of a labels CSV from `dogbreeds label`"
    )
    parser.set_defaults(run=run_app)


def run_app(args: argparse.Namespace) -> int:
    """Check the address and the login, load the model, serve the app until Ctrl-C (exit code 130)."""
    from dogbreeds.shelter.app_access import check_address, check_exposure, login_from_environment
    from dogbreeds.shelter.labels_csv import read_finished

    if args.review is not None:
        read_finished(args.review)  # a file that is no labels CSV: one line, before anything loads
    login = login_from_environment()
    warning = check_exposure(args.host, args.allow_network, login)
    check_address(args.host, args.port)  # before the slow part: TensorFlow, Gradio, the model
    import_tensorflow_quietly()
    from dogbreeds.shelter.app import serve
    from dogbreeds.shelter.model import ShelterModel

    # Ctrl-C must stop the app even when it was started with SIGINT ignored, as a non-interactive shell starts
    # a background command (`dogbreeds app &` in a script): Python then keeps the signal ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    app = serve(ShelterModel.load(args.model), host=args.host, port=args.port, auth=login, review=args.review)
    if warning:
        print(warning, file=sys.stderr)
    print(f"dogbreeds app: {app.local_url} (Ctrl-C stops it)", flush=True)
    try:
        while app.is_running:
            time.sleep(0.5)
    except KeyboardInterrupt:  # main reports it and exits 130
        _close(app)
        if lingering_threads():  # a server thread that outlived the close would hold the exit open for good
            print("dogbreeds: interrupted", file=sys.stderr, flush=True)
            sys.stdout.flush()
            os._exit(EXIT_INTERRUPTED)
        raise
    _close(app)
    return EXIT_OK


def lingering_threads() -> list[threading.Thread]:
    """Threads still running besides this one that the interpreter waits for before it exits (not daemons)."""
    return [
        thread
        for thread in threading.enumerate()
        if thread is not threading.current_thread() and not thread.daemon and thread.is_alive()
    ]


def _close(app: Any, seconds: float = 120) -> None:
    """Close the app and wait (up to ``seconds``) for its server to stop: Gradio waits 5 s only, and a process
    that exits while its server is still stopping can hang on the server's worker threads (a busy machine).
    """
    app.close(verbose=False)
    thread = getattr(getattr(app, "server", None), "thread", None)
    if thread is not None:
        thread.join(timeout=seconds)


def add_shelter_benchmarks(benchmarks: Subcommands) -> None:
    """``dogbreeds bench shelter`` and ``dogbreeds bench label``."""
    shelter = _command_parser(
        benchmarks,
        "shelter",
        "the shelter model on whole photos and on photos that are not dogs",
        "Score the shelter model on a folder of whole photos with official lists (its test list among all\n"
        "120 breeds; its train photos not in --exclude-dir's train list as a hold-out for choosing the view\n"
        "policy) and count the photos under --not-dogs flagged 'not a dog', for each view policy.",
        f"  dogbreeds bench shelter --data-dir {SHARED}/stanford-dogs-10breeds \\\n"
        f"      --not-dogs {SHARED}/not-dogs --exclude-dir {SHARED}/stanford-dogs-crops224",
    )
    add_data_dir_option(shelter)
    shelter.add_argument("--not-dogs", type=Path, required=True, metavar="DIR", help="photos that are not dogs")
    shelter.add_argument(
        "--exclude-dir",
        type=Path,
        metavar="DIR",
        help="the model's training folder: its train photos are left out of the hold-out",
    )
    shelter.add_argument("--model", type=Path, metavar="DIR", help="default: the shipped model")
    shelter.add_argument(
        "--policy",
        action="append",
        metavar="NAME",
        help="measure only this view policy (repeatable; e.g. 'center+flip'); default: all",
    )
    _add_bench_options(shelter, run_bench_shelter)

    oxford = _command_parser(
        benchmarks,
        "oxford",
        "the shelter model on dogs that are not ImageNet photos (Oxford-IIIT Pet) and on not-dogs",
        "Run the shelter model's decisions on an oxford-pet-dogs folder (its choosing half, where\n"
        "`dogbreeds train --choose-on` chose the thresholds, and its reporting half) and on a not-dogs\n"
        "folder (two seeded halves): top-1/top-3, share labelled and right, dogs called 'not a dog', the\n"
        "statuses of dogs of breeds the model does not know, not-dogs flagged and given a breed.",
        f"  dogbreeds bench oxford --data-dir {SHARED}/oxford-pet-dogs --not-dogs {SHARED}/not-dogs",
    )
    oxford.add_argument("--data-dir", type=Path, required=True, metavar="DIR", help="an oxford-pet-dogs folder")
    oxford.add_argument("--not-dogs", type=Path, required=True, metavar="DIR", help="a not-dogs folder")
    oxford.add_argument("--model", type=Path, metavar="DIR", help="default: the shipped model")
    oxford.add_argument("--figure", type=Path, metavar="PNG", help="also draw coverage against accuracy into PNG")
    _add_bench_options(oxford, run_bench_oxford)

    label = _command_parser(
        benchmarks,
        "label",
        "photos/s of `dogbreeds label` against the model alone on preloaded photos",
        "Time the labeller (read, orient, views, model, CSV rows) on --images photos against the same model\n"
        "on the same photos' views already in memory; report the ratio.",
        f"  dogbreeds bench label --data-dir {SHARED}/stanford-dogs-10breeds",
    )
    add_data_dir_option(label)
    label.add_argument("--images", type=_positive_int, default=256, metavar="N", help="photos timed (default: 256)")
    label.add_argument(
        "--repeats", type=_positive_int, default=2, metavar="N", help="timed passes of each, best kept (default: 2)"
    )
    _add_bench_options(label, run_bench_label)


def run_bench_shelter(args: argparse.Namespace) -> int:
    """Measure the shelter model per view policy and print a table."""
    from dogbreeds.core.recordfile import write_record
    from dogbreeds.shelter.measuring import measure_shelter_model
    from dogbreeds.shelter.model import ShelterModel

    model = ShelterModel.load(args.model) if args.model else ShelterModel.load()
    record = measure_shelter_model(
        model,
        resolve_data_dir(args.data_dir),
        args.not_dogs,
        exclude_dir=args.exclude_dir,
        source=_bench_command_line(args),
        policies=args.policy,
    )
    path = write_record(record, args.results_dir)
    print(
        "| views | hold-out top-1 | test top-1 | test labelled (accuracy) | dogs flagged | not-dogs flagged "
        "| not-dogs given a breed |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for policy, row in record["metrics"].items():
        test = row["test"]
        print(
            f"| {policy} | {row['holdout']['top1']:.1%} | {test['top1']:.1%} | {test['statuses']['labelled']:.1%}"
            f" ({test['statuses']['labelled_accuracy']:.1%}) | {test['dogs_flagged_not_a_dog']:.1%} "
            f"| {row['not_dogs']['flagged_not_a_dog']:.1%} | {row['not_dogs']['given_a_breed']:.1%} |"
        )
    print(f"record: {path}")
    return EXIT_OK


def run_bench_oxford(args: argparse.Namespace) -> int:
    """Measure the shelter model's decisions on dogs that are not ImageNet photos and print a table."""
    from dogbreeds.core.recordfile import write_record
    from dogbreeds.shelter.model import ShelterModel
    from dogbreeds.shelter.pets import measure_on_pets
    from dogbreeds.shelter.reporting import record_coverage_figure

    model = ShelterModel.load(args.model) if args.model else ShelterModel.load()
    record = measure_on_pets(model, args.data_dir, args.not_dogs, source=_bench_command_line(args))
    path = write_record(record, args.results_dir)
    print(
        "| half | top-1 / top-3 | labelled (right) | known / unknown dogs 'not a dog' | unknown labelled wrong "
        "| not-dogs flagged / given a breed |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for part, row in record["metrics"].items():
        dogs, not_dogs = row["dogs"], row["not_dogs"]
        print(
            f"| {part} | {dogs['top1_known']:.1%} / {dogs['top3_known']:.1%} | {dogs['labelled']:.1%} "
            f"({dogs['labelled_accuracy']:.1%}) | {dogs['known_not_a_dog']:.1%} / {dogs['unknown_not_a_dog']:.1%} "
            f"| {dogs['unknown_labelled_wrong']:.1%} | {not_dogs['flagged_not_a_dog']:.1%} / "
            f"{not_dogs['given_a_breed']:.1%} |"
        )
    print(
        "the choosing half is where the thresholds were chosen, and what a head trained with --choose-on learnt "
        "from: only the reporting half measures the model"
    )
    each = record["metrics"]["reporting"]["dogs"]["per_1000"]
    print(
        f"reporting half, out of 1,000 photos like these: {each['labelled']} labelled automatically with "
        f"{each['labelled_wrong']} mistakes, {each['to_a_person']} go to a person, {each['not_a_dog']} 'not a dog'"
    )
    if args.figure:
        print(f"figure: {record_coverage_figure(record, args.figure)}")
    print(f"record: {path}")
    return EXIT_OK


def run_bench_label(args: argparse.Namespace) -> int:
    """Time the labeller against the model alone and print the ratio."""
    from dogbreeds.bench.label_speed import bench_label

    result = bench_label(
        resolve_data_dir(args.data_dir),
        images=args.images,
        repeats=args.repeats,
        results_dir=args.results_dir,
        source=_bench_command_line(args),
    )
    metrics = result["metrics"]
    print(
        f"label: {metrics['label_photos_per_s']:.1f} photos/s, model only {metrics['model_photos_per_s']:.1f} "
        f"photos/s, ratio {metrics['ratio']:.2f}"
    )
    print(f"record: {result['record']}")
    return EXIT_OK


SHELTER_COMMANDS = [add_train_command, add_label_command, add_app_command]
