"""One papermill run of the notebooks on the bundled sample, shared by the notebook tests.

`executed("03_scratch_cnn")` runs every notebook up to 03 that has not run yet in
this test session (each in a fresh kernel, in order, into one run folder) and
returns that folder, so each test asserts on what its notebook wrote.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from dogbreeds.study import runner

# The smallest parameters: every notebook must honour them and stay fast on 2 CPU cores.
TEST_PARAMETERS = {"profile": "quick", "breeds": 3, "image_size": 32, "epochs": 2, "tuner_trials": 2, "seed": 7}


@pytest.fixture(scope="session")
def executed(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("notebook-run")
    done: list[str] = []

    def run_up_to(name: str) -> Path:
        wanted = runner.NOTEBOOKS[: runner.NOTEBOOKS.index(name) + 1]
        todo = [n for n in wanted if n not in done]
        if todo:
            runner.run_notebooks(run_dir, TEST_PARAMETERS, start=todo[0], until=name)
            done.extend(todo)
        return run_dir

    return run_up_to


def load_results(run_dir: Path, notebook: str) -> list[dict]:
    """The results records a notebook wrote (records name their notebook in params)."""
    records = [json.loads(p.read_text()) for p in sorted((run_dir / "results").glob("*.json"))]
    return [r for r in records if r["params"].get("notebook") == notebook]


def notebook_errors(run_dir: Path, notebook: str) -> list[dict]:
    """The error outputs of an executed notebook (its sentences are tested in the library, not here)."""
    executed_notebook = nbformat.read(run_dir / "notebooks" / f"{notebook}.ipynb", as_version=4)
    found = [output for cell in executed_notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    return [output for output in found if output["output_type"] == "error"]
