"""The tree is lint-clean: ruff, configured in pyproject.toml, on the library, tests, notebooks and scripts."""

import subprocess
import sys

from dogbreeds.config import REPO_ROOT


def test_ruff_finds_nothing():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "src", "tests", "notebooks", "scripts"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
