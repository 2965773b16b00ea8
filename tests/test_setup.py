"""The set-up's choice of TensorFlow build (scripts/select_requirements.py, used by run_all.sh)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dogbreeds.core.config import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "select_requirements.py"
spec = importlib.util.spec_from_file_location("select_requirements", SCRIPT)
select_requirements = importlib.util.module_from_spec(spec)
spec.loader.exec_module(select_requirements)


def test_cpu_keeps_the_lock_and_gpu_swaps_only_the_tensorflow_build():
    lines = (REPO_ROOT / "requirements.txt").read_text().splitlines()
    assert select_requirements.select(lines, gpu=False) == lines
    gpu = select_requirements.select(lines, gpu=True)
    changed = [(old, new) for old, new in zip(lines, gpu) if old != new]
    assert len(gpu) == len(lines) and len(changed) == 1
    old, new = changed[0]
    assert old.lower().replace("_", "-").startswith("tensorflow-cpu==")
    assert new == "tensorflow[and-cuda]==" + old.split("==")[1]
    assert not any(line.lower().replace("_", "-").startswith("tensorflow-cpu") for line in gpu)


def test_a_lock_without_exactly_one_cpu_build_is_refused():
    with pytest.raises(ValueError, match="exactly one"):
        select_requirements.select(["numpy==2.0"], gpu=True)
    with pytest.raises(ValueError, match="exactly one"):
        select_requirements.select(["tensorflow-cpu==2.21.0", "tensorflow_cpu==2.21.0"], gpu=False)


def test_the_script_prints_the_selection_and_fails_in_one_line(tmp_path):
    out = subprocess.run(
        [sys.executable, str(SCRIPT), str(REPO_ROOT / "requirements.txt"), "--gpu"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "tensorflow[and-cuda]==" in out
    broken = tmp_path / "requirements.txt"
    broken.write_text("numpy==2.0\n")
    result = subprocess.run([sys.executable, str(SCRIPT), str(broken)], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.count("\n") == 1


def _pinned_names(requirements: Path) -> set[str]:
    lines = (line.split("#")[0].strip() for line in requirements.read_text(encoding="utf-8").splitlines())
    names = (re.split(r"[=<>\[ ;]", line, maxsplit=1)[0] for line in lines if line and not line.startswith("-"))
    return {name.lower().replace("_", "-") for name in names}


def test_environment_yml_installs_what_the_notebook_instructions_need():
    """A conda user gets the library's pins and JupyterLab: the README opens the notebooks with `jupyter lab`."""
    environment = yaml.safe_load((REPO_ROOT / "environment.yml").read_text(encoding="utf-8"))
    pip_lines = next(item["pip"] for item in environment["dependencies"] if isinstance(item, dict))
    files = [REPO_ROOT / line.split(maxsplit=1)[1] for line in pip_lines if line.startswith("-r ")]
    installed = set().union(*(_pinned_names(path) for path in files))
    assert "python=3.11" in environment["dependencies"]
    assert {"jupyterlab", "papermill", "ipykernel", "tensorflow-cpu", "keras", "lazy-loader"} <= installed
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "jupyter lab" in readme and "environment.yml" in readme
