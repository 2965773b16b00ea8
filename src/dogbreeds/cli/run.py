"""The ``dogbreeds run`` and ``dogbreeds report`` commands: the notebooks into a run folder, and its report.

Registered by :mod:`dogbreeds.cli.program` (``COMMANDS``); helpers from :mod:`dogbreeds.cli.common`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from dogbreeds.cli.common import Subcommands, _command_parser, _parameter, add_data_dir_option
from dogbreeds.core.config import DATA_DIR_ENV, REPO_ROOT, resolve_data_dir
from dogbreeds.core.errors import EXIT_OK, EXIT_PROBLEMS_FOUND
from dogbreeds.data.download import download_stanford_dogs, missing_parts
from dogbreeds.data.folder import discover
from dogbreeds.study.profiles import PROFILES, profile_folder


def add_run_command(commands: Subcommands) -> None:
    """``dogbreeds run``: execute notebooks 01-05 with papermill into a run folder, then build the report."""
    parser = _command_parser(
        commands,
        "run",
        "run the notebooks 01-05 into a run folder and build the report (what ./run_all.sh does)",
        "Execute notebooks/01_exploration ... 05_comparison in order, each in a fresh kernel, into\n"
        "RUNS/<time>-<profile>/notebooks/, then export the report (HTML of each notebook, a combined\n"
        "report.html and report.pdf) into that folder's report/ (with --publish, also into the\n"
        "repository's report/, the reference report).\n"
        "A failing notebook stops the run and is named with its cell; --from resumes from a notebook.",
        "  dogbreeds run                                  # quick profile on the bundled sample\n"
        "  dogbreeds run --data-dir ../shared/datasets/stanford-dogs-photos10\n"
        "  dogbreeds run --profile cpu --publish          # the real study on ../shared/datasets (CPU, ~2 h 15 min),\n"
        "                                                 # made the reference report in report/\n"
        "  dogbreeds run --full                           # GPU reproduction on Stanford Dogs\n"
        "  dogbreeds run --from 03                        # resume the latest run from notebook 03\n"
        "  dogbreeds run --set epochs=3 --set breeds=5    # override notebook parameters",
    )
    add_data_dir_option(parser)
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        help="quick: minutes on a CPU, the bundled sample "
        "(default); cpu: the real study on a CPU, on ../shared/datasets (2 h 12 min measured, caches empty); "
        "full: the real reproduction, meant for a GPU",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="--profile full on the full Stanford Dogs "
        "(default folder data/stanford-dogs, downloaded when missing and the network allows)",
    )
    parser.add_argument(
        "--from", dest="start", metavar="NN", help="resume the latest run (or --run-dir) from notebook NN, e.g. 03"
    )
    parser.add_argument("--until", metavar="NN", help="stop after notebook NN")
    parser.add_argument("--run-dir", type=Path, metavar="DIR", help="the run folder (default: a new one in RUNS)")
    parser.add_argument(
        "--runs", type=Path, default=REPO_ROOT / "runs", metavar="RUNS", help="where run folders go (default: runs/)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        type=_parameter,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a notebook parameter or any profile setting (breeds, image_size, "
        "epochs, batch_size, tuner_trials, ablation_seeds, seed, ...); an unknown name is refused",
    )
    parser.add_argument("--no-pdf", action="store_true", help="skip the PDF (HTML only)")
    parser.add_argument(
        "--publish",
        action="store_true",
        help="also make this run's report the reference report "
        "committed in report/ (otherwise everything stays in the run folder)",
    )
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


def _check_same_data_dir(run_dir: Path, previous: dict, data_dir: Path) -> None:
    """A resumed run keeps its data folder: the notebooks before --from ran on it (RunError otherwise)."""
    from dogbreeds.study.runner import RunError

    earlier = previous.get("data_dir")
    if earlier and Path(earlier).resolve() != data_dir.resolve():
        raise RunError(
            f"{run_dir} ran on {earlier}, not {data_dir}; resuming it with --from would mix two data folders "
            "in one report. Resume without --data-dir, or start a new run (no --from, no --run-dir)."
        )


def run_notebooks_command(args: argparse.Namespace) -> int:
    """Run the notebooks and build the report; exit 1 when a notebook fails."""
    from dogbreeds.study import runner

    runner.select_notebooks(args.start, args.until)  # a wrong --from/--until fails before anything runs
    resuming = bool(args.start) and args.run_dir is None
    run_dir = args.run_dir or (runner.latest_run_dir(args.runs) if resuming else None)
    previous = runner.read_manifest(run_dir).get("parameters", {}) if run_dir else {}
    profile = "full" if args.full else (args.profile or previous.get("profile", "quick"))
    data_dir = (
        _full_data_dir(args)
        if args.full
        else (resolve_data_dir(args.data_dir or previous.get("data_dir") or profile_folder(profile, "data_dir")))
    )
    if args.start and run_dir is not None:
        _check_same_data_dir(run_dir, previous, data_dir)
    discover(data_dir)  # a wrong folder fails here, in one line, before any kernel starts
    previous |= previous.pop("overrides", {})  # run folders made before settings.json nested their settings
    parameters = {
        **previous,
        "profile": profile,
        "data_dir": str(data_dir.resolve()),
        **runner.resolve_parameters(dict(args.overrides)),
    }
    run_dir = run_dir or runner.new_run_dir(args.runs, profile)
    print(f"run folder: {run_dir}\nparameters: {json.dumps(parameters)}", flush=True)

    def started(name: str, position: int, total: int) -> None:
        print(f"[{position}/{total}] {name} ...", flush=True)

    def finished(result: runner.NotebookResult) -> None:
        print(f"      {result.name} done in {result.seconds:.1f} s", flush=True)

    began = time.perf_counter()
    try:
        runner.run_notebooks(
            run_dir, parameters, start=args.start, until=args.until, on_start=started, on_done=finished
        )
    except runner.NotebookFailed as failure:
        print(f"dogbreeds: error: {failure}", file=sys.stderr)
        print(
            f"fix it, then resume with: dogbreeds run --run-dir {run_dir} --from {failure.notebook[:2]}",
            file=sys.stderr,
        )
        return EXIT_PROBLEMS_FOUND
    except runner.RunInterrupted as stop:
        print(
            f"dogbreeds: interrupted ({stop}) during notebook {stop.notebook}; the notebooks before it are "
            f"kept. Resume with: dogbreeds run --run-dir {run_dir} --from {(stop.notebook or '01')[:2]}",
            file=sys.stderr,
        )
        return stop.exit_code
    print(f"notebooks done in {time.perf_counter() - began:.1f} s", flush=True)
    return _build_report(run_dir, pdf=not args.no_pdf, publish=args.publish)


def _build_report(run_dir: Path, pdf: bool, publish: bool = False) -> int:
    from dogbreeds.study import reporting

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
    """``dogbreeds report``: (re)build the report of a run folder."""
    parser = _command_parser(
        commands,
        "report",
        "build the report (HTML per notebook, combined HTML and PDF) of a run folder",
        "Export the executed notebooks of RUN_DIR to HTML, combine them into one report for a jury\n"
        "(code and logs hidden) and print it to PDF with headless Chromium; --publish copies it to report/.",
        "  dogbreeds report runs/20261122-101500-quick\n  dogbreeds report runs/20261122-101500-quick --no-pdf",
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a folder made by `dogbreeds run`")
    parser.add_argument("--no-pdf", action="store_true", help="skip the PDF (HTML only)")
    parser.add_argument("--publish", action="store_true", help="copy it to report/ as the reference report")
    parser.set_defaults(run=lambda args: _build_report(args.run_dir, pdf=not args.no_pdf, publish=args.publish))
