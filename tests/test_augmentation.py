"""Keras augmentation pipelines: presets, seeding, training-only behaviour and per-transform properties."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from PIL import Image

from dogbreeds.core.config import SAMPLE_DATA_DIR
from dogbreeds.inputs import preprocessing as pp
from dogbreeds.inputs.augmentation import (
    PRESETS,
    AugmentationConfig,
    AugmentationError,
    ResizedCropConfig,
    make_augmentation,
    preview_augmentations,
    resized_crop_dataset,
    resolve_config,
)


@pytest.fixture(scope="module")
def batch() -> np.ndarray:
    """Eight smooth 32 x 32 images (a gradient with a bright square), uint8."""
    rows, columns = np.mgrid[0:32, 0:32]
    base = np.stack([4 * columns, 4 * rows, 255 - 4 * columns], axis=-1).astype(np.float64)
    images = np.repeat(base[None], 8, axis=0)
    for index in range(8):
        images[index, 4 + index : 12 + index, 8:16] = 250
    return images.astype(np.uint8)


def run(layer: keras.Layer, images: np.ndarray, training: bool) -> np.ndarray:
    return keras.ops.convert_to_numpy(layer(images, training=training))


def test_standard_preset_is_the_classic_recipe() -> None:
    assert PRESETS["standard"] == AugmentationConfig(
        rotation_degrees=20, width_shift=0.2, height_shift=0.2, shear=0.2, zoom=0.2, horizontal_flip=True
    )
    layers = {layer.name: layer for layer in make_augmentation("standard", seed=1).layers}
    assert list(layers) == ["flip", "rotation", "shift", "shear", "zoom"]
    assert layers["flip"].mode == "horizontal"
    assert np.allclose(layers["rotation"].factor, (-20 / 360, 20 / 360))
    assert (layers["shift"].height_factor, layers["shift"].width_factor) == (0.2, 0.2)
    assert layers["shear"].x_factor == (-0.2, 0.2) and layers["shear"].y_factor == (-0.2, 0.2)
    assert layers["zoom"].height_factor == 0.2 and layers["zoom"].width_factor is None


@pytest.mark.parametrize("preset", PRESETS)
def test_training_output_keeps_shape_and_pixel_range(preset: str, batch: np.ndarray) -> None:
    augmented = run(make_augmentation(preset, seed=3), batch, training=True)
    assert augmented.shape == batch.shape and augmented.dtype == np.float32
    assert augmented.min() >= 0.0 and augmented.max() <= 255.0
    changed = np.abs(augmented - batch).mean()
    assert changed == 0.0 if preset == "none" else changed > 5.0


@pytest.mark.parametrize("preset", PRESETS)
def test_augmentation_is_identity_at_inference(preset: str, batch: np.ndarray) -> None:
    augmentation = make_augmentation(preset, seed=3)
    assert np.array_equal(run(augmentation, batch, training=False), batch)
    model = keras.Sequential([keras.Input((32, 32, 3)), augmentation])
    assert np.array_equal(model.predict(batch, verbose=0), batch)


def test_same_seed_repeats_and_another_seed_differs(batch: np.ndarray) -> None:
    first = run(make_augmentation("standard", seed=7), batch, training=True)
    again = run(make_augmentation("standard", seed=7), batch, training=True)
    other = run(make_augmentation("standard", seed=8), batch, training=True)
    assert np.array_equal(first, again)
    assert np.abs(first - other).mean() > 5.0


def test_horizontal_flip_mirrors_some_images_and_leaves_the_rest(batch: np.ndarray) -> None:
    images = np.concatenate([batch, batch])
    augmented = run(make_augmentation({"horizontal_flip": True}, seed=0), images, training=True)
    flipped = [np.array_equal(out, image[:, ::-1]) for out, image in zip(augmented, images)]
    kept = [np.array_equal(out, image) for out, image in zip(augmented, images)]
    assert all(f != k for f, k in zip(flipped, kept))
    assert 0 < sum(flipped) < len(images)


def test_width_shift_moves_columns_only() -> None:
    white = np.full((16, 32, 32, 3), 255, np.uint8)
    config = AugmentationConfig(width_shift=0.2, fill_mode="constant")
    augmented = run(make_augmentation(config, seed=0), white, training=True)
    black_columns = (augmented.max(axis=(1, 3)) < 128).sum(axis=1)
    black_rows = (augmented.max(axis=(2, 3)) < 128).sum(axis=1)
    assert black_columns.max() <= np.ceil(0.2 * 32) and black_columns.max() >= 2
    assert black_rows.max() == 0


def test_contrast_keeps_the_mean_and_scales_spread_within_its_range() -> None:
    rng = np.random.default_rng(0)
    images = np.clip(128 + rng.normal(0, 10, (16, 32, 32, 3)), 0, 255).astype(np.uint8)
    augmented = run(make_augmentation({"contrast": 0.3}, seed=0), images, training=True)
    ratio = augmented.std(axis=(1, 2, 3)) / images.std(axis=(1, 2, 3))
    assert np.allclose(augmented.mean(axis=(1, 2, 3)), images.mean(axis=(1, 2, 3)), atol=0.5)
    assert np.all((ratio > 0.7 - 1e-3) & (ratio < 1.3 + 1e-3)) and np.ptp(ratio) > 0.1


def test_rotation_turns_about_the_centre() -> None:
    rows, columns = np.mgrid[0:33, 0:33]
    disc = ((rows - 16) ** 2 + (columns - 16) ** 2 <= 100) * 255.0
    images = np.repeat(np.repeat(disc[None, ..., None], 3, axis=-1), 4, axis=0).astype(np.uint8)
    config = {"rotation_degrees": 90, "fill_mode": "constant"}
    augmented = run(make_augmentation(config, seed=0), images, training=True)[..., 0]
    mass = augmented.sum(axis=(1, 2))
    centre_rows = (augmented * rows).sum(axis=(1, 2)) / mass
    centre_columns = (augmented * columns).sum(axis=(1, 2)) / mass
    assert np.allclose(mass, disc.sum(), rtol=0.03), "a disc rotated about its centre keeps its area"
    assert np.allclose(centre_rows, 16, atol=0.3) and np.allclose(centre_columns, 16, atol=0.3)
    bar = np.zeros_like(images)
    bar[:, 14:19, 4:29] = 255
    turned = run(make_augmentation(config, seed=0), bar, training=True)
    assert np.all(np.abs(turned - bar).mean(axis=(1, 2, 3)) > 5), "a bar does turn"


def test_configs_from_dicts_and_bad_settings() -> None:
    assert resolve_config({"zoom": 0.1}) == AugmentationConfig(zoom=0.1)
    assert resolve_config("light") is PRESETS["light"]
    assert AugmentationConfig(fill_mode="nearest").is_identity and not PRESETS["light"].is_identity
    with pytest.raises(AugmentationError, match="'light', 'none', 'standard', 'strong'"):
        make_augmentation("heavy")
    with pytest.raises(AugmentationError, match=r"\['rotation'\].*rotation_degrees"):
        make_augmentation({"rotation": 20})
    with pytest.raises(AugmentationError, match="rotation_degrees must be in"):
        AugmentationConfig(rotation_degrees=200)
    with pytest.raises(AugmentationError, match="zoom must be below 1"):
        AugmentationConfig(zoom=1.0)
    with pytest.raises(AugmentationError, match="fill_mode"):
        AugmentationConfig(fill_mode="mirror")
    with pytest.raises(AugmentationError, match="preset name"):
        make_augmentation(20)


def test_preview_of_a_real_photo() -> None:
    path = sorted(SAMPLE_DATA_DIR.glob("Images/*/*.jpg"))[0]
    photo = pp.cv_resize(Image.open(path), 48, "crop")
    previews = preview_augmentations(photo, "standard", count=5, seed=1)
    assert previews.shape == (5, 48, 48, 3) and previews.dtype == np.uint8
    distinct = {previews[i].tobytes() for i in range(5)}
    assert len(distinct) == 5
    assert np.array_equal(previews, preview_augmentations(photo, "standard", count=5, seed=1))
    ready = make_augmentation("none")
    assert np.array_equal(preview_augmentations(photo, ready, count=2), np.stack([photo, photo]))
    with pytest.raises(AugmentationError, match="count"):
        preview_augmentations(photo, count=0)
    with pytest.raises(AugmentationError, match="one image"):
        preview_augmentations(previews)


def test_resized_crops_are_seeded_vary_by_epoch_and_keep_pixels_in_range(batch: np.ndarray) -> None:
    labels = np.arange(len(batch))
    dataset = resized_crop_dataset(batch, labels, (16, 16), batch_size=4, seed=3)
    first, second = list(dataset.as_numpy_iterator()), list(dataset.as_numpy_iterator())
    again = list(resized_crop_dataset(batch, labels, (16, 16), batch_size=4, seed=3).as_numpy_iterator())
    assert len(first) == 2 and first[0][0].shape == (4, 16, 16, 3) and first[0][0].dtype == np.float32
    assert all(0 <= images.min() and images.max() <= 255 for images, _ in first)
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(first, again))
    assert not np.array_equal(first[0][0], second[0][0])  # a new epoch draws new crops (and a new order)
    assert sorted(np.concatenate([y for _, y in first])) == list(labels)


def test_resized_crop_of_the_whole_image_is_a_resize_and_small_areas_zoom_in() -> None:
    rows, columns = np.mgrid[0:32, 0:32]
    image = np.stack([8 * columns, 8 * rows, np.full_like(rows, 100)], axis=-1).astype(np.uint8)
    whole = ResizedCropConfig(area=(1.0, 1.0), aspect_ratio=(1.0, 1.0), horizontal_flip=False, color_jitter=0.0)
    (crop,), _ = next(resized_crop_dataset(image[None], np.zeros(1), (32, 32), 1, whole).as_numpy_iterator())
    np.testing.assert_allclose(crop, image, atol=1e-3)
    small = ResizedCropConfig(area=(0.25, 0.25), aspect_ratio=(1.0, 1.0), horizontal_flip=False, color_jitter=0.0)
    (crop,), _ = next(resized_crop_dataset(image[None], np.zeros(1), (32, 32), 1, small).as_numpy_iterator())
    # a quarter of the area is a 16 x 16 window: 16 columns span 15 * 8 of the image's 31 * 8 red values
    assert np.ptp(crop[..., 0]) <= 15 * 8 + 1e-3 and np.ptp(crop[..., 1]) <= 15 * 8 + 1e-3
    assert np.ptp(crop[..., 0]) >= 14 * 8 and np.allclose(crop[..., 2], 100)


def test_resized_crop_settings_are_checked(batch: np.ndarray) -> None:
    with pytest.raises(AugmentationError, match="area"):
        ResizedCropConfig(area=(0.0, 1.0))
    with pytest.raises(AugmentationError, match="aspect_ratio"):
        ResizedCropConfig(aspect_ratio=(2.0, 1.0))
    with pytest.raises(AugmentationError, match="color_jitter"):
        ResizedCropConfig(color_jitter=1.0)
    with pytest.raises(AugmentationError, match="as many labels"):
        resized_crop_dataset(batch, np.arange(3), (16, 16), 4)
    with pytest.raises(AugmentationError, match="height, width, 3"):
        resized_crop_dataset(batch[..., 0], np.arange(8), (16, 16), 4)
    assert ResizedCropConfig().to_dict() == {
        "area": [0.35, 1.0],
        "aspect_ratio": [0.75, 4 / 3],
        "horizontal_flip": True,
        "color_jitter": 0.2,
    }
