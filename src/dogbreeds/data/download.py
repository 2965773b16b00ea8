"""Download the official Stanford Dogs archives and extract them safely into the official layout.

The result is ``dest/Images/<wnid>-<Breed>/*.jpg``, ``dest/Annotation/<wnid>-<Breed>/*``
and ``dest/lists/{file,train,test}_list.mat``. Downloads resume from a ``.part`` file,
every archive is checked against its size and sha256 before it is opened, and each
archive is extracted into a temporary folder inside ``dest`` that is moved into place
only once it is complete, so an interrupted run never leaves a half-extracted tree.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from urllib.parse import urljoin

from tqdm import tqdm

from dogbreeds.core.config import DATA_DIR_ENV
from dogbreeds.core.errors import DogbreedsError
from dogbreeds.core.fileio import write_bytes_atomic

OFFICIAL_BASE_URL = "http://vision.stanford.edu/aditya86/ImageNetDogs/"
MANIFEST_NAME = "download-manifest.json"
DEFAULT_TIMEOUT_S = 30.0
CHUNK_BYTES = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


class DownloadError(DogbreedsError, RuntimeError):
    """The Stanford Dogs archives could not be downloaded or installed."""


class NetworkUnreachableError(DownloadError):
    """The server could not be reached at all (no network, DNS failure, refused connection)."""


class IntegrityError(DownloadError):
    """A downloaded archive has the wrong size or sha256, or is not a readable tar file."""


class UnsafeArchiveError(DownloadError):
    """An archive holds a member that could write outside its folder (absolute path, '..', link, device)."""


class ArchiveLayoutError(DownloadError):
    """An archive lacks the top-level entries of the official Stanford Dogs archive."""


@dataclass(frozen=True)
class ArchiveDigest:
    """The size in bytes and the sha256 (hex) of one archive file."""

    size: int
    sha256: str


@dataclass(frozen=True)
class ArchivePart:
    """One official archive: its file name, the top-level entries it provides and the folder they go to."""

    filename: str
    entries: tuple[str, ...]
    subdir: str = ""

    def targets(self, dest: Path) -> list[Path]:
        """Where this part's entries live once installed in ``dest``."""
        return [dest / self.subdir / entry for entry in self.entries]


PARTS: Mapping[str, ArchivePart] = MappingProxyType(
    {
        "images": ArchivePart("images.tar", ("Images",)),
        "annotation": ArchivePart("annotation.tar", ("Annotation",)),
        "lists": ArchivePart("lists.tar", ("file_list.mat", "train_list.mat", "test_list.mat"), "lists"),
    }
)

# Sizes and sha256 of the official archives, as recorded by TensorFlow Datasets
# (tensorflow_datasets/url_checksums/stanford_dogs.txt), which computed them from
# the files served at OFFICIAL_BASE_URL.
OFFICIAL_DIGESTS: Mapping[str, ArchiveDigest] = MappingProxyType(
    {
        "images.tar": ArchiveDigest(793_579_520, "a443fc2f9a851aa1a7b8e4fa4af94b8459fce2c9f5a2f4dd4669cf9673a4ec58"),
        "annotation.tar": ArchiveDigest(21_852_160, "662ed36f707be6b195c2fda392d8e153e83af28cedc8e2134a649f198def30fd"),
        "lists.tar": ArchiveDigest(481_280, "34b47cacd9a98b5d150e084f24d29391c084c55272295ec65c85651bc35f4d6c"),
    }
)


def missing_parts(dest: str | os.PathLike, parts: Iterable[str] = tuple(PARTS)) -> list[str]:
    """The names among ``parts`` whose files are not (or not all) installed in ``dest``."""
    dest = Path(dest).expanduser()
    return [name for name in _check_part_names(parts) if not all(map(_is_installed, PARTS[name].targets(dest)))]


def download_stanford_dogs(
    dest: str | os.PathLike,
    base_url: str = OFFICIAL_BASE_URL,
    parts: Iterable[str] = tuple(PARTS),
    *,
    digests: Mapping[str, ArchiveDigest] = OFFICIAL_DIGESTS,
    timeout: float = DEFAULT_TIMEOUT_S,
    progress: bool = True,
) -> Path:
    """Download and extract the Stanford Dogs ``parts`` into ``dest``; return ``dest``.

    Parts already installed are skipped, so a re-run does nothing. Each archive is
    checked against ``digests`` (by file name; the official sizes and sha256 by
    default). An archive without an entry there is checked against the server's
    Content-Length, and its sha256 is recorded in ``dest/download-manifest.json`` so
    that a later download of it must match. ``progress`` shows progress bars and
    status lines.
    """
    dest = Path(dest).expanduser()
    names = _check_part_names(parts)
    todo = missing_parts(dest, names)
    if not todo:
        _say(progress, f"Stanford Dogs ({', '.join(names)}) already in {dest}: nothing to do.")
        return dest
    _make_writable_folder(dest)
    for name in todo:
        part = PARTS[name]
        archive = dest / part.filename
        url = urljoin(_with_slash(base_url), part.filename)
        recorded = _read_manifest(dest).get(part.filename)
        if part.filename in digests:
            digest = _obtain_archive(url, archive, digests[part.filename], "the known digest", timeout, progress)
            _record_in_manifest(dest, part.filename, digest, "known digest")
        elif recorded is not None:
            source = f"{dest / MANIFEST_NAME} (delete that entry if the server's file changed on purpose)"
            _obtain_archive(url, archive, recorded, source, timeout, progress)
        else:
            digest = _obtain_archive(url, archive, None, "", timeout, progress)
            _record_in_manifest(dest, part.filename, digest, "Content-Length; sha256 recorded on first download")
        try:
            _extract_part(archive, part, dest, progress)
        except (UnsafeArchiveError, ArchiveLayoutError, IntegrityError):
            archive.unlink()
            raise
        archive.unlink()
        _say(progress, f"Installed {name} in {dest}.")
    return dest


def _make_writable_folder(dest: Path) -> None:
    """Create ``dest`` if needed and check that a file can be written in it; DownloadError says why not."""
    if dest.exists() and not dest.is_dir():
        raise DownloadError(f"{dest} is a file, not a folder: give a folder to download into (created if needed).")
    try:
        dest.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=dest).close()
    except OSError as error:
        raise DownloadError(
            f"cannot create or write into {dest} ({error.strerror or error}): give a folder you can write to."
        ) from None


def _check_part_names(parts: Iterable[str]) -> list[str]:
    names = [parts] if isinstance(parts, str) else list(parts)
    unknown = sorted(set(names) - set(PARTS))
    if unknown or not names:
        raise ValueError(f"Unknown or no Stanford Dogs parts {unknown}: choose among {', '.join(PARTS)}.")
    return list(dict.fromkeys(names))


def _is_folder_entry(path: Path) -> bool:
    """The official archives' top-level folders (Images, Annotation) have no suffix; their files do."""
    return not path.suffix


def _is_installed(path: Path) -> bool:
    """A real (not linked) file, or a real non-empty folder, as the archive's entry requires."""
    if path.is_symlink():
        return False
    if _is_folder_entry(path):
        return path.is_dir() and any(path.iterdir())
    return path.is_file()


def _with_slash(base_url: str) -> str:
    return base_url if base_url.endswith("/") else base_url + "/"


def _say(progress: bool, message: str) -> None:
    if progress:
        tqdm.write(message)


def _obtain_archive(
    url: str, archive: Path, known: ArchiveDigest | None, known_from: str, timeout: float, progress: bool
) -> ArchiveDigest:
    """A copy of ``url`` at ``archive``, matching ``known`` when given: reused from an earlier run or downloaded."""
    if known is not None and archive.is_file() and _digest_of(archive, progress) == known:
        return known
    partial = archive.with_name(archive.name + ".part")
    size = _fetch(url, partial, known.size if known else None, timeout, progress)
    os.replace(partial, archive)
    digest = ArchiveDigest(size, _digest_of(archive, progress).sha256)
    if known is not None and digest != known:
        archive.unlink()
        raise IntegrityError(
            f"{archive.name} from {url} has sha256 {digest.sha256} ({digest.size} bytes), expected "
            f"{known.sha256} ({known.size} bytes) from {known_from}. "
            "The file was removed; run again to download it afresh."
        )
    return digest


def _fetch(url: str, partial: Path, expected_size: int | None, timeout: float, progress: bool) -> int:
    """Download ``url`` into ``partial``, resuming it with an HTTP Range request; return the full size."""
    offset = partial.stat().st_size if partial.is_file() else 0
    if expected_size is not None and offset > expected_size:
        partial.unlink()
        offset = 0
    if expected_size is not None and offset == expected_size:
        return offset
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 416 and offset:
            partial.unlink()
            return _fetch(url, partial, expected_size, timeout, progress)
        raise DownloadError(
            f"{url}: the server answered HTTP {error.code} ({error.reason}). Check --base-url."
        ) from error
    except http.client.HTTPException as error:
        raise DownloadError(f"{url}: the server broke off its answer ({error!r}); run again.") from error
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise NetworkUnreachableError(
            f"Cannot reach {url} ({reason}): the network looks unreachable. If you already have a copy of "
            f"Stanford Dogs, use it instead: pass --data-dir DIR or set {DATA_DIR_ENV}=DIR."
        ) from error
    with response:
        if response.status == 206:
            start, total = _parse_content_range(response.headers.get("Content-Range", ""), url)
            if start != offset:
                partial.unlink()
                raise DownloadError(
                    f"{url}: asked for bytes from {offset}, the server sent them from {start}. "
                    "The partial file was removed: run again to download from the start."
                )
        else:
            offset = 0  # the server ignored the Range header: start again from the first byte
            total = _content_length(response, url, expected_size)
        if expected_size is not None and total != expected_size:
            partial.unlink(missing_ok=True)
            raise IntegrityError(
                f"{url}: the server offers {total} bytes, expected {expected_size}. "
                "It is not the official file; check --base-url."
            )
        received = _copy_body(response, partial, offset, total, url, progress)
    if received != total:
        raise DownloadError(
            f"{url}: the transfer stopped after {received} of {total} bytes. "
            f"The partial file {partial} is kept: run again to resume."
        )
    return total


def _parse_content_range(header: str, url: str) -> tuple[int, int]:
    match = _CONTENT_RANGE.fullmatch(header.strip())
    if match is None:
        raise DownloadError(f"{url}: the server answered 206 with an unreadable Content-Range {header!r}.")
    return int(match[1]), int(match[3])


def _content_length(response: http.client.HTTPResponse, url: str, expected_size: int | None) -> int:
    length = response.headers.get("Content-Length")
    if length is not None and length.isdigit():
        return int(length)
    if expected_size is not None:
        return expected_size
    raise DownloadError(f"{url}: the server sent no Content-Length, so a complete download cannot be told apart.")


def _copy_body(
    response: http.client.HTTPResponse, partial: Path, offset: int, total: int, url: str, progress: bool
) -> int:
    """Write the response body to ``partial`` from byte ``offset``; return how many bytes the file now holds."""
    received = offset
    name = partial.name.removesuffix(".part")
    with (
        open(partial, "ab" if offset else "wb") as out,
        tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, desc=f"downloading {name}", disable=not progress
        ) as bar,
    ):
        try:
            while chunk := response.read(min(CHUNK_BYTES, total - received)):
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as error:
            raise DownloadError(
                f"{url}: the connection broke after {received} of {total} bytes ({error}). "
                f"The partial file {partial} is kept: run again to resume."
            ) from error
    return received


def _digest_of(path: Path, progress: bool) -> ArchiveDigest:
    sha = hashlib.sha256()
    size = path.stat().st_size
    with (
        open(path, "rb") as file,
        tqdm(total=size, unit="B", unit_scale=True, desc=f"checking {path.name}", disable=not progress) as bar,
    ):
        while chunk := file.read(CHUNK_BYTES):
            sha.update(chunk)
            bar.update(len(chunk))
    return ArchiveDigest(size, sha.hexdigest())


def _read_manifest(dest: Path) -> dict[str, ArchiveDigest]:
    path = dest / MANIFEST_NAME
    if not path.is_file():
        return {}
    entries = json.loads(path.read_text())
    return {name: ArchiveDigest(entry["size"], entry["sha256"]) for name, entry in entries.items()}


def _record_in_manifest(dest: Path, filename: str, digest: ArchiveDigest, checked_against: str) -> None:
    """Record ``filename``'s size and sha256 in the manifest next to the data (atomic write)."""
    path = dest / MANIFEST_NAME
    entries = json.loads(path.read_text()) if path.is_file() else {}
    entries[filename] = asdict(digest) | {"checked_against": checked_against}
    write_bytes_atomic(path, (json.dumps(entries, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def _check_tar_member(member: tarfile.TarInfo, archive_name: str) -> None:
    """Raise UnsafeArchiveError unless ``member`` is a plain file or folder with a relative path inside the archive."""
    path = PurePosixPath(member.name)
    if path.is_absolute():
        problem = "has an absolute path"
    elif ".." in path.parts:
        problem = "climbs out of its folder with '..'"
    elif member.issym() or member.islnk():
        problem = f"is a link (to {member.linkname!r})"
    elif not (member.isfile() or member.isdir()):
        problem = "is a device, FIFO or other special file"
    else:
        return
    raise UnsafeArchiveError(
        f"{archive_name}: member {member.name!r} {problem}; refusing to extract the archive "
        "(nothing was written). The official archives hold only plain files and folders: "
        "the file is corrupt or not the official one, and was removed; check --base-url."
    )


def _extract_part(archive: Path, part: ArchivePart, dest: Path, progress: bool) -> None:
    """Extract ``archive`` into a temporary folder inside ``dest``, then move its entries into place."""
    for stale in dest.glob(f".{part.filename}-extracting-*"):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale)  # left behind by a run that was killed while extracting
        else:
            stale.unlink()  # a file or link with that name is not ours to follow
    staging = Path(tempfile.mkdtemp(prefix=f".{part.filename}-extracting-", dir=dest))
    try:
        try:
            with tarfile.open(archive) as tar:
                members = tar.getmembers()
                for member in members:
                    _check_tar_member(member, archive.name)
                with tqdm(members, desc=f"extracting {archive.name}", unit="file", disable=not progress) as bar:
                    tar.extractall(staging, members=bar, filter="data")
        except (tarfile.TarError, EOFError) as error:
            raise IntegrityError(f"{archive.name} is not a readable tar archive ({error}); it was removed.") from error
        wrong = [entry for entry in part.entries if not _is_installed(staging / entry)]
        if wrong:
            raise ArchiveLayoutError(
                f"{archive.name} lacks {', '.join(wrong)} at its top level (or has a file where a folder belongs), "
                "so it is not the official Stanford Dogs archive; it was removed. Check --base-url."
            )
        target_dir = dest / part.subdir
        if target_dir.is_symlink() or (target_dir.exists() and not target_dir.is_dir()):
            raise ArchiveLayoutError(f"{target_dir} is in the way (a link or a file, not a folder); move it away.")
        target_dir.mkdir(parents=True, exist_ok=True)
        for entry in part.entries:
            target = target_dir / entry
            if target.is_symlink():
                raise ArchiveLayoutError(f"{target} is a link in the way; move it away, then download again.")
            if target.is_dir():
                if any(target.iterdir()):
                    raise ArchiveLayoutError(f"{target} is a folder in the way; move it away, then download again.")
                target.rmdir()  # an empty folder is not an installed part
            os.replace(staging / entry, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
