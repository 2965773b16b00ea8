"""What the command modules share: the parser class, the common options and argument types, and the
reproducible command line written into records.

:mod:`dogbreeds.cli.program` builds the parser and registers the commands of :mod:`dogbreeds.cli.run`,
:mod:`dogbreeds.cli.bench` and :mod:`dogbreeds.cli.shelter`; each of them imports its helpers from here
(this module imports none of them, so there is no import cycle).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from dogbreeds.core.config import DATA_DIR_ENV, DEFAULT_SEED, REPO_ROOT, default_data_dir
from dogbreeds.core.fileio import standard_error_to


class CommandParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that keeps, in order, the options added to it (``added_options``).

    ``build_parser`` makes the top parser one; ``add_subparsers`` gives every subcommand parser its parent's
    class, so every parser of the command line is one. Each ``add_argument`` call returns its action, kept
    when it is an option (not a positional); options added through argument groups are not kept (no
    command uses groups).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.added_options: list[argparse.Action] = []  # before __init__, which adds -h/--help
        super().__init__(*args, **kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        if action.option_strings:
            self.added_options.append(action)
        return action


class Subcommands(Protocol):
    """What ``add_subparsers()`` returns: it makes one parser per command (a ``CommandParser`` here)."""

    def add_parser(self, name: str, **kwargs: Any) -> CommandParser: ...


def add_data_dir_option(parser: argparse.ArgumentParser) -> None:
    """The ``--data-dir DIR`` option every data command takes."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help=f"data folder in the Stanford Dogs layout (Images/<wnid>-<Breed>/*.jpg, optional "
        f"Annotation/ and lists/); default: ${DATA_DIR_ENV} if set, else the bundled "
        f"sample (now: {default_data_dir()})",
    )


def _command_parser(commands: Subcommands, name: str, summary: str, description: str, examples: str) -> CommandParser:
    return commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=f"examples:\n{examples}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _port(text: str) -> int:
    """A TCP port number, 1 to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a port number, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number between 1 and 65535, got {value}")
    return value


def _parameter(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` from --set; VALUE read as JSON when it parses (3, 0.5, "all", [..]), else as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with KEY a parameter name, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


_NATIVE_NOTICE = re.compile(
    rb"WARNING: All log messages before absl::InitializeLog\(\) is called .*"
    rb"|I\d{4} \S+ +\d+ \S+\] .*"
    rb"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\."
)
"""TensorFlow's native start-up notices: absl's pre-initialization warning and INFO lines (oneDNN, CPU features)."""


def import_tensorflow_quietly() -> None:
    """Import TensorFlow without its native start-up notices on the terminal.

    TensorFlow writes them (oneDNN is on, absl is not initialized) straight to standard error
    while it loads, and no log level hides them. During the import, standard error goes
    through a pipe; a thread passes every other line on to the terminal as it comes (a
    warning, an error, the last words of a crash).
    """
    if "tensorflow" in sys.modules:
        return
    read_end, write_end = os.pipe()
    terminal = os.dup(2)
    forwarder = threading.Thread(target=_forward_all_but_notices, args=(read_end, terminal), daemon=True)
    forwarder.start()
    try:
        with standard_error_to(write_end):
            import tensorflow  # noqa: F401 (loaded here for its side effect on standard error)
    finally:
        os.close(write_end)  # the pipe's last writer: the forwarder reads to its end, then stops
        forwarder.join(timeout=10)
        os.close(terminal)


def _forward_all_but_notices(read_end: int, terminal: int) -> None:
    with os.fdopen(read_end, "rb") as pipe:
        for line in pipe:
            kept = without_native_notices(line)
            if kept:
                os.write(terminal, kept)


def without_native_notices(written: bytes) -> bytes:
    """``written`` (standard error output) without TensorFlow's native start-up notices."""
    lines = written.splitlines(keepends=True)
    return b"".join(line for line in lines if not _NATIVE_NOTICE.fullmatch(line.rstrip()))


def _add_bench_options(parser: CommandParser, run: Callable[[argparse.Namespace], int]) -> None:
    """Options every benchmark takes; remembers the parser's options to write the command into records."""
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=REPO_ROOT / "benchmarks" / "results",
        metavar="DIR",
        help="where the results records go (default: benchmarks/results/)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"default: {DEFAULT_SEED}")
    _remember_options(parser)
    parser.set_defaults(run=run, uses_tensorflow=True)


def _remember_options(parser: CommandParser) -> None:
    """Keep the parser's options (after they are all added), so that ``_command_line`` can rebuild the command."""
    options = [
        (action.dest, action.option_strings[-1], action.default)
        for action in parser.added_options
        if action.dest != "help"
    ]
    parser.set_defaults(command_options=options)


def _command_line(words: Sequence[str], args: argparse.Namespace) -> str:
    """The command that reproduces a run: ``words`` and every remembered option not at its default."""
    words = list(words)
    for dest, flag, default in args.command_options:
        value = getattr(args, dest)
        if value == default:
            continue
        if isinstance(value, bool):  # a switch (store_true / store_false): the flag alone
            words.append(flag)
            continue
        values = value if isinstance(value, list) else [value]
        words += [flag, *(str(item) for item in values)]
    return shlex.join(words)


def _bench_command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this benchmark: ``dogbreeds bench NAME`` and every option not at its default."""
    return _command_line(["dogbreeds", "bench", args.benchmark], args)
