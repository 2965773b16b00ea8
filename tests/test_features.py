"""Feature caching: hits, misses on any changed input, flip features, heads trained on features."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import tensorflow as tf

from dogbreeds.core.config import SAMPLE_DATA_DIR
from dogbreeds.data.folder import discover
from dogbreeds.data.labels import LabelMap
from dogbreeds.models import features as features_module
from dogbreeds.models.builders import build_feature_head
from dogbreeds.models.features import (
    FeatureCacheError,
    backbone_features,
    cached_features,
    files_fingerprint,
)
from dogbreeds.models.training import set_seed

COLOURS = np.array([[220, 30, 30], [30, 220, 30], [30, 30, 220], [200, 200, 30]], dtype=np.float32)


class SpyExtractor:
    """Per-image channel means of the left and right halves (6 features); counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, images: tf.Tensor) -> np.ndarray:
        self.calls += 1
        images = np.asarray(images)
        half = images.shape[2] // 2
        return np.concatenate([images[:, :, :half].mean(axis=(1, 2)), images[:, :, half:].mean(axis=(1, 2))], axis=1)


@pytest.fixture
def toy_data(tmp_path):
    """40 tiny images in 4 colour classes, left half darker than the right, each stored as a file."""
    rng = np.random.default_rng(0)
    labels = np.arange(40, dtype=np.int32) % 4
    images = COLOURS[labels][:, None, None, :] + rng.normal(0, 25, (40, 8, 8, 3)).astype(np.float32)
    images[:, :, :4] *= 0.5
    images = np.clip(images, 0, 255).astype(np.float32)
    folder = tmp_path / "images"
    folder.mkdir()
    files = []
    for index, image in enumerate(images):
        path = folder / f"{index:03d}.npy"
        np.save(path, image)
        files.append(path)
    return images, labels, files


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def run(extractor, images, labels, files, cache_dir, **overrides):
    settings = dict(backbone="toy", files=files, labels=labels, image_size=(8, 8), crop=None, flip=False)
    settings.update(overrides)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)
    return cached_features(extractor, dataset, cache_dir=cache_dir, **settings)


def test_second_call_is_a_cache_hit(toy_data, tmp_path):
    images, labels, files = toy_data
    spy = SpyExtractor()
    first = run(spy, images, labels, files, tmp_path / "cache")
    assert not first.from_cache and spy.calls == 3  # 40 images in batches of 16
    assert first.features.shape == (40, 6) and first.features.dtype == np.float32
    np.testing.assert_array_equal(first.labels, labels)
    assert first.path.exists() and first.path.suffix == ".npz"
    second = run(spy, images, labels, files, tmp_path / "cache")
    assert second.from_cache and spy.calls == 3
    assert second.key == first.key and second.path == first.path
    np.testing.assert_array_equal(second.features, first.features)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [first.path.name]  # no temp files
    assert first.path.stat().st_mode & 0o777 == 0o666 & ~current_umask()


@pytest.mark.parametrize(
    "change",
    ["image_size", "flip", "crop", "backbone", "extra", "labels", "file_content", "file_list"],
)
def test_any_changed_input_misses_the_cache(toy_data, tmp_path, change):
    images, labels, files = toy_data
    spy = SpyExtractor()
    cache = tmp_path / "cache"
    first = run(spy, images, labels, files, cache)
    overrides: dict = {}
    if change == "image_size":
        overrides["image_size"] = (16, 16)
    elif change == "flip":
        overrides["flip"] = True
    elif change == "crop":
        overrides["crop"] = "first"
    elif change == "backbone":
        overrides["backbone"] = "toy2"
    elif change == "extra":
        overrides["extra"] = {"weights": "v2"}
    elif change == "labels":
        labels = labels.copy()
        labels[[0, 1]] = labels[[1, 0]]
        images = images.copy()
        images[[0, 1]] = images[[1, 0]]
    elif change == "file_content":
        np.save(files[5], images[5] + 1)
        os.utime(files[5], ns=(1, 1))  # a new size-preserving write with another mtime
    elif change == "file_list":
        files, images, labels = files[:-4], images[:-4], labels[:-4]
    second = run(spy, images, labels, files, cache, **overrides)
    assert not second.from_cache and second.key != first.key
    assert spy.calls == 6


def test_flipped_features_are_features_of_mirrored_images(toy_data, tmp_path):
    images, labels, files = toy_data
    plain = run(SpyExtractor(), images, labels, files, tmp_path)
    flipped = run(SpyExtractor(), images, labels, files, tmp_path, flip=True)
    assert plain.path != flipped.path and "-flip-" in flipped.path.name
    # Mirroring swaps the left and right halves, so their features swap places.
    np.testing.assert_allclose(flipped.features[:, :3], plain.features[:, 3:], rtol=1e-6)
    np.testing.assert_allclose(flipped.features[:, 3:], plain.features[:, :3], rtol=1e-6)


def test_head_on_cached_features_learns_a_separable_problem(toy_data, tmp_path):
    images, labels, files = toy_data
    cached = run(SpyExtractor(), images, labels, files, tmp_path)
    set_seed(0)
    head = build_feature_head(cached.features.shape[1], num_classes=4, dropout=0.0, learning_rate=0.05)
    scaled = cached.features / 255.0
    head.fit(scaled, cached.labels, epochs=40, batch_size=40, verbose=0)
    assert head.evaluate(scaled, cached.labels, verbose=0, return_dict=True)["accuracy"] >= 0.95


def test_misaligned_data_set_is_refused(toy_data, tmp_path):
    images, labels, files = toy_data
    shuffled = np.random.default_rng(1).permutation(40)
    dataset = tf.data.Dataset.from_tensor_slices((images[shuffled], labels[shuffled])).batch(16)
    with pytest.raises(FeatureCacheError, match="shuffle=False"):
        cached_features(
            SpyExtractor(),
            dataset,
            backbone="toy",
            files=files,
            labels=labels,
            image_size=(8, 8),
            crop=None,
            cache_dir=tmp_path,
        )
    with pytest.raises(FeatureCacheError, match="one to one"):
        run(SpyExtractor(), images, labels, files[:3], tmp_path)
    assert list(tmp_path.glob("*.npz")) == []


def test_extractor_must_return_vectors(toy_data, tmp_path):
    images, labels, files = toy_data
    with pytest.raises(FeatureCacheError, match="global pooling"):
        run(lambda batch: np.asarray(batch), images, labels, files, tmp_path)


def test_corrupt_cache_file_is_recomputed(toy_data, tmp_path):
    images, labels, files = toy_data
    first = run(SpyExtractor(), images, labels, files, tmp_path)
    first.path.write_bytes(b"not a zip file")
    spy = SpyExtractor()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = run(spy, images, labels, files, tmp_path)
    assert not again.from_cache and spy.calls == 3
    assert any("unreadable feature cache" in str(w.message) for w in caught)
    np.testing.assert_array_equal(again.features, first.features)


def test_fingerprint_depends_on_order_and_missing_files_are_reported(toy_data, tmp_path):
    _, _, files = toy_data
    assert files_fingerprint(files) == files_fingerprint(list(files))
    assert files_fingerprint(files) != files_fingerprint(files[::-1])
    with pytest.raises(FeatureCacheError, match="Cannot read"):
        files_fingerprint([tmp_path / "missing.jpg"])


def test_backbone_features_on_the_bundled_sample(tmp_path, monkeypatch):
    records = [r for r in discover(SAMPLE_DATA_DIR).records if r.official_split == "train"][::10]
    label_map = LabelMap.from_records(records)
    built = []
    real_build = features_module.build_backbone
    monkeypatch.setattr(features_module, "build_backbone", lambda *a, **k: built.append(1) or real_build(*a, **k))
    features_module.feature_extractor.cache_clear()
    options = dict(image_size=(32, 32), batch_size=8, cache_dir=tmp_path)
    first = backbone_features("mobilenet_v2", records, label_map, **options)
    assert first.features.shape == (len(records), 1280) and np.all(np.isfinite(first.features))
    assert first.features.std() > 0
    again = backbone_features("mobilenet_v2", records, label_map, **options)
    assert again.from_cache and len(built) == 1  # nothing is built or computed on a hit
    flipped = backbone_features("mobilenet_v2", records, label_map, flip=True, **options)
    assert not flipped.from_cache and len(built) == 1  # the flipped pass reuses the backbone
    assert not np.allclose(flipped.features, first.features)
    monkeypatch.setattr(features_module, "_code_fingerprint", lambda: "edited loading code")
    assert not backbone_features("mobilenet_v2", records, label_map, **options).from_cache
