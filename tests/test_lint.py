"""The tree is lint-clean and formatted: ruff, configured in pyproject.toml, on the library, tests, notebooks
and scripts."""

import subprocess
import sys

import pytest

from dogbreeds.core.config import REPO_ROOT

CHECKED = ["src", "tests", "notebooks", "scripts"]


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_finds_nothing(command):
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "--no-cache", *CHECKED],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
