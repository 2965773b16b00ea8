"""The data content hash and the device name."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from dogbreeds.core.config import REPO_ROOT
from dogbreeds.core.provenance import (
    code_fingerprint,
    code_version,
    data_hash,
    device_name,
    file_sha256,
    source_fingerprint,
)


def test_data_hash_follows_content_not_location(tmp_path):
    first = tmp_path / "a"
    for name, text in {"x/1.jpg": "one", "y/2.jpg": "two"}.items():
        (first / name).parent.mkdir(parents=True, exist_ok=True)
        (first / name).write_text(text)
    files = sorted(first.rglob("*.jpg"))
    cache = tmp_path / "cache.json"
    reference = data_hash(files, first, cache_file=cache)
    assert data_hash(list(reversed(files)), first, cache_file=None) == reference  # order does not matter
    copy = tmp_path / "b"
    shutil.copytree(first, copy)
    assert data_hash(sorted(copy.rglob("*.jpg")), copy, cache_file=cache) == reference  # nor the folder
    (copy / "y/2.jpg").write_text("tw0")  # one changed byte
    assert data_hash(sorted(copy.rglob("*.jpg")), copy, cache_file=cache) != reference
    (copy / "y/2.jpg").rename(copy / "y/3.jpg")  # a renamed file
    assert data_hash(sorted(copy.rglob("*.jpg")), copy, cache_file=None) != reference
    assert data_hash(files[:1], first, cache_file=None) != reference  # a missing file


def test_file_digests_are_cached_by_path_size_and_time(tmp_path):
    photo = tmp_path / "p.jpg"
    photo.write_text("abc")
    cache = tmp_path / "cache.json"
    data_hash([photo], tmp_path, cache_file=cache)
    stored = json.loads(cache.read_text())
    assert list(stored.values()) == [file_sha256(photo)]
    # A cached digest is used as long as path, size and modification time are unchanged.
    key = next(iter(stored))
    cache.write_text(json.dumps({key: "0" * 64}))
    assert data_hash([photo], tmp_path, cache_file=cache) != data_hash([photo], tmp_path, cache_file=None)
    os.utime(photo, ns=(1, 1))
    assert data_hash([photo], tmp_path, cache_file=cache) == data_hash([photo], tmp_path, cache_file=None)


def test_device_name_names_the_processor():
    name = device_name()
    assert name.startswith(("CPU: ", "GPU: ")) and len(name) > 6


def test_source_fingerprint_ignores_layout_comments_and_docstrings_but_not_code():
    original = 'def scale(x):\n    """Halve it."""\n    return x / 2  # pixels\n'
    relaid = 'def scale(x):\n    """Halve the pixels, reworded."""\n\n    return (\n        x / 2\n    )\n'
    edited = 'def scale(x):\n    """Halve it."""\n    return x / 3  # pixels\n'
    assert source_fingerprint(original) == source_fingerprint(relaid)
    assert source_fingerprint(original) != source_fingerprint(edited)
    assert source_fingerprint('"""Module."""\nX = 1\n') == source_fingerprint("X = 1\n")
    assert source_fingerprint('def f():\n    """Only a docstring."""\n') == source_fingerprint("def f():\n    pass\n")


def test_code_fingerprint_follows_each_module_in_order():
    one = code_fingerprint(["dogbreeds.core.fileio"])
    assert one == code_fingerprint(["dogbreeds.core.fileio"]) and len(one) == 64
    assert one != code_fingerprint(["dogbreeds.core.config"])
    assert code_fingerprint(["dogbreeds.core.fileio", "dogbreeds.core.config"]) != one


def test_code_version_names_the_commit_of_a_checkout_and_nothing_elsewhere(tmp_path):
    assert code_version(tmp_path) is None  # not a git checkout
    if not (REPO_ROOT / ".git").exists():
        pytest.skip("the tests do not run from a git checkout")
    version = code_version(REPO_ROOT)
    assert len(version["commit"]) == 40 and int(version["commit"], 16) >= 0
    assert isinstance(version["changed_files"], int) and version["changed_files"] >= 0
