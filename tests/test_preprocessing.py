"""Pillow and OpenCV preprocessing: shapes, dtypes, and one known property per operation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from dogbreeds.core.config import SAMPLE_DATA_DIR
from dogbreeds.inputs import preprocessing as pp

RESIZERS = {"pillow": pp.pil_resize, "opencv": pp.cv_resize}


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """One real photo of the bundled sample (uncropped, not square)."""
    path = sorted(SAMPLE_DATA_DIR.glob("Images/*/*.jpg"))[0]
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture
def random_image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (32, 40, 3), dtype=np.uint8)


@pytest.fixture
def clean_image() -> np.ndarray:
    """A smooth, slightly coloured gradient, 48 x 64."""
    rows, columns = np.mgrid[0:48, 0:64]
    base = 60.0 + 120.0 * columns / 64 + 40.0 * rows / 48
    return np.stack([base + 10, base, base - 10], axis=-1).astype(np.uint8)


@pytest.fixture
def low_contrast() -> np.ndarray:
    """A dull, low-saturation image: luminance within about 100..145 of 0..255."""
    rows, columns = np.mgrid[0:48, 0:64]
    base = 100.0 + 30.0 * columns / 64 + 10.0 * rows / 48
    noise = np.random.default_rng(1).normal(0.0, 3.0, (48, 64, 3))
    return np.clip(np.stack([base + 8, base, base - 6], axis=-1) + noise, 0, 255).astype(np.uint8)


def luminance_cdf_deviation(channel: np.ndarray) -> float:
    """Largest gap between a channel's CDF and that of a flat histogram over 0..255."""
    cdf = np.cumsum(np.bincount(channel.ravel(), minlength=256)) / channel.size
    return float(np.abs(cdf - np.arange(1, 257) / 256).max())


# --------------------------------------------------------------------------- conversions


def test_to_rgb_array_converts_pil_modes_and_passes_arrays(random_image: np.ndarray) -> None:
    gray = Image.fromarray(random_image[..., 0])
    converted = pp.to_rgb_array(gray)
    assert converted.shape == (32, 40, 3) and converted.dtype == np.uint8
    assert np.array_equal(converted[..., 0], converted[..., 2])
    assert np.array_equal(pp.to_rgb_array(random_image), random_image)
    assert np.array_equal(pp.to_rgb_array(Image.fromarray(random_image)), random_image)


@pytest.mark.parametrize(
    "bad",
    [np.zeros((8, 8, 3), np.float32), np.zeros((8, 8), np.uint8), np.zeros((8, 8, 4), np.uint8), [[0, 1]]],
    ids=["float", "2d", "rgba-array", "list"],
)
def test_to_rgb_array_rejects_other_inputs_with_advice(bad: object) -> None:
    with pytest.raises(pp.InvalidImageError, match="Expected"):
        pp.to_rgb_array(bad)


SHAPE_KEEPING = {
    "grayscale": pp.pil_grayscale,
    "autocontrast": pp.pil_autocontrast,
    "equalize": pp.pil_equalize,
    "equalize_luma": pp.cv_equalize_luma,
    "clahe": pp.cv_clahe,
    "nl_means": pp.cv_denoise_nl_means,
    "bilateral": pp.cv_bilateral_filter,
    "gaussian": pp.cv_gaussian_blur,
}


@pytest.mark.parametrize("name", SHAPE_KEEPING)
def test_operations_return_new_uint8_rgb_of_same_shape(name: str, random_image: np.ndarray) -> None:
    original = random_image.copy()
    for given in (random_image, Image.fromarray(random_image)):
        result = SHAPE_KEEPING[name](given)
        assert isinstance(result, np.ndarray)
        assert result.dtype == np.uint8 and result.shape == random_image.shape
    assert np.array_equal(random_image, original), "the input was modified"


# --------------------------------------------------------------------------- resizing


@pytest.mark.parametrize("backend", RESIZERS)
@pytest.mark.parametrize("mode", pp.RESIZE_MODES)
@pytest.mark.parametrize("size", [(40, 56), 24, (64, 32)])
def test_resize_gives_the_requested_height_and_width(backend: str, mode: str, size, photo: np.ndarray) -> None:
    result = RESIZERS[backend](photo, size, mode)
    expected = (size, size) if isinstance(size, int) else size
    assert result.shape == (*expected, 3) and result.dtype == np.uint8


@pytest.mark.parametrize("backend", RESIZERS)
def test_pad_keeps_aspect_and_pads_centred_with_fill(backend: str) -> None:
    wide = np.full((20, 60, 3), 200, np.uint8)
    result = RESIZERS[backend](wide, 30, "pad", fill=(255, 0, 255))
    is_fill = np.all(result == (255, 0, 255), axis=-1)
    # 20 x 60 fits into 30 x 30 as 10 x 30, centred: 10 rows of fill above and below
    assert is_fill[:10].all() and is_fill[20:].all()
    assert np.all(result[10:20] == 200)


@pytest.mark.parametrize("backend", RESIZERS)
def test_crop_keeps_the_centre(backend: str) -> None:
    thirds = np.zeros((20, 60, 3), np.uint8)
    thirds[:, :20, 0], thirds[:, 20:40, 1], thirds[:, 40:, 2] = 255, 255, 255
    result = RESIZERS[backend](thirds, 10, "crop")
    assert np.all(result == (0, 255, 0))


@pytest.mark.parametrize("backend", RESIZERS)
def test_stretch_changes_aspect(backend: str) -> None:
    halves = np.zeros((20, 60, 3), np.uint8)
    halves[:, 30:] = 255
    result = RESIZERS[backend](halves, 10, "stretch")
    assert result[:, :4].max() == 0 and result[:, 6:].min() == 255


@pytest.mark.parametrize("backend", RESIZERS)
@pytest.mark.parametrize("mode", pp.RESIZE_MODES)
def test_resize_to_the_same_size_is_identity(backend: str, mode: str, random_image: np.ndarray) -> None:
    assert np.array_equal(RESIZERS[backend](random_image, (32, 40), mode), random_image)


def test_pad_of_same_aspect_ratio_adds_no_border() -> None:
    image = np.full((40, 80, 3), 90, np.uint8)
    assert np.all(pp.cv_resize(image, (20, 40), "pad", fill=(255, 255, 255)) == 90)


@pytest.mark.parametrize("mode", pp.RESIZE_MODES)
def test_pillow_and_opencv_resizes_agree(mode: str, photo: np.ndarray, clean_image: np.ndarray) -> None:
    down = np.abs(pp.pil_resize(photo, 64, mode).astype(int) - pp.cv_resize(photo, 64, mode)).mean()
    up = np.abs(pp.pil_resize(clean_image, (96, 128), mode).astype(int) - pp.cv_resize(clean_image, (96, 128), mode))
    assert down < 4.0
    assert up.mean() < 1.0


def test_opencv_shrinks_with_area_averaging() -> None:
    checkerboard = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)
    image = np.repeat(checkerboard[..., None], 3, axis=-1)
    area = pp.cv_resize(image, 32, "stretch")
    nearest = pp.cv_resize(image, 32, "stretch", interpolation=cv2.INTER_NEAREST)
    assert np.all(np.abs(area.astype(int) - 128) <= 1), "2x2 averages of a checkerboard are mid-grey"
    assert set(np.unique(nearest)) <= {0, 255}, "nearest neighbour aliases instead"


def test_resize_rejects_bad_mode_and_size(random_image: np.ndarray) -> None:
    with pytest.raises(pp.PreprocessingError, match="resize mode"):
        pp.pil_resize(random_image, 16, "squash")
    with pytest.raises(pp.PreprocessingError, match="size"):
        pp.cv_resize(random_image, (0, 16))
    with pytest.raises(pp.PreprocessingError, match="fill"):
        pp.cv_resize(random_image, 64, fill=(0, 0))


# --------------------------------------------------------------------------- Pillow colour


def test_grayscale_is_itu_601_luma_in_three_channels(random_image: np.ndarray) -> None:
    result = pp.pil_grayscale(random_image).astype(float)
    luma = random_image.astype(float) @ np.array([0.299, 0.587, 0.114])
    assert np.array_equal(result[..., 0], result[..., 1]) and np.array_equal(result[..., 1], result[..., 2])
    assert np.abs(result[..., 0] - luma).max() <= 1.0


def test_autocontrast_stretches_each_channel_to_full_range(low_contrast: np.ndarray) -> None:
    result = pp.pil_autocontrast(low_contrast)
    assert np.all(low_contrast.max(axis=(0, 1)) - low_contrast.min(axis=(0, 1)) < 80)
    assert np.all(result.min(axis=(0, 1)) == 0) and np.all(result.max(axis=(0, 1)) == 255)
    with pytest.raises(pp.PreprocessingError, match="cutoff"):
        pp.pil_autocontrast(low_contrast, cutoff=60)


def test_pillow_equalize_flattens_each_channel(low_contrast: np.ndarray) -> None:
    result = pp.pil_equalize(low_contrast)
    for channel in range(3):
        assert luminance_cdf_deviation(low_contrast[..., channel]) > 0.3
        assert luminance_cdf_deviation(result[..., channel]) < 0.05


# --------------------------------------------------------------------------- OpenCV luminance


@pytest.mark.parametrize("color_space", ["ycrcb", "lab"])
def test_luma_equalization_flattens_luminance_and_keeps_chroma(color_space: str, low_contrast: np.ndarray) -> None:
    forward = {"ycrcb": cv2.COLOR_RGB2YCrCb, "lab": cv2.COLOR_RGB2LAB}[color_space]
    result = pp.cv_equalize_luma(low_contrast, color_space)
    before, after = cv2.cvtColor(low_contrast, forward), cv2.cvtColor(result, forward)
    assert luminance_cdf_deviation(before[..., 0]) > 0.3
    assert luminance_cdf_deviation(after[..., 0]) < 0.05
    chroma_change = np.abs(before[..., 1:].astype(int) - after[..., 1:]).max(axis=-1)
    # only where the new luminance nears black or white can RGB clipping move the chroma
    mid_tones = (after[..., 0] >= 16) & (after[..., 0] <= 239)
    assert mid_tones.mean() > 0.8
    assert chroma_change[mid_tones].max() <= 2 and chroma_change.mean() < 0.5


def test_luma_equalization_differs_from_per_channel_equalization(low_contrast: np.ndarray) -> None:
    hue_shift = np.abs(pp.pil_equalize(low_contrast).astype(int) - pp.cv_equalize_luma(low_contrast)).mean()
    assert hue_shift > 5.0
    with pytest.raises(pp.PreprocessingError, match="colour space"):
        pp.cv_equalize_luma(low_contrast, "hsv")


def test_clahe_contrast_gain_is_bounded_by_the_clip_limit(low_contrast: np.ndarray) -> None:
    def luma_range(image: np.ndarray) -> int:
        return int(np.ptp(cv2.cvtColor(image, cv2.COLOR_RGB2LAB)[..., 0]))

    before = luma_range(low_contrast)
    equalized = luma_range(pp.cv_equalize_luma(low_contrast, "lab"))
    gains = []
    for clip_limit in (1.0, 2.0, 4.0):
        result = pp.cv_clahe(low_contrast, clip_limit, tile_grid_size=(1, 1))
        gains.append(luma_range(result) / before)
        # each luminance level can be spread over at most (clip_limit + 1) output levels
        assert gains[-1] <= clip_limit + 1
    assert gains == sorted(gains) and gains[0] > 1.2
    assert luma_range(pp.cv_clahe(low_contrast, 2.0, (1, 1))) < equalized


def test_clahe_with_tiles_keeps_chroma_and_range(low_contrast: np.ndarray, photo: np.ndarray) -> None:
    result = pp.cv_clahe(low_contrast, 3.0, tile_grid_size=(4, 4))
    before = cv2.cvtColor(low_contrast, cv2.COLOR_RGB2LAB)[..., 1:].astype(int)
    assert np.abs(cv2.cvtColor(result, cv2.COLOR_RGB2LAB)[..., 1:] - before).max() <= 2
    on_photo = pp.cv_clahe(photo)
    assert on_photo.shape == photo.shape and on_photo.dtype == np.uint8
    with pytest.raises(pp.PreprocessingError, match="clip_limit"):
        pp.cv_clahe(photo, clip_limit=0)
    with pytest.raises(pp.PreprocessingError, match="tile_grid_size"):
        pp.cv_clahe(photo, tile_grid_size=(0, 8))


# --------------------------------------------------------------------------- OpenCV denoising


@pytest.mark.parametrize("denoise", [pp.cv_denoise_nl_means, pp.cv_bilateral_filter, pp.cv_gaussian_blur])
def test_denoising_brings_a_noisy_image_closer_to_the_clean_one(denoise, clean_image: np.ndarray) -> None:
    noise = np.random.default_rng(2).normal(0.0, 12.0, clean_image.shape)
    noisy = np.clip(clean_image + noise, 0, 255).astype(np.uint8)
    error_before = np.mean((noisy.astype(float) - clean_image) ** 2)
    error_after = np.mean((denoise(noisy).astype(float) - clean_image) ** 2)
    assert error_after < 0.5 * error_before


def test_nl_means_denoising_keeps_channel_order() -> None:
    red = np.zeros((24, 24, 3), np.uint8)
    red[..., 0] = 200
    assert np.array_equal(pp.cv_denoise_nl_means(red), red)


def test_gaussian_blur_needs_an_odd_kernel(clean_image: np.ndarray) -> None:
    with pytest.raises(pp.PreprocessingError, match="odd"):
        pp.cv_gaussian_blur(clean_image, kernel_size=4)


# --------------------------------------------------------------------------- batches and names


def test_map_images_stacks_photos_of_different_sizes(photo: np.ndarray) -> None:
    photos = [photo, photo[:100, :150], Image.fromarray(photo[50:, 20:])]
    batch = pp.map_images(photos, lambda image: pp.cv_resize(image, 24, "crop"), progress=False)
    assert batch.shape == (3, 24, 24, 3) and batch.dtype == np.uint8
    assert np.array_equal(batch[0], pp.cv_resize(photo, 24, "crop"))


def test_map_images_reports_shape_mismatch_and_empty_input(photo: np.ndarray) -> None:
    with pytest.raises(pp.PreprocessingError, match="one size"):
        pp.map_images([photo, photo[:100]], pp.pil_grayscale, progress=False)
    with pytest.raises(pp.InvalidImageError, match="No images"):
        pp.map_images([], pp.pil_grayscale, progress=False)
    with pytest.raises(pp.InvalidImageError, match="batch"):
        pp.map_images(photo, pp.pil_grayscale, progress=False)


@pytest.mark.parametrize("name", pp.PREPROCESSORS)
def test_every_named_preprocessor_keeps_the_batch_shape(name: str, random_image: np.ndarray) -> None:
    batch = np.stack([random_image, random_image[::-1]])
    result = pp.apply_named(batch, name, progress=False)
    assert result.shape == batch.shape and result.dtype == np.uint8


def test_named_preprocessing_matches_the_functions(low_contrast: np.ndarray) -> None:
    batch = np.stack([low_contrast, low_contrast[:, ::-1]])
    assert np.array_equal(pp.apply_named(batch, "none", progress=False), batch)
    assert np.array_equal(pp.apply_named(batch, "equalize_luma", progress=False)[1], pp.cv_equalize_luma(batch[1]))
    chained = pp.apply_named(batch, "equalize_luma + denoise_gaussian", progress=False)
    assert np.array_equal(chained[0], pp.cv_gaussian_blur(pp.cv_equalize_luma(low_contrast)))


def test_unknown_preprocessing_name_lists_the_choices(random_image: np.ndarray) -> None:
    with pytest.raises(pp.UnknownPreprocessorError, match="'sharpen'.*clahe"):
        pp.apply_named(random_image[None], "clahe+sharpen")
