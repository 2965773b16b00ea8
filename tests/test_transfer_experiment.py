"""The transfer-experiment engine: one feature pool whatever the validation share, typed results, rows per breed."""

from __future__ import annotations

import numpy as np

from dogbreeds.data.folder import discover
from dogbreeds.data.labels import LabelMap
from dogbreeds.data.splits import split_records
from dogbreeds.experiments.transfer_experiment import TransferExperiment, _per_breed, results_table
from dogbreeds.experiments.transfer_variants import TransferVariant

BREEDS = {"n02085620-Chihuahua": 9, "n02086240-Shih-Tzu": 9, "n02106662-German_shepherd": 9}


def experiment(folder, val_fraction, cache_dir):
    split = split_records(discover(folder), val_fraction=val_fraction, seed=3)
    label_map = LabelMap.from_records([*split.train, *split.val, *split.test])
    return TransferExperiment(
        split, label_map, image_size=(32, 32), batch_size=8, cache_dir=cache_dir, head_epochs=3, seed=3, progress=False
    )


def test_the_train_pool_is_shared_whatever_the_validation_share(make_dogs_dir, tmp_path):
    folder = make_dogs_dir(BREEDS, size=(40, 40))
    first = experiment(folder, 1 / 3, tmp_path / "cache")
    result = first.run(
        TransferVariant(
            "mobilenet_v2/keras+tta", ("mobilenet_v2",), "keras", flip_tta=True, label="MobileNetV2 + head, flip TTA"
        )
    )
    assert len(result.val_labels) == 6 and len(result.test_labels) == 9 and result.test_probabilities.shape == (9, 3)
    fields = result.record_fields()
    assert fields["params"]["flip_tta"] and not fields["params"]["optimistic"]
    assert fields["metrics"]["n"] == 9 and 0 <= fields["metrics"]["val_top1"] <= 1
    table = results_table([result])
    assert table.loc["mobilenet_v2/keras+tta", "test top-1"] == fields["metrics"]["top1"]

    second = experiment(folder, 0.5, tmp_path / "cache")  # another validation share: the same pool of 18 photos
    pool = second.features("mobilenet_v2", "train")
    assert pool.from_cache and len(pool) + len(second.features("mobilenet_v2", "val")) == 18
    np.testing.assert_array_equal(
        second.features("mobilenet_v2", "test").features, first.features("mobilenet_v2", "test").features
    )


def test_per_breed_draws_at_most_that_many_photos_of_each_breed(make_dogs_dir):
    records = discover(make_dogs_dir(BREEDS, size=(40, 40))).records
    chosen = _per_breed(records, 2, seed=1)
    assert len(chosen) == 6 and {record.label_id for record in chosen} == set(BREEDS)
    assert _per_breed(records, 2, seed=1) == chosen and _per_breed(records, None, seed=1) == list(records)
