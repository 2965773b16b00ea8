"""The bad-input corpus: hostile or odd files and folders, each with its documented outcome.

Every case is generated here (no committed binaries). The outcome is either a one-line
error with its exit code, or a counted and reported skip or conversion; never a
traceback, a hang or a silently wrong answer. Hostile model bundles, `.pth` files and
tar archives live with their modules' tests (test_predict, test_torch_weights,
test_download), and the interrupt test with the runner's (test_runner_reporting).
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest
from conftest import write_image, write_voc
from PIL import Image

from dogbreeds.cli.program import main
from dogbreeds.data.boxes import read_boxes
from dogbreeds.data.folder import AnnotationError, discover
from dogbreeds.data.images import ImageLoadError, load_image, load_images_array
from dogbreeds.data.quality import scan

# ----------------------------------------------------------------------------- image files


def test_postscript_named_jpg_never_reaches_ghostscript(tmp_path, monkeypatch):
    marker = tmp_path / "gs-ran"
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for name in ("gs", "gswin32c", "gswin64c"):
        script = fake_bin / name
        script.write_text(f"#!/bin/sh\ntouch {marker}\n")
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    eps = tmp_path / "photo.jpg"
    eps.write_text(
        "%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\nnewpath 0 0 moveto 64 64 lineto stroke\nshowpage\n%%EOF\n"
    )
    with pytest.raises(ImageLoadError, match="not an image in a format read here") as caught:
        load_image(eps)
    assert caught.value.kind == "not_an_image"
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_pipes_and_devices_are_refused_at_once(tmp_path, kind):
    if kind == "fifo":
        path = tmp_path / "pipe.jpg"
        os.mkfifo(path)  # opening it would block forever
        assert stat.S_ISFIFO(path.stat().st_mode)
    else:
        path = Path("/dev/zero")
    with pytest.raises(ImageLoadError, match="not a regular file \\(a (pipe|device)\\)"):
        load_image(path)


def test_sixteen_bit_gray_png_with_transparency_keeps_its_shades(tmp_path):
    ramp = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)
    path = tmp_path / "gray16.png"
    Image.fromarray(ramp).save(path, transparency=0)
    assert Image.open(path).mode.startswith("I")
    pixels = np.asarray(load_image(path))
    assert pixels[0, 0].tolist() == [255, 255, 255]  # the transparent value, on white
    assert pixels[0, 1, 0] == 0 and pixels[32, 0, 0] == 128 and 100 < pixels.mean() < 155  # a ramp, not white


def test_float_tiff_in_zero_to_one_is_scaled_not_black(tmp_path):
    path = tmp_path / "float.tif"
    Image.fromarray(np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)).save(path)
    pixels = np.asarray(load_image(path))
    assert pixels.max() == 255 and 120 < pixels.mean() < 135


def test_phone_photos_are_predicted_upright(tmp_path):
    from dogbreeds.data.images import load_upright

    upright = np.zeros((60, 40, 3), dtype=np.uint8)
    upright[:20] = (250, 30, 30)  # red at the top of the portrait photo
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)  # how the phone stored it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    path = tmp_path / "phone.jpg"
    stored.save(path, exif=exif, quality=95)
    seen = np.asarray(load_upright(path))
    assert seen.shape == (60, 40, 3)
    assert seen[:20, :, 0].mean() > 200 and seen[40:, :, 0].mean() < 60
    assert np.asarray(load_image(path)).shape == (40, 60, 3)  # training keeps the stored frame (boxes)


# ----------------------------------------------------------------------------- data folders


@pytest.fixture
def dogs(make_dogs_dir):
    return make_dogs_dir({"n02085620-Chihuahua": 3, "n02086240-Shih-Tzu": 3}, annotations=True, size=(48, 40))


def test_symlink_loops_are_reported_not_raised(dogs, capsys):
    (dogs / "Images" / "loop").symlink_to(dogs / "Images" / "loop")
    (dogs / "Images" / "n02085620-Chihuahua" / "again.jpg").symlink_to("again.jpg")
    index = discover(dogs)
    assert len(index.records) == 6
    assert sorted(p.path.name for p in index.problems if p.kind == "unreadable_entry") == ["again.jpg", "loop"]
    assert main(["data", "summary", "--data-dir", str(dogs)]) == 0
    assert main(["data", "scan", "--data-dir", str(dogs)]) == 0  # warnings only
    assert "symbolic link loop" in capsys.readouterr().out


@pytest.mark.parametrize(("tag", "value"), [("width", "inf"), ("width", "1e400"), ("xmax", "nan"), ("xmin", "-inf")])
def test_non_finite_annotation_numbers_are_reported(dogs, capsys, tag, value):
    annotation = dogs / "Annotation" / "n02085620-Chihuahua" / "n02085620_0"
    annotation.write_text(re.sub(rf"<{tag}>[^<]*</{tag}>", f"<{tag}>{value}</{tag}>", annotation.read_text(), count=1))
    with pytest.raises(AnnotationError, match="not a pixel position or size"):
        read_boxes(annotation)
    assert main(["data", "scan", "--data-dir", str(dogs), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert any(p["kind"] == "bad_annotation" and "n02085620_0" in p["path"] for p in report["problems"])
    records = [r for r in discover(dogs).records if r.path.stem == "n02085620_0"]
    assert load_images_array(records, (16, 16), crop="first", progress=False).shape == (1, 16, 16, 3)  # uncropped


def test_a_box_outside_the_image_is_reported_by_the_scan_and_skipped_by_the_loader_alike(dogs):
    annotation = dogs / "Annotation" / "n02086240-Shih-Tzu" / "n02086240_1"
    write_voc(annotation, [(500, 500, 600, 600)])
    text = annotation.read_text()
    annotation.write_text(text[: text.index("<size>")] + text[text.index("</size>") + len("</size>") :])  # no size
    report = scan(dogs, progress=False)
    flagged = [p for p in report.problems if p.kind == "bad_box"]
    assert [p.path.name for p in flagged] == ["n02086240_1.jpg"] and flagged[0].severity == "error"
    records = [r for r in discover(dogs).records if r.path.stem == "n02086240_1"]
    with pytest.warns(UserWarning, match="skipped 1"):
        assert len(load_images_array(records, (16, 16), crop="first", on_error="skip", progress=False)) == 0
    write_voc(annotation, [(500, 500, 600, 600)], size=(48, 40))  # with its size: refused when read
    with pytest.raises(AnnotationError, match="lies outside the 48x40 image"):
        read_boxes(annotation)


# ----------------------------------------------------------------------------- the command line


def _one_line_error(capsys, code: int, argv: list[str]) -> str:
    assert main(argv) == code
    err = capsys.readouterr().err.strip()
    assert err.startswith("dogbreeds: error: ") and "Traceback" not in err
    return err


def test_run_and_report_errors_are_one_line(tmp_path, capsys):
    runs = tmp_path / "runs"
    broken = runs / "20260101-000000-quick"
    broken.mkdir(parents=True)
    (broken / "run.json").write_text("{not json")
    assert "not a readable run manifest" in _one_line_error(capsys, 2, ["run", "--runs", str(runs), "--from", "02"])
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert "is a file, not a run folder" in _one_line_error(capsys, 2, ["run", "--run-dir", str(a_file)])
    assert "no executed notebooks" in _one_line_error(capsys, 2, ["report", str(tmp_path)])


def test_usage_mistakes_say_what_is_expected(tmp_path, capsys):
    photo = write_image(tmp_path / "p.jpg")
    assert main(["predict", "--model", str(tmp_path), str(photo), "--threshold", "abc"]) == 2
    assert "must be a number between 0 and 1, got 'abc'" in capsys.readouterr().err
    assert main(["--help"]) == 0
    assert "after '--'" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("where", "message"), [("a file", "is a file, not a folder"), ("/proc", "cannot create or write into")]
)
def test_download_into_a_file_or_a_system_folder_is_one_line(tmp_path, capsys, where, message):
    dest = tmp_path / "file.txt" if where == "a file" else Path("/proc/dogbreeds-download")
    if where == "a file":
        dest.write_text("x")
    argv = ["data", "download", "--dest", str(dest), "--base-url", "http://127.0.0.1:9/"]  # never reached
    err = _one_line_error(capsys, 2, argv)
    assert str(dest) in err and message in err and "\n" not in err


# ----------------------------------------------------------------------------- the web app's start-up


@pytest.fixture
def no_model_loaded(monkeypatch):
    """A start-up error must come before the model (and TensorFlow) load."""
    from dogbreeds.shelter.model import ShelterModel

    def refuse(*_args, **_kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(ShelterModel, "load", refuse)
    monkeypatch.delenv("DOGBREEDS_APP_AUTH", raising=False)


@pytest.fixture
def busy_port():
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def test_app_port_out_of_range_or_in_use_is_one_line(no_model_loaded, busy_port, capsys):
    assert main(["app", "--port", "70000"]) == 2
    assert "must be a port number between 1 and 65535, got 70000" in capsys.readouterr().err
    err = _one_line_error(capsys, 2, ["app", "--port", str(busy_port)])
    assert f"port {busy_port} on 127.0.0.1 is in use" in err and "--port" in err


def test_app_on_an_address_of_another_computer_is_one_line(no_model_loaded, monkeypatch, capsys):
    monkeypatch.setenv("DOGBREEDS_APP_AUTH", "shelter:secret")
    err = _one_line_error(capsys, 2, ["app", "--host", "8.8.8.8", "--allow-network", "--port", "7860"])
    assert "--host 8.8.8.8 is not an address of this computer" in err and "empty port" not in err


def test_app_serves_the_network_only_when_allowed_with_a_login(no_model_loaded, busy_port, monkeypatch, capsys):
    err = _one_line_error(capsys, 2, ["app", "--host", "0.0.0.0"])
    assert "--allow-network" in err and "DOGBREEDS_APP_AUTH" in err
    err = _one_line_error(capsys, 2, ["app", "--host", "0.0.0.0", "--allow-network"])
    assert "--allow-network needs a login: set DOGBREEDS_APP_AUTH=user:password" in err
    monkeypatch.setenv("DOGBREEDS_APP_AUTH", "no-colon")
    assert "must be user:password" in _one_line_error(capsys, 2, ["app"])


# ----------------------------------------------------------------------------- issue 16: photos and model files


def test_a_jpeg_header_promising_more_pixels_than_its_data_is_truncated_not_grey(tmp_path):
    data = bytearray(_jpeg_bytes(64))
    frame = data.index(b"\xff\xc0")  # start of frame: precision, then height and width
    data[frame + 5 : frame + 9] = (9000).to_bytes(2, "big") * 2
    path = tmp_path / "big.jpg"
    path.write_bytes(bytes(data))
    assert Image.open(path).size == (9000, 9000)
    with pytest.raises(ImageLoadError, match="says 9000x9000 px, more than its") as caught:
        load_image(path)
    assert caught.value.kind == "corrupt"
    assert np.asarray(load_image(write_image(tmp_path / "ok.jpg", (640, 480)))).shape == (480, 640, 3)


def _jpeg_bytes(side: int) -> bytes:
    import io

    buffer = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture
def saved_model(tmp_path, shelter_model_factory):
    return shelter_model_factory().save(tmp_path / "model")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda text: "[" * 100_000 + "]" * 100_000, "nested too deeply"),
        (lambda text: re.sub(r'"temperature": [^,]+', '"temperature": NaN', text), "NaN is not a finite number"),
        (lambda text: re.sub(r'"temperature": [^,]+', '"temperature": 1e400', text), "1e400 is not a finite number"),
        (lambda text: re.sub(r'"n02085620-Chihuahua"', "1", text), r"label_ids must be breed folder names"),
        (lambda text: text.replace("n02086240-Shih-Tzu", "n02085620-Chihuahua"), "label_ids repeat"),
    ],
)
def test_a_crafted_model_json_is_refused_on_load_before_any_csv(saved_model, tmp_path, capsys, change, message):
    config = saved_model / "model.json"
    config.write_text(change(config.read_text()))
    out = tmp_path / "labels.csv"
    photo = write_image(tmp_path / "p.jpg")
    assert message in _one_line_error(capsys, 2, ["label", str(photo), "--out", str(out), "--model", str(saved_model)])
    assert not out.exists()


def test_a_nan_weight_in_the_head_is_refused_on_load(saved_model, tmp_path, capsys):
    with np.load(saved_model / "head.npz") as head:
        kernel, bias = head["kernel"].copy(), head["bias"]
    kernel[5, 1] = np.nan
    np.savez(saved_model / "head.npz", kernel=kernel, bias=bias)
    out = tmp_path / "labels.csv"
    argv = ["label", str(write_image(tmp_path / "p.jpg")), "--out", str(out), "--model", str(saved_model)]
    assert "holds NaN or infinite numbers" in _one_line_error(capsys, 2, argv)
    assert not out.exists()


def test_a_deeply_nested_bundle_json_is_one_line(tmp_path, capsys):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for name in ("model.keras", "label_map.json"):
        (bundle / name).write_text("{}")
    (bundle / "preprocessing.json").write_text('{"a":' * 100_000 + "1" + "}" * 100_000)
    argv = ["predict", "--model", str(bundle), str(write_image(tmp_path / "p.jpg"))]
    assert "nested too deeply" in _one_line_error(capsys, 2, argv)


def test_a_large_label_map_is_checked_in_linear_time():
    """200,000 breeds: a `tuple.count` per id (4e10 comparisons) took many minutes; a Counter takes under 1 s."""
    import time

    from dogbreeds.data.labels import LabelMap, LabelMapError

    label_ids = [f"n{number:08}-breed" for number in range(200_000)]
    start = time.perf_counter()
    assert len(LabelMap(tuple(label_ids))) == 200_000
    with pytest.raises(LabelMapError, match="duplicate label ids: n00000007-breed"):
        LabelMap((*label_ids, "n00000007-breed"))
    assert time.perf_counter() - start < 30  # generous for a busy machine; quadratic would be ~1000x this
