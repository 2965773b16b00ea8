"""Notebook 03's runs beyond the ablation: resumable cached pre-training, data-size subsets, records, predictions."""

from __future__ import annotations

import numpy as np
import pytest
from test_ablation import FAST, TINY, colour_arrays

from dogbreeds.core.recordfile import make_record
from dogbreeds.data.folder import ImageRecord
from dogbreeds.data.splits import Split, official_split
from dogbreeds.experiments import scratch_pretrain
from dogbreeds.experiments.ablation import ablation_table, run_ablation
from dogbreeds.experiments.ablation_variants import Variant, VariantInputs
from dogbreeds.experiments.predictions import load_predictions
from dogbreeds.experiments.records import check_model_record
from dogbreeds.experiments.scratch_pretrain import PretrainError, pretrained_cnn
from dogbreeds.experiments.scratch_records import BASELINE_RUN, ablation_records, data_size_records
from dogbreeds.experiments.scratch_runs import RecipeSettings
from dogbreeds.experiments.scratch_study import data_size_runs, feasible_sizes, subset_per_breed
from dogbreeds.judge.intervals import accuracy_interval
from dogbreeds.models.builders import CNNConfig

PRETRAIN = RecipeSettings(epochs=3, batch_size=4)
SMALL = CNNConfig(filters=(4, 8), dense_units=0, dropout=0.0)


def fake_split(arrays) -> Split:
    """Records whose order and labels match ``arrays`` (for the saved predictions' photo paths)."""

    def records(part, name):
        return tuple(ImageRecord(f"/photos/{name}_{i}.jpg", arrays.class_names[label]) for i, label in enumerate(part))

    return Split(*(records(getattr(arrays, n).labels, n) for n in ("train", "val", "test")), source="test")


def test_pretraining_resumes_after_an_interruption_then_comes_from_the_cache(make_dogs_dir, tmp_path, monkeypatch):
    study = make_dogs_dir({"n02085620-Chihuahua": 6, "n02086240-Shih-Tzu": 6}, size=(24, 24), name="study")
    other = make_dogs_dir({"n02088364-beagle": 6, "n02099601-golden_retriever": 6}, size=(24, 24), name="others")
    test = official_split(study)[0].test
    original = scratch_pretrain.EpochSaver.on_epoch_end

    def interrupted(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch + 1 == 2:
            raise KeyboardInterrupt  # Ctrl-C after the second epoch was saved

    monkeypatch.setattr(scratch_pretrain.EpochSaver, "on_epoch_end", interrupted)
    options = dict(cache_dir=tmp_path / "cache", seed=1, progress=False)
    with pytest.raises(KeyboardInterrupt):
        pretrained_cnn(other, test, SMALL, 16, PRETRAIN, **options)
    monkeypatch.setattr(scratch_pretrain.EpochSaver, "on_epoch_end", original)
    resumed = pretrained_cnn(other, test, SMALL, 16, PRETRAIN, **options)
    info = resumed.info
    assert info["resumed_from_epoch"] == 2 and not info["from_cache"] and len(info["history"]["loss"]) == 3
    assert info["images"] == 8 and info["breeds"] == 2 and info["epochs"] == 3 and info["train_seconds"] > 0
    cached = pretrained_cnn(other, test, SMALL, 16, PRETRAIN, **options)
    assert cached.info["from_cache"] and cached.key == resumed.key
    for a, b in zip(cached.model.get_weights(), resumed.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert pretrained_cnn(other, test, SMALL, 16, RecipeSettings(2, 4), **options).key != resumed.key
    with pytest.raises(PretrainError, match="test photos"):  # pre-training on the study's own test photos
        pretrained_cnn(make_dogs_dir(test_every=100, name="leaky"), official_split(make_dogs_dir())[0].test,
                       SMALL, 16, PRETRAIN, **options)  # fmt: skip


def test_data_size_subsets_draw_training_photos_first_and_say_when_validation_photos_are_used():
    arrays = colour_arrays()  # 8 training and 3 validation photos a breed
    assert feasible_sizes(arrays, [2, 10, 11, 12]) == [2, 10, 11]
    small, borrowed = subset_per_breed(arrays, 5, seed=0)
    assert not borrowed and np.bincount(small.labels).tolist() == [5, 5, 5]
    large, borrowed = subset_per_breed(arrays, 10, seed=0)
    assert borrowed and np.bincount(large.labels).tolist() == [10, 10, 10]
    assert np.array_equal(subset_per_breed(arrays, 5, seed=0)[0].images, small.images)  # seeded


def test_records_carry_intervals_epochs_and_the_saved_predictions(tmp_path):
    arrays = colour_arrays()
    split = fake_split(arrays)
    study = (Variant("baseline", control=None), Variant("no_augmentation", augmentation=False))
    results = run_ablation(study, VariantInputs(arrays), FAST, seeds=[1, 2], cache_dir=tmp_path, base=TINY)
    table = ablation_table(results)
    records = {
        name: (kind, fields) for name, kind, fields in ablation_records(results, table, arrays, split, tmp_path, FAST)
    }
    assert set(records) == {"ablation_baseline", "ablation_no_augmentation", BASELINE_RUN}
    kind, model = records[BASELINE_RUN]
    assert kind == "scratch" and model["params"]["predictions"] == [
        "predictions/scratch_baseline-seed1.npz",
        "predictions/scratch_baseline-seed2.npz",
    ]
    check_model_record(make_record(BASELINE_RUN, kind, **model))  # what notebook 05 needs is there
    saved = load_predictions(tmp_path / model["params"]["predictions"][1])
    np.testing.assert_array_equal(saved["test"].probabilities, results[0].runs[1].test_probabilities)
    np.testing.assert_array_equal(saved["test"].labels, arrays.test.labels)
    assert saved["val"].paths[0].name == "val_0.jpg"
    arm = records["ablation_no_augmentation"][1]
    assert arm["params"]["comparison"]["verdict"] == table.loc[1, "verdict"]
    assert arm["params"]["comparison"]["control"] == "baseline" and arm["timings"]["epoch_kept"] == 6

    sized = data_size_runs(arrays, [4], TINY, FAST, seed=1, cache_dir=tmp_path)
    [(name, kind, fields)] = data_size_records(sized, arrays, split, tmp_path, FAST)
    assert name == "scratch_size_4" and kind == "data_size" and fields["params"]["per_breed"] == 4
    assert (
        fields["params"]["train_images"] == 12 and fields["params"]["predictions"] == "predictions/scratch_size_4.npz"
    )
    interval = accuracy_interval(round(fields["metrics"]["top1"] * 12), 12)
    assert (fields["metrics"]["top1_low"], fields["metrics"]["top1_high"]) == (interval.low, interval.high)
    assert fields["timings"]["epochs_run"] == fields["timings"]["epoch_kept"] == 6
    assert (tmp_path / "predictions" / "scratch_size_4.npz").exists()
