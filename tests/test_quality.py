"""Tests of dogbreeds.data.quality: the scan finds every kind of bad file, and only those."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import write_image
from PIL import Image

from dogbreeds.data.folder import DataDirError, discover
from dogbreeds.data.quality import ScanReport, check_image, scan

CHIHUAHUA = "n02085620-Chihuahua"
SHIH_TZU = "n02086240-Shih-Tzu"


@pytest.fixture
def messy_dir(make_dogs_dir):
    """A synthetic folder (18 good images) plus one file of each bad kind."""
    root = make_dogs_dir(annotations=True)
    images = root / "Images" / CHIHUAHUA
    (images / "corrupt.jpg").write_bytes(b"this is not a JPEG")
    truncated = write_image(images / "truncated.jpg", (50, 50)).read_bytes()
    (images / "truncated.jpg").write_bytes(truncated[: len(truncated) // 2])
    write_image(images / "png_named.jpg", image_format="PNG")
    Image.new("RGBA", (20, 20), (0, 0, 0, 0)).save(images / "alpha.png")
    write_image(images / "gray.jpg", mode="L")
    Image.new("CMYK", (20, 20), (0, 255, 255, 0)).save(images / "cmyk.jpg")
    Image.new("RGB", (1, 1)).save(images / "pixel.jpg")
    write_image(root / "Images" / SHIH_TZU / "huge.png", (64, 64), image_format="PNG")
    (root / "Images" / "n02096051-Airedale").mkdir()
    (root / "Annotation" / SHIH_TZU / "n02086240_0").write_text("<annotation><object><bndbox>")
    return root


def test_scan_finds_each_kind(messy_dir, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)  # huge.png (4,096 px) becomes a bomb
    report = scan(messy_dir, progress=False)
    found = {(problem.path.name, problem.kind, problem.severity) for problem in report.problems}
    expected_errors = {
        ("corrupt.jpg", "not_an_image"),
        ("truncated.jpg", "corrupt"),
        ("pixel.jpg", "too_small"),
        ("huge.png", "decompression_bomb"),
    }
    assert {(name, kind) for name, kind, severity in found if severity == "error"} == expected_errors
    expected_warnings = {
        ("png_named.jpg", "format_mismatch"),
        ("alpha.png", "color_mode"),
        ("gray.jpg", "color_mode"),
        ("cmyk.jpg", "color_mode"),
        ("n02096051-Airedale", "empty_breed_folder"),
        ("n02086240_0", "bad_annotation"),
    }
    # The 8 files added have no annotation: discovery reports them too.
    missing = {
        (name, "missing_annotation")
        for name in (
            "corrupt.jpg",
            "truncated.jpg",
            "png_named.jpg",
            "alpha.png",
            "gray.jpg",
            "cmyk.jpg",
            "pixel.jpg",
            "huge.png",
        )
    }
    assert {(name, kind) for name, kind, severity in found if severity == "warning"} == expected_warnings | missing
    assert (report.images_checked, report.annotations_checked) == (26, 18)
    assert report.counts()["missing_annotation"] == 8 and report.counts()["color_mode"] == 3
    assert {path.name for path in report.unusable_paths} == {name for name, _ in expected_errors}
    usable = report.usable(discover(messy_dir).records)
    assert len(usable) == 22 and not {record.path.name for record in usable} & {"corrupt.jpg", "pixel.jpg"}


def test_clean_folder_has_no_problems(make_dogs_dir):
    report = scan(make_dogs_dir(), progress=False)
    assert report.problems == () and report.images_checked == 18
    assert report.to_text().startswith("No problems: 18 images and 0 annotations checked (quick")


def test_quick_and_deep_scans_agree_on_the_bundled_sample(sample_dir):
    quick, deep = scan(sample_dir, progress=False), scan(sample_dir, deep=True, workers=1, progress=False)
    assert quick.problems == deep.problems == () and quick.images_checked == deep.images_checked == 150
    assert deep.deep and "deep: every image decoded" in deep.to_text()


def test_check_image_details(tmp_path):
    assert check_image(write_image(tmp_path / "ok.jpg")) == []
    [mismatch] = check_image(write_image(tmp_path / "p.jpg", image_format="PNG"))
    assert mismatch.kind == "format_mismatch" and "PNG data in a .jpg file" in mismatch.detail
    Image.new("CMYK", (20, 20)).save(tmp_path / "c.jpg")
    [mode] = check_image(tmp_path / "c.jpg")
    assert mode.detail == "CMYK colors: converted to RGB when loaded" and mode.severity == "warning"


def test_jpeg_with_trailing_bytes_is_fine_but_truncated_is_not(tmp_path):
    path = write_image(tmp_path / "t.jpg", (64, 64))
    data = path.read_bytes()
    path.write_bytes(data + b"camera maker's trailing bytes")
    assert check_image(path) == []
    path.write_bytes(data[:-200])
    [problem] = check_image(path)
    assert (problem.kind, problem.severity) == ("corrupt", "error")


def test_corrupt_png_is_caught_by_verify(tmp_path):
    path = write_image(tmp_path / "p.png", (64, 64), image_format="PNG")
    data = bytearray(path.read_bytes())
    data[60] ^= 0xFF  # flip a byte of the image data: the chunk checksum no longer matches
    path.write_bytes(bytes(data))
    assert [problem.kind for problem in check_image(path)] == ["corrupt"]


def test_report_rendering_and_json(messy_dir):
    report = scan(messy_dir, progress=False)
    text = report.to_text(max_rows=3)
    assert text.startswith("3 error(s) (files skipped when loading), 14 warning(s) (files used): 26 images")
    assert "  missing_annotation           8" in text
    table = text.split("\n\n")[-1].splitlines()
    assert table[0].split() == ["severity", "kind", "file", "detail"]
    assert table[1].split()[:3] == ["error", "corrupt", f"Images/{CHIHUAHUA}/truncated.jpg"]
    assert table[-1] == "... and 14 more (show all with --max-rows 0, or use --json)"
    assert len(report.to_text(max_rows=0).split("\n\n")[-1].splitlines()) == 18
    data = json.loads(json.dumps(report.to_dict()))
    assert (data["errors"], data["warnings"], len(data["problems"])) == (3, 14, 17)


def test_report_properties():
    report = ScanReport(root=Path("/data"), images_checked=0, annotations_checked=0, problems=())
    assert report.errors == () and report.warnings == () and report.counts() == {}


def test_scan_of_wrong_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DataDirError, match="does not exist"):
        scan(tmp_path / "nowhere", progress=False)


@pytest.mark.shared_data
def test_scan_of_shared_photos10_is_clean(photos10_dir):
    report = scan(photos10_dir, progress=False)
    assert report.images_checked == 600 and report.errors == ()
