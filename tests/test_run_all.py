"""run_all.sh's dry run: what set-up would install for a GPU or a CPU, with nothing installed."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from dogbreeds.core.config import REPO_ROOT


@pytest.fixture
def checkout(tmp_path):
    """A copy of what set-up reads (the script, the requirement selector, the lock), without any venv."""
    (tmp_path / "scripts").mkdir()
    for name in ("run_all.sh", "requirements.txt", "scripts/select_requirements.py"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    return tmp_path


def dry_run(folder, *options):
    done = subprocess.run(
        ["bash", "run_all.sh", "setup", *options, "--dry-run"], cwd=folder, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_gpu_dry_run_selects_the_cuda_build_and_installs_nothing(checkout):
    pinned = (REPO_ROOT / "requirements.txt").read_text().count("==")
    out = dry_run(checkout, "--gpu")
    assert "mode: gpu" in out and "uninstall first: tensorflow-cpu" in out
    assert f"{pinned} pinned packages, TensorFlow: tensorflow[and-cuda]==" in out
    assert "tensorflow_cpu" not in out and "tensorflow-cpu==" not in out
    assert "would be created" in out and not (checkout / ".venv").exists()


def test_the_cpu_dry_run_keeps_the_pinned_cpu_build(checkout):
    out = dry_run(checkout, "--cpu")
    assert "mode: cpu" in out and "uninstall first: tensorflow\n" in out
    assert "TensorFlow: tensorflow_cpu==" in out.replace("tensorflow-cpu", "tensorflow_cpu")
    assert not (checkout / ".venv").exists()
