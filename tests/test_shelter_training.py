"""`train_shelter_model` on a small synthetic folder: files, record, reproducibility; measuring on whole photos."""

from __future__ import annotations

import numpy as np
from conftest import SHELTER_BREEDS, write_image

from dogbreeds.shelter.measuring import measure_shelter_model
from dogbreeds.shelter.model import ShelterModel
from dogbreeds.shelter.training import train_shelter_model


def build_folder(make_dogs_dir):
    """15 photos of each of the test model's three breeds, every third one in the test list."""
    return make_dogs_dir({breed: 15 for breed in SHELTER_BREEDS}, size=(64, 48))


def test_training_writes_a_model_with_its_record_and_is_reproducible(make_dogs_dir, tmp_path):
    data = build_folder(make_dogs_dir)
    cache = tmp_path / "cache"
    first = train_shelter_model(
        data, backbone="mobilenet_v2", val_fraction=0.2, head_epochs=5, cache_dir=cache, source="test", progress=False
    )
    second = train_shelter_model(
        data, backbone="mobilenet_v2", val_fraction=0.2, head_epochs=5, cache_dir=cache, source="test", progress=False
    )
    assert np.array_equal(first.model.kernel, second.model.kernel)  # same seed, same head
    record = first.record
    metrics, config = record["metrics"], first.model.config
    assert record["data"]["counts"] == {"train": 24, "val": 6, "test": 15}
    assert metrics["n"] == 15 and 0 <= metrics["top1"] <= metrics["top5"] <= 1
    # notebook 04's recipe (a head on the crops, flip TTA); calibration never changes its first answers
    assert record["params"]["recipe"] == "mobilenet_v2/keras+tta" and config.views == ("center", "center-flip")
    assert metrics["top1"] == metrics["recipe_top1"]
    for key in ("ece_before_calibration", "ece_after_calibration", "dogs_flagged_not_a_dog"):
        assert 0 <= metrics[key] <= 1
    assert metrics["validation_at_threshold"]["threshold"] == config.confidence_threshold
    assert 0 < config.temperature and 0 <= config.dog_threshold <= 0.5
    assert len(record["data"]["hash"]) == 64 and record["data"]["hash"] == config.provenance["data_hash"]
    assert record["device"].startswith("CPU")
    folder = first.model.save(tmp_path / "model", first.record)
    loaded = ShelterModel.load(folder)
    assert loaded.config == config and loaded.record()["run_name"] == "shelter-model"


def test_measuring_on_whole_photos_scores_every_view_policy(make_dogs_dir, tmp_path, shelter_model_factory):
    data = build_folder(make_dogs_dir)
    not_dogs = tmp_path / "not-dogs"
    for number in range(3):
        write_image(not_dogs / "objects" / f"thing{number}.jpg", size=(50, 50), seed=number)
    model = shelter_model_factory()
    record = measure_shelter_model(model, data, not_dogs, cache_dir=tmp_path / "cache")
    for row in record["metrics"].values():
        assert row["test"]["photos"] == 15 and row["holdout"]["photos"] == 30
        assert row["not_dogs"]["photos"] == 3 and 0 <= row["not_dogs"]["flagged_not_a_dog"] <= 1
    assert record["data"]["counts"] == {"test": 15, "holdout": 30, "not_dogs": 3}


def test_notebook_04_s_best_recipe_is_the_shipped_model_s():
    from dogbreeds.experiments.transfer_variants import head_variants, tta_head_variant

    variant = tta_head_variant("efficientnet_lite2")
    assert variant in head_variants(["mobilenet_v2", "efficientnet_lite2"])  # one definition, notebook 04's row
    assert (variant.name, variant.head, variant.flip_tta, variant.flip_train) == (
        "efficientnet_lite2/keras+tta",
        "keras",
        True,
        False,
    )
    record = ShelterModel.load().record()
    assert record["params"]["recipe"] == variant.name and record["params"]["views"] == ["center", "center-flip"]
    assert record["metrics"]["top1"] == record["metrics"]["recipe_top1"] > 0.87  # the temperature keeps the answers
    # the same recipe, also trained on the choosing half's whole pet photos; measured against the crops alone
    assert record["params"]["shelter_photos"] == {"weight": 4, "folds": 5, "trained_on": "choosing"}
    assert (
        record["metrics"]["crops_only_top1"] > 0.87
        and abs(record["metrics"]["against_crops_only"]["difference"]) < 0.01
    )
