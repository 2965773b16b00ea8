"""Tests of dogbreeds.data.images: safe loading of every kind of odd or broken file."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import write_image, write_voc
from PIL import Image

from dogbreeds.data.boxes import Box
from dogbreeds.data.folder import ImageRecord, ProblemLog, discover
from dogbreeds.data.images import ImageLoadError, load_image, load_images_array, load_resized, open_image, to_rgb


def test_rgb_jpeg(tmp_path):
    image = load_image(write_image(tmp_path / "a.jpg", (48, 40), (200, 120, 40)))
    assert image.mode == "RGB" and image.size == (48, 40)
    assert np.abs(np.asarray(image, dtype=int).mean(axis=(0, 1)) - (200, 120, 40)).max() < 8


def test_png_named_jpg_is_read_by_content(tmp_path):
    path = write_image(tmp_path / "n02105855_2933.jpg", image_format="PNG")
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert load_image(path).size == (48, 40)


def test_rgba_png_is_composited_on_white(tmp_path):
    pixels = np.zeros((10, 12, 4), dtype=np.uint8)
    pixels[:, :6] = (255, 0, 0, 255)  # opaque red left half, fully transparent right half
    Image.fromarray(pixels, "RGBA").save(tmp_path / "a.png")
    array = np.asarray(load_image(tmp_path / "a.png"))
    assert tuple(array[0, 0]) == (255, 0, 0) and tuple(array[0, 11]) == (255, 255, 255)


def test_palette_with_transparency_is_composited_on_white(tmp_path):
    image = Image.new("P", (10, 10), 0)
    image.putpalette([0, 0, 0, 0, 255, 0])
    image.putpixel((0, 0), 1)
    image.save(tmp_path / "p.png", transparency=0)
    array = np.asarray(load_image(tmp_path / "p.png"))
    assert tuple(array[0, 0]) == (0, 255, 0) and tuple(array[5, 5]) == (255, 255, 255)


def test_grayscale_becomes_three_equal_channels(tmp_path):
    array = np.asarray(load_image(write_image(tmp_path / "g.jpg", mode="L")))
    assert array.shape == (40, 48, 3)
    assert (array[..., 0] == array[..., 1]).all() and (array[..., 1] == array[..., 2]).all()


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(tmp_path / "c.jpg")  # pure red in CMYK
    with Image.open(tmp_path / "c.jpg") as raw:
        assert raw.mode == "CMYK"
    red, green, blue = np.asarray(load_image(tmp_path / "c.jpg"), dtype=int)[8, 8]
    assert red > 230 and green < 25 and blue < 25


def test_sixteen_bit_grayscale_is_scaled_not_clipped(tmp_path):
    Image.fromarray(np.full((10, 10), 32896, dtype=np.uint16)).save(tmp_path / "16.png")  # half of 65535
    assert tuple(np.asarray(load_image(tmp_path / "16.png"))[0, 0]) == (128, 128, 128)


def test_to_rgb_returns_a_copy():
    image = Image.new("RGB", (9, 9))
    assert to_rgb(image) is not image and to_rgb(image).mode == "RGB"


@pytest.mark.parametrize(
    ("content", "kind", "reason"),
    [
        (b"", "not_an_image", "empty file"),
        (b"hello, I am a text file named like a photo\n", "not_an_image", "not an image"),
        (bytes(range(256)) * 8, "not_an_image", "not an image"),
    ],
)
def test_non_images_are_rejected(tmp_path, content, kind, reason):
    path = tmp_path / "x.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageLoadError, match=reason) as caught:
        load_image(path)
    assert caught.value.kind == kind and caught.value.path == path
    problem = caught.value.to_problem()
    assert (problem.kind, problem.severity) == (kind, "error")


def test_truncated_jpeg_is_rejected(tmp_path):
    path = write_image(tmp_path / "t.jpg", (64, 64))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match="truncated or corrupt") as caught:
        load_image(path)
    assert caught.value.kind == "corrupt"


def test_corrupt_header_is_rejected(tmp_path):
    path = write_image(tmp_path / "h.jpg", (64, 64))
    data = bytearray(path.read_bytes())
    data[4:40] = b"\xff" * 36  # wreck the segments right after the JPEG signature
    path.write_bytes(bytes(data))
    with pytest.raises(ImageLoadError) as caught:
        load_image(path)
    assert caught.value.kind == "corrupt" and "corrupt image header" in caught.value.reason


@pytest.mark.parametrize("size", [(1, 1), (7, 100), (100, 7)])
def test_too_small_images_are_rejected(tmp_path, size):
    path = write_image(tmp_path / "s.png", size, image_format="PNG")
    with pytest.raises(ImageLoadError, match=rf"too small: {size[0]}x{size[1]} px") as caught:
        load_image(path)
    assert caught.value.kind == "too_small"
    assert load_image(path, min_side=1).size == size


@pytest.mark.parametrize("side", [40, 64])  # 1,600 px: Pillow's warning; 4,096 px: Pillow's error
def test_decompression_bombs_are_rejected(tmp_path, monkeypatch, side):
    path = write_image(tmp_path / "bomb.png", (side, side), image_format="PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ImageLoadError, match="decompression bomb refused") as caught:
        load_image(path)
    assert caught.value.kind == "decompression_bomb"


def test_missing_file_is_unreadable(tmp_path):
    with pytest.raises(ImageLoadError, match="cannot read the file") as caught:
        open_image(tmp_path / "absent.jpg")
    assert caught.value.kind == "unreadable"


def test_open_image_reads_the_header_only(tmp_path):
    with open_image(write_image(tmp_path / "a.jpg")) as image:
        assert image.size == (48, 40) and image.format == "JPEG"


def test_load_resized_crops_then_resizes(tmp_path):
    pixels = np.zeros((40, 60, 3), dtype=np.uint8)
    pixels[:, 30:] = (0, 0, 255)  # blue right half
    Image.fromarray(pixels).save(tmp_path / "half.png")
    whole = load_resized(tmp_path / "half.png", (16, 24))
    assert whole.shape == (16, 24, 3) and whole.dtype == np.uint8
    right = load_resized(tmp_path / "half.png", (16, 24), Box(32, 0, 60, 40))
    assert (right[..., 2] == 255).all() and (right[..., 0] == 0).all()
    with pytest.raises(ImageLoadError, match="bounding box unusable") as caught:
        load_resized(tmp_path / "half.png", (16, 24), Box(100, 100, 120, 120))
    assert caught.value.kind == "bad_box"


def test_load_images_array_from_records_and_paths(make_dogs_dir):
    index = discover(make_dogs_dir(size=(40, 30)))
    array = load_images_array(index.records[:5], size=(20, 24), progress=False)
    assert array.shape == (5, 20, 24, 3) and array.dtype == np.uint8
    again = load_images_array([record.path for record in index.records[:5]], size=(20, 24), progress=False)
    assert np.array_equal(array, again)
    assert np.array_equal(array[2], load_resized(index.records[2].path, (20, 24)))


def test_load_images_array_crops_to_boxes(tmp_path):
    pixels = np.zeros((40, 48, 3), dtype=np.uint8)
    pixels[:20, :24] = (255, 255, 255)  # white top-left quarter
    Image.fromarray(pixels).save(tmp_path / "q.png")
    annotation = write_voc(tmp_path / "q", [(0, 0, 24, 20), (0, 0, 48, 40)])
    record = ImageRecord(tmp_path / "q.png", "n02085620-Chihuahua", annotation_path=annotation)
    first, largest = (load_images_array([record], (8, 8), crop=crop, progress=False) for crop in ("first", "largest"))
    assert first.min() == 255
    assert largest.mean() == pytest.approx(255 / 4, abs=8)


def test_load_images_array_skips_or_raises_on_bad_files(make_dogs_dir):
    index = discover(make_dogs_dir())
    records = list(index.records[:4])
    records[1].path.write_bytes(b"not an image")
    with pytest.raises(ImageLoadError, match="not an image"):
        load_images_array(records, (16, 16), progress=False)
    log = ProblemLog()
    with pytest.warns(UserWarning, match="skipped 1 unreadable image"):
        array = load_images_array(records, (16, 16), on_error="skip", problems=log, progress=False)
    assert array.shape == (3, 16, 16, 3)
    assert np.array_equal(array[1], load_resized(records[2].path, (16, 16)))
    assert [(problem.path, problem.kind) for problem in log.skipped] == [(records[1].path, "not_an_image")]
    with pytest.raises(ValueError, match="on_error"):
        load_images_array(records, (16, 16), on_error="ignore")


def test_load_images_array_warns_on_malformed_annotation(tmp_path):
    path = write_image(tmp_path / "a.jpg")
    (tmp_path / "a").write_text("<annotation><object>")
    record = ImageRecord(path, "n02085620-Chihuahua", annotation_path=tmp_path / "a")
    log = ProblemLog()
    with pytest.warns(UserWarning, match="1 unreadable annotation"):
        array = load_images_array([record], (10, 12), crop="first", problems=log, progress=False)
    assert np.array_equal(array[0], load_resized(path, (10, 12)))
    assert log.counts() == {"bad_annotation": 1}


def test_bundled_sample_photos_all_load(sample_dir):
    records = discover(sample_dir).records[::15]
    array = load_images_array(records, (32, 32), progress=False)
    assert array.shape == (10, 32, 32, 3) and 40 < array.mean() < 215


def test_folder_named_like_an_image_is_unreadable(tmp_path):
    (tmp_path / "dir.jpg").mkdir()
    with pytest.raises(ImageLoadError, match="not a regular file \\(a folder\\)") as caught:
        load_image(tmp_path / "dir.jpg")
    assert caught.value.kind == "unreadable"
