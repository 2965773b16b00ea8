"""What a result was computed from: a content hash of the data files and the device.

``data_hash`` proves which photos were used: each file's path relative to the data
folder, its size and the SHA-256 of its bytes, in sorted order, hashed together. A
file's own digest is cached (keyed by path, size and modification time), so hashing
the same 16,000 photos again costs a directory walk, not a read.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from dogbreeds.core.config import REPO_ROOT
from dogbreeds.core.fileio import write_json_atomic

DEFAULT_HASH_CACHE = REPO_ROOT / ".cache" / "file-hashes.json"


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def data_hash(
    paths: Iterable[str | os.PathLike],
    root: str | os.PathLike,
    cache_file: str | os.PathLike | None = DEFAULT_HASH_CACHE,
) -> str:
    """SHA-256 over (path relative to ``root``, size, content SHA-256) of every file, sorted by path.

    The same photos give the same hash wherever the folder lies; one changed byte,
    renamed, added or missing file gives another. ``cache_file`` keeps each file's
    digest between calls (None: no cache).
    """
    root = Path(root).resolve()
    cache = _read_cache(cache_file)
    known = len(cache)
    entries = []
    for path in paths:
        resolved = Path(path).resolve()
        stat = resolved.stat()
        key = f"{resolved}\t{stat.st_size}\t{stat.st_mtime_ns}"
        if key not in cache:
            cache[key] = file_sha256(resolved)
        relative = resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else resolved.name
        entries.append(f"{relative}\t{stat.st_size}\t{cache[key]}")
    if cache_file is not None and len(cache) > known:  # rewrite the cache only when it learnt a digest
        write_json_atomic(cache_file, cache)
    return hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()


def code_fingerprint(modules: Iterable[str]) -> str:
    """SHA-256 over the syntax trees of ``modules`` (importable names), without their docstrings.

    Comments, docstrings and layout (a reformat) leave it unchanged; any change to what the
    code does changes it. For cache keys that must follow the code that made a result.
    """
    digest = hashlib.sha256()
    for name in modules:
        digest.update(source_fingerprint(Path(importlib.import_module(name).__file__).read_bytes()).encode())
    return digest.hexdigest()


def source_fingerprint(source: str | bytes) -> str:
    """SHA-256 of a Python module's syntax tree without docstrings: what the code does, not how it is laid out."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree, annotate_fields=False).encode()).hexdigest()


def code_version(root: str | os.PathLike = REPO_ROOT) -> dict[str, object] | None:
    """The git commit of the checkout at ``root`` and how many tracked files differ from it.

    None when ``root`` is not a git checkout or git is not installed: a run from an
    unpacked archive records no commit rather than a wrong one.
    """

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", os.fspath(root), *args], capture_output=True, text=True, check=True, timeout=30
        ).stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
        changed = [line for line in git("status", "--porcelain", "--untracked-files=no").splitlines() if line]
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "changed_files": len(changed)}


def device_name() -> str:
    """The GPU TensorFlow computes on (its model name), else the CPU's model name and core count.

    A process that has not imported TensorFlow computed on the CPU: it is not imported just to ask.
    """
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            return f"GPU: {details.get('device_name', gpus[0].name)}"
    return f"CPU: {_cpu_model()} ({os.cpu_count()} cores)"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _read_cache(cache_file: str | os.PathLike | None) -> dict[str, str]:
    if cache_file is None or not Path(cache_file).is_file():
        return {}
    try:
        values = json.loads(Path(cache_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return values if isinstance(values, dict) else {}
