"""In-memory splits: loading with skipped files, derived copies, tf.data batches and timed predictions."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from dogbreeds.data.folder import discover
from dogbreeds.data.labels import LabelMap
from dogbreeds.data.splits import split_records
from dogbreeds.inputs.arrays import ArraysError, LabeledImages, SplitArrays, load_split_arrays, predict_timed


def tiny_arrays(size: int = 8) -> SplitArrays:
    rng = np.random.default_rng(0)

    def part(n: int) -> LabeledImages:
        return LabeledImages(rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), np.arange(n) % 3)

    return SplitArrays(part(6), part(3), part(4), ("a", "b", "c"))


def test_load_split_arrays_matches_the_split_and_label_map(make_dogs_dir):
    index = discover(make_dogs_dir(size=(30, 20)))
    split = split_records(index, seed=1)
    label_map = LabelMap.from_records(index.records)
    arrays = load_split_arrays(split, label_map, size=(12, 16), progress=False)
    assert arrays.counts() == split.counts()
    assert arrays.input_shape == (12, 16, 3) and arrays.train.images.dtype == np.uint8
    assert arrays.class_names == label_map.names and arrays.num_classes == 3
    expected = [label_map.encode(record.label_id) for record in split.test]
    assert arrays.test.labels.tolist() == expected
    # the synthetic breeds have one colour each: the label must follow the image's colour
    red = arrays.test.images[..., 0].mean(axis=(1, 2)) > 120
    assert (red == (arrays.test.labels == label_map.encode("n02085620-Chihuahua"))).all()


def test_unreadable_images_are_skipped_with_their_labels(make_dogs_dir):
    index = discover(make_dogs_dir())
    split = split_records(index, seed=1)
    broken = split.train[0]
    broken.path.write_bytes(b"not a jpeg")
    label_map = LabelMap.from_records(index.records)
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        arrays = load_split_arrays(split, label_map, size=8, progress=False)
    assert len(arrays.train) == len(split.train) - 1
    expected = [label_map.encode(record.label_id) for record in split.train[1:]]
    assert arrays.train.labels.tolist() == expected


def test_map_images_and_resized_keep_labels_and_change_images():
    arrays = tiny_arrays(size=8)
    inverted = arrays.map_images(lambda images: 255 - images)
    assert np.array_equal(inverted.val.images, 255 - arrays.val.images)
    assert np.array_equal(inverted.val.labels, arrays.val.labels)
    small = arrays.resized(4, progress=False)
    assert small.input_shape == (4, 4, 3) and small.counts() == arrays.counts()
    assert np.array_equal(small.test.labels, arrays.test.labels)
    # area interpolation of 2x2 blocks: each output pixel is the mean of its block
    block_mean = arrays.train.images[0, :2, :2].astype(float).mean(axis=(0, 1))
    assert np.allclose(small.train.images[0, 0, 0], block_mean, atol=1)
    with pytest.raises(ArraysError, match="turned 6 train images into 5"):
        arrays.map_images(lambda images: images[:5])


def test_dataset_batches_float_images_and_reshuffles_with_a_seed():
    part = tiny_arrays().train
    batches = list(part.dataset(4))
    assert [len(labels) for _, labels in batches] == [4, 2]
    images, labels = batches[0]
    assert images.dtype.name == "float32" and labels.dtype.name == "int32"
    assert np.array_equal(images.numpy(), part.images[:4].astype(np.float32))
    shuffled = part.dataset(6, shuffle_seed=3)
    first, second = ([labels.numpy().tolist() for _, labels in shuffled] for _ in range(2))
    assert sorted(first[0]) == sorted(part.labels.tolist())
    assert first != second  # a new order each epoch
    again = [labels.numpy().tolist() for _, labels in part.dataset(6, shuffle_seed=3)]
    assert again == first  # same seed, same first epoch


@pytest.mark.parametrize(
    ("images", "labels", "message"),
    [
        (np.zeros((2, 4, 4)), np.zeros(2, int), "shape \\(N, height, width, 3\\)"),
        (np.zeros((2, 4, 4, 3)), np.zeros(3, int), "one label per image"),
        (np.zeros((2, 4, 4, 3)), np.array([0.5, 1.0]), "integer label ids"),
    ],
)
def test_bad_images_or_labels_are_refused(images, labels, message):
    with pytest.raises(ArraysError, match=message):
        LabeledImages(images, labels)


def test_splits_must_be_non_empty_and_agree():
    arrays = tiny_arrays()
    empty = LabeledImages(np.zeros((0, 8, 8, 3), np.uint8), np.zeros(0, int))
    with pytest.raises(ArraysError, match="val split has no images"):
        SplitArrays(arrays.train, empty, arrays.test, arrays.class_names)
    with pytest.raises(ArraysError, match="only 2 class names"):
        SplitArrays(arrays.train, arrays.val, arrays.test, ("a", "b"))
    with pytest.raises(ArraysError, match="one image shape"):
        SplitArrays(arrays.train, arrays.val, tiny_arrays(size=6).test, arrays.class_names)


def test_predict_timed_gives_the_model_probabilities_and_a_time():
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(3, "softmax")])
    images = tiny_arrays().test.images
    timed = predict_timed(model, images, batch_size=3)
    assert timed.probabilities.shape == (4, 3)
    assert np.allclose(timed.probabilities, model(images.astype(np.float32)).numpy(), atol=1e-6)
    assert timed.seconds > 0 and timed.ms_per_image == pytest.approx(1000 * timed.seconds / 4)
    with pytest.raises(ArraysError, match="no images"):
        predict_timed(model, images[:0])


def test_predict_timed_keeps_the_median_of_repeated_passes(monkeypatch):
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(3, "softmax")])
    images = tiny_arrays().test.images
    clock = iter([0.0, 1.0, 10.0, 10.5, 20.0, 29.0])  # passes of 1.0, 0.5 and 9.0 seconds
    monkeypatch.setattr("dogbreeds.core.timing.perf_counter", lambda: next(clock))  # the passes' clock only
    timed = predict_timed(model, images, batch_size=3, repeats=3)
    assert timed.seconds == 1.0 and timed.probabilities.shape == (4, 3)
    with pytest.raises(ArraysError, match="repeats"):
        predict_timed(model, images, repeats=0)
