"""One docstring style: reStructuredText markup (``code``, :func:`name`), never Markdown's single backticks."""

from __future__ import annotations

import ast
import re

import pytest

from dogbreeds.core.config import REPO_ROOT

MODULES = sorted((REPO_ROOT / "src" / "dogbreeds").rglob("*.py"))
MARKDOWN_CODE = re.compile(r"(?<![`:\w])`([^`\n]+?)`(?![`_\w])")
"""`code` that is neither ``code`` nor a role such as :func:`name` nor a link `text`_."""


def docstrings(tree: ast.Module):
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            text = ast.get_docstring(node, clean=False)
            if text:
                yield getattr(node, "name", "module"), text


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(REPO_ROOT / "src")))
def test_docstrings_use_restructuredtext_code_markup(path):
    found = [
        f"{name}: {match.group(0)}"
        for name, text in docstrings(ast.parse(path.read_text(encoding="utf-8")))
        for match in MARKDOWN_CODE.finditer(text)
    ]
    assert not found, f"Markdown code in docstrings (write ``code``): {found[:5]}"


def test_the_markup_check_tells_the_styles_apart():
    assert MARKDOWN_CODE.findall("use `epochs` here") == ["epochs"]
    assert not MARKDOWN_CODE.findall("use ``epochs``, :func:`fit` or `the docs`_")
