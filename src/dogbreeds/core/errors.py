"""The root of every error dogbreeds raises on purpose, and the exit codes of the command line.

Each module's own error derives from :class:`DogbreedsError` (alongside ``ValueError``,
``RuntimeError``... where callers expect those), so ``dogbreeds`` catches it once and
prints its message in one line, with the error's ``exit_code``.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_PROBLEMS_FOUND = 1  # `data scan` found unusable files, a notebook failed, a photo could not be read
EXIT_USAGE = 2  # wrong usage, data folder, model or file
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
EXIT_TERMINATED = 143  # SIGTERM (128 + SIGTERM)


class DogbreedsError(Exception):
    """An error whose message says what is wrong and what to do; ``dogbreeds`` exits with ``exit_code``."""

    exit_code = EXIT_USAGE
