"""Tests for dogbreeds.data.download, against a local HTTP server on 127.0.0.1 serving small archives."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import socket
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from dogbreeds.cli import program as cli
from dogbreeds.data.download import (
    MANIFEST_NAME,
    ArchiveDigest,
    ArchiveLayoutError,
    DownloadError,
    IntegrityError,
    NetworkUnreachableError,
    UnsafeArchiveError,
    download_stanford_dogs,
    missing_parts,
)

BREEDS = ("n02085620-Chihuahua", "n02085782-Japanese_spaniel")
PHOTOS = {
    f"{breed}/{breed[:9]}_{number}.jpg": (40 * i + 10 * number) % 256
    for i, breed in enumerate(BREEDS)
    for number in (1, 2, 3)
}
TRAIN = sorted(PHOTOS)[:4]
TEST = sorted(PHOTOS)[4:]


# ---------------------------------------------------------------- archives


def _jpeg(gray: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (gray, 255 - gray, 128)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _voc_xml(relative: str) -> bytes:
    folder, name = relative.split("/")
    return (
        f"<annotation><folder>{folder[:9]}</folder><filename>{name[:-4]}</filename>"
        "<size><width>8</width><height>6</height><depth>3</depth></size>"
        f"<object><name>{folder[10:]}</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
        "<xmax>7</xmax><ymax>5</ymax></bndbox></object></annotation>"
    ).encode()


def _mat(paths: list[str]) -> bytes:
    buffer = io.BytesIO()
    file_list = np.empty((len(paths), 1), dtype=object)
    file_list[:, 0] = paths
    labels = np.array([[1 + BREEDS.index(path.split("/")[0])] for path in paths], dtype=np.uint8)
    scipy.io.savemat(buffer, {"file_list": file_list, "labels": labels})
    return buffer.getvalue()


def _tar(files: dict[str, bytes], folders: tuple[str, ...] = ()) -> bytes:
    """An uncompressed tar with ``folders`` as folder members and ``files`` as plain files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for folder in folders:
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


IMAGES = {f"Images/{path}": _jpeg(gray) for path, gray in PHOTOS.items()}
ANNOTATIONS = {f"Annotation/{path[:-4]}": _voc_xml(path) for path in PHOTOS}
LISTS = {"file_list.mat": _mat(sorted(PHOTOS)), "train_list.mat": _mat(TRAIN), "test_list.mat": _mat(TEST)}
ARCHIVES = {
    "images.tar": _tar(IMAGES, ("Images",) + tuple(f"Images/{b}" for b in BREEDS)),
    "annotation.tar": _tar(ANNOTATIONS, ("Annotation",) + tuple(f"Annotation/{b}" for b in BREEDS)),
    "lists.tar": _tar(LISTS),
}


def _digest(data: bytes) -> ArchiveDigest:
    return ArchiveDigest(len(data), hashlib.sha256(data).hexdigest())


DIGESTS = {name: _digest(data) for name, data in ARCHIVES.items()}


# ---------------------------------------------------------------- server


class ArchiveServer(http.server.ThreadingHTTPServer):
    """Serves ``files`` by name; can ignore Range, cut transfers short after ``drop_after`` bytes, or 404."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ArchiveHandler)
        self.files: dict[str, bytes] = dict(ARCHIVES)
        self.ignore_range = False
        self.drop_after: int | None = None
        self.requests: list[tuple[str, str | None]] = []
        self.bytes_sent = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/dogs/"


class _ArchiveHandler(http.server.BaseHTTPRequestHandler):
    server: ArchiveServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        name = self.path.removeprefix("/dogs/")
        range_header = self.headers.get("Range")
        self.server.requests.append((name, range_header))
        data = self.server.files.get(name)
        if data is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        if range_header and not self.server.ignore_range:
            start = int(range_header.removeprefix("bytes=").removesuffix("-"))
            if start >= len(data):
                self.send_error(416, "Range Not Satisfiable")
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.server.drop_after is not None:
            body = body[: self.server.drop_after]
        # Counted before writing: the client may finish reading (and the test assert) before this thread runs again.
        self.server.bytes_sent += len(body)
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's signature)
        pass


@pytest.fixture
def server() -> Iterator[ArchiveServer]:
    archive_server = ArchiveServer()
    thread = threading.Thread(target=archive_server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield archive_server
    archive_server.shutdown()
    archive_server.server_close()
    thread.join()


def _download(dest: Path, server: ArchiveServer, **options) -> Path:
    options = {"digests": DIGESTS, "timeout": 5.0, "progress": False} | options
    return download_stanford_dogs(dest, server.url, **options)


def _files_under(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _closed_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago: nothing listens there."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _assert_nothing_installed(dest: Path) -> None:
    assert not (dest / "Images").exists()
    assert [p.name for p in dest.iterdir() if "extracting" in p.name] == []


# ---------------------------------------------------------------- tests


def test_full_download_gives_the_official_layout(tmp_path: Path, server: ArchiveServer) -> None:
    dest = tmp_path / "stanford-dogs"
    stale = dest / ".images.tar-extracting-killed"
    stale.mkdir(parents=True)
    (stale / "half.jpg").write_bytes(b"half")

    assert _download(dest, server) == dest

    assert _files_under(dest / "Images") == {k.removeprefix("Images/"): v for k, v in IMAGES.items()}
    assert _files_under(dest / "Annotation") == {k.removeprefix("Annotation/"): v for k, v in ANNOTATIONS.items()}
    train = scipy.io.loadmat(dest / "lists" / "train_list.mat")
    assert [str(cell[0][0]) for cell in train["file_list"]] == TRAIN
    assert train["labels"].ravel().tolist() == [1, 1, 1, 2]
    assert sorted(p.name for p in (dest / "lists").iterdir()) == ["file_list.mat", "test_list.mat", "train_list.mat"]
    with Image.open(dest / "Images" / TRAIN[0]) as photo:
        assert photo.size == (8, 6)
    # Only the data and the manifest remain: no archive, .part file or temporary folder.
    assert sorted(p.name for p in dest.iterdir()) == ["Annotation", "Images", MANIFEST_NAME, "lists"]
    manifest = json.loads((dest / MANIFEST_NAME).read_text())
    assert manifest["images.tar"]["sha256"] == DIGESTS["images.tar"].sha256
    assert manifest["lists.tar"]["size"] == len(ARCHIVES["lists.tar"])
    assert [range_header for _, range_header in server.requests] == [None, None, None]
    assert missing_parts(dest) == []


def test_rerun_when_everything_is_present_does_nothing(
    tmp_path: Path, server: ArchiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "dogs"
    _download(dest, server)
    before = {p: p.stat().st_mtime_ns for p in dest.rglob("*")}
    server.requests.clear()

    _download(dest, server, progress=True)

    assert server.requests == []
    assert {p: p.stat().st_mtime_ns for p in dest.rglob("*")} == before
    assert "already in" in capsys.readouterr().out


def test_only_missing_parts_are_downloaded(tmp_path: Path, server: ArchiveServer) -> None:
    dest = tmp_path / "dogs"
    _download(dest, server, parts=("lists",))
    assert missing_parts(dest) == ["images", "annotation"]
    server.requests.clear()

    _download(dest, server)

    assert sorted(name for name, _ in server.requests) == ["annotation.tar", "images.tar"]
    assert missing_parts(dest) == []


def test_resume_sends_a_range_request_and_completes(tmp_path: Path, server: ArchiveServer) -> None:
    dest = tmp_path / "dogs"
    dest.mkdir()
    data = ARCHIVES["images.tar"]
    (dest / "images.tar.part").write_bytes(data[:1000])

    _download(dest, server, parts=("images",))

    assert server.requests == [("images.tar", "bytes=1000-")]
    assert server.bytes_sent == len(data) - 1000
    assert _files_under(dest / "Images") == {k.removeprefix("Images/"): v for k, v in IMAGES.items()}
    assert not (dest / "images.tar.part").exists()


def test_a_complete_archive_from_an_earlier_run_is_reused(tmp_path: Path, server: ArchiveServer) -> None:
    dest = tmp_path / "dogs"
    dest.mkdir()
    (dest / "images.tar").write_bytes(ARCHIVES["images.tar"])

    _download(dest, server, parts=("images",))

    assert server.requests == []
    assert _files_under(dest / "Images") == {k.removeprefix("Images/"): v for k, v in IMAGES.items()}
    assert not (dest / "images.tar").exists()


def test_server_ignoring_range_restarts_from_the_first_byte(tmp_path: Path, server: ArchiveServer) -> None:
    dest = tmp_path / "dogs"
    dest.mkdir()
    (dest / "images.tar.part").write_bytes(b"\xff" * 1000)  # appending to this would corrupt the file
    server.ignore_range = True

    _download(dest, server, parts=("images",))

    assert server.requests == [("images.tar", "bytes=1000-")]
    assert server.bytes_sent == len(ARCHIVES["images.tar"])
    assert _files_under(dest / "Images") == {k.removeprefix("Images/"): v for k, v in IMAGES.items()}


def test_truncated_transfer_fails_clearly_and_resumes_on_the_next_run(tmp_path: Path, server: ArchiveServer) -> None:
    dest = tmp_path / "dogs"
    size = len(ARCHIVES["images.tar"])
    server.drop_after = size // 2

    with pytest.raises(DownloadError, match=rf"stopped after {size // 2} of {size} bytes.*run again to resume"):
        _download(dest, server, parts=("images",))

    _assert_nothing_installed(dest)
    assert (dest / "images.tar.part").read_bytes() == ARCHIVES["images.tar"][: size // 2]

    server.drop_after = None
    _download(dest, server, parts=("images",))

    assert server.requests[-1] == ("images.tar", f"bytes={size // 2}-")
    assert _files_under(dest / "Images") == {k.removeprefix("Images/"): v for k, v in IMAGES.items()}


def test_checksum_mismatch_raises_and_removes_the_file(tmp_path: Path, server: ArchiveServer) -> None:
    dest = tmp_path / "dogs"
    wrong = {"images.tar": ArchiveDigest(len(ARCHIVES["images.tar"]), "0" * 64)}

    expected = r"images\.tar .* has sha256 [0-9a-f]{64} .*expected 0{64} .*known digest.*removed"
    with pytest.raises(IntegrityError, match=expected):
        _download(dest, server, parts=("images",), digests=wrong)

    assert sorted(p.name for p in dest.iterdir()) == []
    assert server.bytes_sent == len(ARCHIVES["images.tar"])


def test_size_mismatch_raises_before_downloading(tmp_path: Path, server: ArchiveServer) -> None:
    dest = tmp_path / "dogs"
    dest.mkdir()
    (dest / "lists.tar.part").write_bytes(ARCHIVES["lists.tar"][:100])
    wrong = {"lists.tar": ArchiveDigest(481_280, DIGESTS["lists.tar"].sha256)}

    size = len(ARCHIVES["lists.tar"])
    with pytest.raises(IntegrityError, match=rf"offers {size} bytes, expected 481280"):
        _download(dest, server, parts=("lists",), digests=wrong)

    assert list(dest.iterdir()) == []


def test_without_a_known_digest_the_manifest_records_sha256_and_a_later_download_must_match(
    tmp_path: Path, server: ArchiveServer
) -> None:
    dest = tmp_path / "dogs"
    _download(dest, server, parts=("lists",), digests={})
    entry = json.loads((dest / MANIFEST_NAME).read_text())["lists.tar"]
    assert entry["sha256"] == DIGESTS["lists.tar"].sha256
    assert entry["checked_against"].startswith("Content-Length")

    for name in ("file_list.mat", "train_list.mat"):
        (dest / "lists" / name).unlink()
    changed = bytearray(ARCHIVES["lists.tar"])
    changed[-1] ^= 0xFF
    server.files["lists.tar"] = bytes(changed)

    with pytest.raises(IntegrityError, match=rf"expected {DIGESTS['lists.tar'].sha256} .*{MANIFEST_NAME}"):
        _download(dest, server, parts=("lists",), digests={})
    assert not (dest / "lists.tar").exists()
    assert missing_parts(dest, ["lists"]) == ["lists"]


def _evil_member(kind: str, outside: Path) -> tarfile.TarInfo:
    if kind == "absolute":
        info = tarfile.TarInfo(str(outside / "absolute.txt"))
    elif kind == "dotdot":
        info = tarfile.TarInfo("Images/../../escape.txt")
    elif kind in ("symlink", "hardlink"):
        info = tarfile.TarInfo("Images/n02085620-Chihuahua/link.jpg")
        info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
        info.linkname = str(outside / "target.txt")
    else:
        info = tarfile.TarInfo("Images/n02085620-Chihuahua/device")
        info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
    return info


@pytest.mark.parametrize(
    ("kind", "problem"),
    [
        ("absolute", "has an absolute path"),
        ("dotdot", r"climbs out of its folder with '\.\.'"),
        ("symlink", "is a link \\(to .+target.txt.\\)"),
        ("hardlink", "is a link \\(to .+target.txt.\\)"),
        ("device", "is a device, FIFO or other special file"),
    ],
)
def test_malicious_archive_is_rejected_and_nothing_is_written(
    tmp_path: Path, server: ArchiveServer, kind: str, problem: str
) -> None:
    dest = tmp_path / "dogs"
    outside = tmp_path / "outside"
    outside.mkdir()
    buffer = io.BytesIO(ARCHIVES["images.tar"])
    with tarfile.open(fileobj=buffer, mode="a") as tar:  # the good members, then the evil one
        info = _evil_member(kind, outside)
        payload = b"evil" if info.isfile() else b""
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload) if payload else None)
    server.files["images.tar"] = buffer.getvalue()

    with pytest.raises(UnsafeArchiveError, match=rf"images\.tar: member '.+' {problem}; refusing"):
        _download(dest, server, parts=("images",), digests={})

    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dogs", "outside"]
    assert sorted(p.name for p in dest.iterdir()) == [MANIFEST_NAME]


def test_archive_without_the_official_layout_is_rejected(tmp_path: Path, server: ArchiveServer) -> None:
    dest = tmp_path / "dogs"
    server.files["images.tar"] = _tar({"photos/a.jpg": _jpeg(3)})

    with pytest.raises(ArchiveLayoutError, match=r"images\.tar lacks Images at its top level"):
        _download(dest, server, parts=("images",), digests={})

    _assert_nothing_installed(dest)
    assert not (dest / "photos").exists()
    assert not (dest / "images.tar").exists()


def test_file_that_is_not_a_tar_archive_is_rejected(tmp_path: Path, server: ArchiveServer) -> None:
    dest = tmp_path / "dogs"
    server.files["lists.tar"] = b"<html>moved</html>" * 100

    with pytest.raises(IntegrityError, match=r"lists\.tar is not a readable tar archive"):
        _download(dest, server, parts=("lists",), digests={})

    assert sorted(p.name for p in dest.iterdir()) == [MANIFEST_NAME]


def test_unreachable_server_says_how_to_use_an_existing_copy(tmp_path: Path) -> None:
    port = _closed_port()

    with pytest.raises(NetworkUnreachableError, match=r"network looks unreachable.*--data-dir.*DOGBREEDS_DATA_DIR"):
        download_stanford_dogs(tmp_path / "dogs", f"http://127.0.0.1:{port}/", timeout=5.0, progress=False)

    assert not (tmp_path / "dogs" / "Images").exists()


def test_missing_file_on_the_server_is_a_clear_error(tmp_path: Path, server: ArchiveServer) -> None:
    del server.files["annotation.tar"]

    with pytest.raises(DownloadError, match=r"annotation\.tar: the server answered HTTP 404") as raised:
        _download(tmp_path / "dogs", server, parts=("annotation",))

    assert not isinstance(raised.value, NetworkUnreachableError)


def test_unknown_part_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="choose among images, annotation, lists"):
        download_stanford_dogs(tmp_path, parts=("photos",), progress=False)


# ---------------------------------------------------------------- command line


def test_cli_download_installs_the_data_and_names_the_next_command(
    tmp_path: Path, server: ArchiveServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The command checks the official digests; the test archives are checked against their own.
    monkeypatch.setattr(cli, "download_stanford_dogs", functools.partial(download_stanford_dogs, digests=DIGESTS))
    dest = tmp_path / "my dogs"

    assert cli.main(["data", "download", "--dest", str(dest), "--base-url", server.url]) == 0

    out = capsys.readouterr().out
    assert f"Stanford Dogs (images, annotation, lists) is in {dest}." in out
    assert f"Next: dogbreeds data summary --data-dir '{dest}'" in out
    assert missing_parts(dest) == []
    assert _files_under(dest / "Images") == {k.removeprefix("Images/"): v for k, v in IMAGES.items()}

    server.requests.clear()
    assert cli.main(["data", "download", "--dest", str(dest), "--base-url", server.url, "--parts", "lists"]) == 0
    assert "is already in" in capsys.readouterr().out
    assert server.requests == []


def test_cli_download_failure_is_one_line_and_exit_code_2(
    tmp_path: Path, server: ArchiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # The test archives are not the official files: their size differs from the official one.
    code = cli.main(
        ["data", "download", "--dest", str(tmp_path / "dogs"), "--base-url", server.url, "--parts", "lists"]
    )

    assert code == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("dogbreeds: error: ")
    assert f"offers {len(ARCHIVES['lists.tar'])} bytes, expected 481280" in captured.err
    assert "Next:" not in captured.out


def test_cli_download_without_network_points_to_data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = _closed_port()

    code = cli.main(["data", "download", "--dest", str(tmp_path / "dogs"), "--base-url", f"http://127.0.0.1:{port}/"])

    assert code == 2
    assert "--data-dir DIR or set DOGBREEDS_DATA_DIR=DIR" in capsys.readouterr().err


def test_cli_download_rejects_an_unknown_part(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["data", "download", "--dest", str(tmp_path), "--parts", "photos"]) == 2
    assert "invalid choice: 'photos'" in capsys.readouterr().err


# ----------------------------------------------------------------------------- extraction edge cases (bad-input corpus)


def test_a_link_where_images_belongs_is_refused_not_followed(tmp_path: Path, server: ArchiveServer) -> None:
    dest = tmp_path / "dogs"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    dest.mkdir()
    (dest / "Images").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ArchiveLayoutError, match="Images is a link in the way"):
        _download(dest, server, parts=("images",))
    assert list(elsewhere.iterdir()) == []  # nothing written through the link


def test_a_planted_staging_link_is_removed_not_followed(tmp_path: Path, server: ArchiveServer) -> None:
    dest = tmp_path / "dogs"
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    dest.mkdir()
    (dest / ".images.tar-extracting-planted").symlink_to(victim, target_is_directory=True)
    _download(dest, server, parts=("images",))
    assert (victim / "keep.txt").read_text() == "mine"
    assert missing_parts(dest, ["images"]) == []


def test_an_archive_whose_images_is_a_plain_file_is_not_installed(tmp_path: Path, server: ArchiveServer) -> None:
    dest = tmp_path / "dogs"
    server.files["images.tar"] = _tar({"Images": b"not a folder"})
    with pytest.raises(ArchiveLayoutError, match="lacks Images"):
        _download(dest, server, parts=("images",), digests={})
    assert missing_parts(dest, ["images"]) == ["images"]
    (dest / "Images").write_text("a file placed by hand")
    assert missing_parts(dest, ["images"]) == ["images"]  # a file named Images is not an install
