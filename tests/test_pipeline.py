"""Tests of dogbreeds.inputs.pipeline: the label map and the tf.data dataset (small images, few batches)."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest
from conftest import write_voc
from PIL import Image

from dogbreeds.data.folder import ProblemLog, discover
from dogbreeds.data.images import load_resized
from dogbreeds.data.labels import LabelMap, LabelMapError
from dogbreeds.inputs.pipeline import make_dataset

SIZE = (16, 20)  # height, width


def collect(dataset):
    """All images and labels of a dataset, as NumPy arrays."""
    images, labels = zip(*((images.numpy(), labels.numpy()) for images, labels in dataset), strict=True)
    return np.concatenate(images), np.concatenate(labels)


def test_label_map_encode_decode_names(make_dogs_dir):
    records = discover(make_dogs_dir()).records
    label_map = LabelMap.from_records(list(reversed(records)))
    assert label_map.label_ids == ("n02085620-Chihuahua", "n02086240-Shih-Tzu", "n02106662-German_shepherd")
    assert label_map.names == ("Chihuahua", "Shih-Tzu", "German shepherd") and len(label_map) == 3
    assert label_map.encode("n02106662-German_shepherd") == 2
    assert label_map.decode(1) == "n02086240-Shih-Tzu" and label_map.name(2) == "German shepherd"
    with pytest.raises(LabelMapError, match="'n02096051-Airedale' is not in the label map"):
        label_map.encode("n02096051-Airedale")
    with pytest.raises(LabelMapError, match="out of range 0..2"):
        label_map.decode(3)
    with pytest.raises(LabelMapError, match="duplicate label ids: a"):
        LabelMap(("a", "b", "a"))
    with pytest.raises(LabelMapError, match="at least one"):
        LabelMap(())


def test_label_map_save_is_atomic_and_round_trips(tmp_path):
    label_map = LabelMap(("n02085620-Chihuahua", "n02086240-Shih-Tzu"))
    path = label_map.save(tmp_path / "run" / "labels.json")
    assert LabelMap.load(path) == label_map
    assert json.loads(path.read_text())["names"] == ["Chihuahua", "Shih-Tzu"]
    LabelMap(("a",)).save(path)  # replaces the old file in one step
    assert LabelMap.load(path).label_ids == ("a",)
    assert [file.name for file in path.parent.iterdir()] == ["labels.json"]  # no temporary file left
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read the label map"),
        ("{not json", "cannot read the label map"),
        ('{"label_ids": [1, 2]}', "is not a label map"),
        ('["a", "b"]', "is not a label map"),
    ],
)
def test_label_map_load_errors(tmp_path, content, message):
    path = tmp_path / "labels.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(LabelMapError, match=message):
        LabelMap.load(path)


def test_dataset_batches_types_and_labels(make_dogs_dir):
    records = discover(make_dogs_dir()).records
    label_map = LabelMap.from_records(records)
    dataset = make_dataset(records, label_map, image_size=SIZE, batch_size=4)
    images, labels = next(iter(dataset))
    assert images.shape == (4, 16, 20, 3) and images.dtype.name == "float32"
    assert labels.dtype.name == "int32"
    all_images, all_labels = collect(dataset)
    assert all_images.shape == (18, 16, 20, 3) and all_images.min() >= 0 and all_images.max() <= 255
    assert all_labels.tolist() == [label_map.encode(record.label_id) for record in records]
    assert np.array_equal(all_images[7], load_resized(records[7].path, SIZE).astype(np.float32))


def test_shuffle_is_seeded_and_reshuffles_each_epoch(make_dogs_dir):
    records = discover(make_dogs_dir()).records
    label_map = LabelMap.from_records(records)
    first = make_dataset(records, label_map, image_size=SIZE, batch_size=6, shuffle=True, seed=3)
    same = make_dataset(records, label_map, image_size=SIZE, batch_size=6, shuffle=True, seed=3)
    other = make_dataset(records, label_map, image_size=SIZE, batch_size=6, shuffle=True, seed=4)
    epoch_one, epoch_two = collect(first)[1], collect(first)[1]
    assert np.array_equal(epoch_one, collect(same)[1])
    assert not np.array_equal(epoch_one, collect(other)[1])
    assert not np.array_equal(epoch_one, epoch_two)
    assert sorted(epoch_one) == sorted(epoch_two) == sorted(label_map.encode(r.label_id) for r in records)


def test_bad_files_are_skipped_counted_and_logged(make_dogs_dir, caplog):
    root = make_dogs_dir({"n02085620-Chihuahua": 6, "n02086240-Shih-Tzu": 6})
    folder = root / "Images" / "n02085620-Chihuahua"
    (folder / "n02085620_0.jpg").write_bytes(b"not an image")
    Image.new("RGB", (1, 1)).save(folder / "n02085620_1.jpg")
    Image.new("RGB", (30, 30), (0, 0, 255)).save(folder / "n02085620_2.jpg", format="PNG")  # PNG named .jpg
    Image.new("CMYK", (30, 30), (0, 255, 255, 0)).save(folder / "n02085620_3.jpg")
    Image.new("RGBA", (30, 30), (0, 0, 0, 0)).save(folder / "n02085620_4.jpg", format="PNG")
    records = discover(root).records
    log = ProblemLog()
    with caplog.at_level(logging.WARNING, logger="dogbreeds.inputs.pipeline"):
        dataset = make_dataset(records, LabelMap.from_records(records), image_size=SIZE, batch_size=5, problems=log)
        images, labels = collect(dataset)
        collect(dataset)  # a second epoch reads the cache: nothing counted twice
    assert images.shape[0] == 10 and labels.tolist().count(0) == 4
    assert sorted((problem.path.name, problem.kind) for problem in log.skipped) == [
        ("n02085620_0.jpg", "not_an_image"),
        ("n02085620_1.jpg", "too_small"),
    ]
    assert len(log) == 2 and sum("skipped" in message for message in caplog.messages) == 2
    assert tuple(images[0, 0, 0]) == (0, 0, 255)  # the PNG named .jpg
    assert images[1, 0, 0, 0] > 230 and images[1, 0, 0, 1] < 25  # CMYK red
    assert images[2].min() == 255  # transparent: white


def test_crop_to_first_or_largest_box(make_dogs_dir):
    root = make_dogs_dir({"n02085620-Chihuahua": 2}, annotations=True)
    pixels = np.zeros((40, 48, 3), dtype=np.uint8)
    pixels[:20, :24] = 255  # white top-left quarter
    for record in discover(root).records:
        Image.fromarray(pixels).save(record.path, format="PNG")
        write_voc(record.annotation_path, [(0, 0, 24, 20), (0, 0, 48, 40)])
    (root / "Annotation" / "n02085620-Chihuahua" / "n02085620_1").write_text("<annotation>")
    records = discover(root).records
    label_map = LabelMap.from_records(records)
    log = ProblemLog()
    first, _ = collect(make_dataset(records, label_map, image_size=SIZE, crop="first", problems=log, cache=False))
    assert first[0].min() == 255  # the first box is the white quarter
    assert first[1].mean() == pytest.approx(255 / 4, abs=6)  # malformed annotation: whole image
    assert log.counts() == {"bad_annotation": 1}
    largest, _ = collect(make_dataset(records[:1], label_map, image_size=SIZE, crop="largest", cache=False))
    assert largest[0].mean() == pytest.approx(255 / 4, abs=6)
    margin, _ = collect(
        make_dataset(records[:1], label_map, image_size=SIZE, crop="first", crop_margin=0.5, cache=False)
    )
    assert 0 < margin[0].mean() < 255 and margin[0, 0, 0, 0] == 255


def test_disk_cache_and_argument_errors(make_dogs_dir, tmp_path):
    records = discover(make_dogs_dir()).records
    label_map = LabelMap.from_records(records)
    cache = tmp_path / "cache" / "train"
    cache.parent.mkdir()
    first = collect(make_dataset(records, label_map, image_size=SIZE, cache=cache))
    assert any(cache.parent.iterdir())
    second = collect(make_dataset(records, label_map, image_size=SIZE, cache=cache))
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])
    with pytest.raises(ValueError, match="no records"):
        make_dataset([], label_map)
    with pytest.raises(ValueError, match="batch_size"):
        make_dataset(records, label_map, batch_size=0)
    with pytest.raises(LabelMapError, match="not in the label map"):
        make_dataset(records, LabelMap(("n02085620-Chihuahua",)))


def test_bundled_sample_batch(sample_dir):
    records = discover(sample_dir).records[::10]
    images, labels = next(
        iter(make_dataset(records, LabelMap.from_records(records), image_size=(32, 32), batch_size=15))
    )
    assert images.shape == (15, 32, 32, 3) and sorted(set(labels.numpy())) == [0, 1, 2, 3, 4]
