"""The transfer-experiment engine: one feature pool whatever the validation share, typed results, fine-tuning."""

from __future__ import annotations

import numpy as np
import pytest

from dogbreeds.data.folder import discover
from dogbreeds.data.labels import LabelMap
from dogbreeds.data.splits import split_records
from dogbreeds.experiments.predictions import load_predictions
from dogbreeds.experiments.transfer_experiment import TransferExperiment
from dogbreeds.experiments.transfer_photos import photo_record, run_photo_heads, run_size_curve
from dogbreeds.experiments.transfer_tables import compare_variants, results_table
from dogbreeds.experiments.transfer_variants import ExperimentError, TransferVariant, fine_tune_variants
from dogbreeds.inputs.pipeline import make_dataset
from dogbreeds.models.fine_tuning import FineTuneSchedule

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


def test_a_tta_row_reuses_its_head_and_timing_and_photo_runs_are_recorded(make_dogs_dir, tmp_path):
    engine = experiment(make_dogs_dir(BREEDS, size=(40, 40)), 1 / 3, tmp_path / "cache")
    plain = engine.run(TransferVariant("m/keras", ("mobilenet_v2",), "keras"))
    tta = engine.run(TransferVariant("m/keras+tta", ("mobilenet_v2",), "keras", flip_tta=True))
    assert tta.heads[0] is plain.heads[0]  # one recipe, one head: TTA only changes the prediction
    for result in (plain, tta):
        engine.measure(result, photos=4, repeats=1)
    assert tta.model is plain.model
    assert tta.timings["inference_ms_per_image"] == pytest.approx(2 * plain.timings["inference_ms_per_image"])
    assert "%" in results_table([plain, tta]).loc["m/keras", "95 % interval"]
    comparisons = compare_variants([plain, tta], "m/keras")
    assert comparisons.loc["m/keras", "verdict"] == "reference"
    assert comparisons.loc["m/keras+tta", "verdict"] in {"better", "worse", "tie"}

    heads = run_photo_heads(engine, ["mobilenet_v2"], flip_tta=True, earlier={"m/keras+tta": tta})
    assert list(heads) == ["photos_mobilenet_v2"] and heads["photos_mobilenet_v2"].heads[0] is tta.heads[0]
    points = run_size_curve(engine, ["mobilenet_v2"], (1, 10, 100), flip_tta=True, seed=0)
    assert list(points) == ["transfer_size_mobilenet_v2_1", "transfer_size_mobilenet_v2_10"]  # 100: no more photos
    assert [(size, count) for size, count, _ in points.values()] == [(1, 3), (10, 12)]
    assert points["transfer_size_mobilenet_v2_10"][2].heads[0] is plain.heads[0]  # every training photo: same head
    small = points["transfer_size_mobilenet_v2_1"][2]
    assert small.heads[0] is not plain.heads[0] and len(small.test_labels) == 9

    # more training rows (a shelter's photos) give a head of their own, and only to a single-backbone variant
    more = engine.features("mobilenet_v2", "test")
    extra = engine.run(TransferVariant("m/keras", ("mobilenet_v2",), "keras"), extra_train=more, extra_name="test")
    assert extra.heads[0] is not plain.heads[0] and extra.test_probabilities.shape == (9, 3)
    with pytest.raises(ExperimentError, match="given together"):
        engine.run(TransferVariant("m/keras", ("mobilenet_v2",), "keras"), extra_train=more)
    with pytest.raises(ExperimentError, match="one backbone"):
        engine.run(
            TransferVariant("two", ("mobilenet_v2", "efficientnet_lite0"), "keras"), extra_train=more, extra_name="x"
        )

    fields = photo_record(small, engine, tmp_path, dataset="dogs", per_breed=1, train_photos=3)
    assert fields["data_counts"]["train"] == 3 and fields["params"]["per_breed"] == 1
    saved = load_predictions(tmp_path / fields["params"]["predictions"])["test"]
    np.testing.assert_array_equal(saved.probabilities, small.test_probabilities)
    assert fields["params"]["predictions"] == "predictions/transfer_size_mobilenet_v2_1.npz"


def test_fine_tuning_caches_activations_once_and_its_model_gives_the_recorded_probabilities(make_dogs_dir, tmp_path):
    folder = make_dogs_dir(BREEDS, size=(40, 40))
    first = experiment(folder, 1 / 3, tmp_path / "cache")
    start = first.run(TransferVariant("mobilenet_v2/keras", ("mobilenet_v2",), "keras"))
    variants = fine_tune_variants("mobilenet_v2", [0, 1], FineTuneSchedule(learning_rate=1e-3, epochs=2))
    tuned = first.fine_tune(variants, start)
    assert list(tuned) == ["mobilenet_v2/finetune-0", "mobilenet_v2/finetune-1"]
    for result in tuned.values():
        params = result.record_fields()["params"]
        assert params["epochs_run"] == 2 and params["train_photos"] == 12 and params["fine_tune_epochs"] == 2
        assert params["best_epoch"] == int(np.argmin(result.history["val_loss"])) + 1
        assert params["gain_over_head"]["photos"] == 9 and params["gain_over_head"]["versus"] == "mobilenet_v2/keras"
        assert not result.timings["activations_cached"] and result.timings["activation_seconds"] > 0
        # The image model, run on the photos, gives the probabilities computed from the cached activations.
        photos = make_dataset(first.split.test, first.label_map, (32, 32), 8, shuffle=False, cache=False)
        np.testing.assert_allclose(result.model.predict(photos, verbose=0), result.test_probabilities, atol=1e-4)
    assert len(list((tmp_path / "cache").glob("mobilenet_v2-32x32-last*.npz"))) == 6  # 2 depths x 3 parts

    second = experiment(folder, 0.5, tmp_path / "cache")  # another validation share: the same cached pool
    again = second.fine_tune(
        variants[:1], second.run(TransferVariant("mobilenet_v2/keras", ("mobilenet_v2",), "keras"))
    )
    assert again["mobilenet_v2/finetune-0"].timings["activations_cached"]
    assert again["mobilenet_v2/finetune-0"].record_fields()["params"]["train_photos"] == 9
