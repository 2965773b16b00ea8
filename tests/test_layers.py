"""The house's rules, checked on the code's own imports (every import, top-level or inside a function)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from dogbreeds.core.config import REPO_ROOT

PACKAGE = REPO_ROOT / "src" / "dogbreeds"
LAYERS = ("core", "data", "inputs", "judge", "models", "experiments", "study", "shelter", "bench", "cli")
"""Lowest first: a layer imports only itself and the layers before it."""
MODULES = sorted(path for layer in LAYERS for path in (PACKAGE / layer).rglob("*.py"))


def imports_of(path: Path) -> set[str]:
    """Every module name ``path`` imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def layer_of(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0]


def test_the_package_holds_only_layers():
    top = {path.name for path in PACKAGE.iterdir() if not path.name.startswith((".", "__pycache__"))}
    assert top == {"__init__.py", "__main__.py", "resources", *LAYERS}


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_import_runs_back_up(path):
    own = LAYERS.index(layer_of(path))
    upward = sorted(
        name
        for name in imports_of(path)
        if name.startswith("dogbreeds.") and name.split(".")[1] in LAYERS and LAYERS.index(name.split(".")[1]) > own
    )
    assert not upward, f"{path.relative_to(PACKAGE)} imports a higher layer: {upward}"


def test_data_and_judge_never_import_keras_and_judge_never_a_model():
    for path in MODULES:
        if layer_of(path) in ("core", "data", "judge"):
            found = {name.split(".")[0] for name in imports_of(path)} & {"keras", "tensorflow"}
            assert not found, f"{path.relative_to(PACKAGE)} imports {found}"


def test_the_results_table_is_read_only_by_the_study_and_its_experiments():
    readers = {
        str(path.relative_to(PACKAGE))
        for path in MODULES
        if any(name.startswith("dogbreeds.experiments.records") for name in imports_of(path))
    }
    assert readers and {reader.split("/")[0] for reader in readers} <= {"experiments", "study"}, readers


def test_only_the_command_line_parses_arguments():
    parsers = {
        str(path.relative_to(PACKAGE)) for path in MODULES if "argparse" in imports_of(path) and layer_of(path) != "cli"
    }
    assert not parsers
