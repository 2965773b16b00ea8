"""Notebook 03 (scratch CNN) on the bundled sample: recipe runs, ablation verdicts, search, pre-trained CNN, sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dogbreeds.experiments.ablation_variants import VARIANTS
from dogbreeds.experiments.predictions import load_predictions
from dogbreeds.inputs.arrays import load_split_arrays
from dogbreeds.judge.evaluation import top_k_accuracy
from dogbreeds.judge.intervals import accuracy_interval, holm_adjust
from dogbreeds.models.bundle import load_bundle
from dogbreeds.models.tuning import SCRATCH_SPACE
from dogbreeds.study.profiles import PROFILES
from dogbreeds.study.session import Study

from .conftest import TEST_PARAMETERS, load_results, notebook_errors

NOTEBOOK = "03_scratch_cnn"
TEST_PHOTOS = 36  # the official test list of the sample: 12 photos a breed, 3 breeds
EPOCHS = TEST_PARAMETERS["epochs"]
QUICK = PROFILES["quick"]


def records_by_name(run_dir: Path) -> dict[str, dict]:
    records = load_results(run_dir, NOTEBOOK)
    by_name = {record["run_name"]: record for record in records}
    assert len(by_name) == len(records), "one record per run name"
    return by_name


def assert_predictions(run_dir: Path, relative: str, test_photos: int = TEST_PHOTOS) -> None:
    saved = load_predictions(run_dir / relative)
    assert saved["test"].probabilities.shape == (test_photos, TEST_PARAMETERS["breeds"])
    assert len(saved["test"].paths) == test_photos and len(saved["val"].labels) > 0


@pytest.mark.notebook
def test_ablation_records_keep_epochs_intervals_holm_verdicts_and_predictions(executed):
    run_dir = executed(NOTEBOOK)
    assert notebook_errors(run_dir, NOTEBOOK) == []
    records = records_by_name(run_dir)
    ablations = {name.removeprefix("ablation_"): r for name, r in records.items() if r["kind"] == "ablation"}
    assert sorted(ablations) == sorted(variant.name for variant in VARIANTS)  # one record each
    for name, record in ablations.items():
        metrics, params, timings = record["metrics"], record["params"], record["timings"]
        assert metrics["n"] == TEST_PHOTOS and record["data"]["num_classes"] == 3
        assert metrics["top1_low"] <= metrics["top1"] <= metrics["top1_high"], name
        assert params["seeds"] == [TEST_PARAMETERS["seed"] + k for k in range(QUICK["ablation_seeds"])]
        assert timings["epochs_run"] == timings["epoch_kept"] == EPOCHS == len(record["history"]["loss"])
        assert all(seed["epochs_run"] == seed["epoch_kept"] == EPOCHS for seed in params["per_seed"])
        assert params["settings"]["image_size"] == QUICK["ablation_image_size"] and params["parameters"] > 0
        for relative in params["predictions"]:
            assert_predictions(run_dir, relative)
    assert ablations["zca"]["params"]["settings"]["whitening"] == "zca"
    assert ablations["wider"]["params"]["parameters"] > ablations["baseline"]["params"]["parameters"]

    table = pd.read_csv(run_dir / "figures" / NOTEBOOK / "ablation.csv", index_col="variant")
    assert list(table.index) == [variant.name for variant in VARIANTS]  # in study order
    compared = table.drop(index="baseline")
    np.testing.assert_allclose(compared["p_holm"], holm_adjust(compared["p_value"].tolist()))
    for name, row in compared.iterrows():
        comparison = ablations[name]["params"]["comparison"]
        assert comparison["verdict"] == row["verdict"] and comparison["p_holm"] == pytest.approx(row["p_holm"])
        assert row["difference_low"] <= row["difference"] <= row["difference_high"]
        assert row["difference"] == pytest.approx(
            ablations[name]["metrics"]["top1"] - ablations["baseline"]["metrics"]["top1"]
        )
        if row["p_holm"] >= 0.05 or row["difference_low"] <= 0 <= row["difference_high"]:
            assert row["verdict"] == "tie", name
    assert table.loc["baseline", "verdict"] == "reference"
    figures = run_dir / "figures" / NOTEBOOK
    for name in ("ablation", "learning_curves_baseline", "learning_curves_pretrained"):
        assert (figures / f"{name}.png").stat().st_size > 5_000, name


@pytest.mark.notebook
def test_models_for_the_comparison_carry_intervals_epochs_and_predictions(executed, tmp_path):
    run_dir = executed(NOTEBOOK)
    records = records_by_name(run_dir)
    search, tuned = records["scratch_search"], records["scratch_tuned"]
    baseline, pretrained = records["scratch_baseline"], records["scratch_pretrained"]
    assert {r["kind"] for r in (baseline, tuned, pretrained)} == {"scratch"} and search["kind"] == "tuning"
    trials = pd.read_csv(run_dir / "figures" / NOTEBOOK / "tuner_trials.csv")
    assert len(trials) == search["params"]["trials"] == TEST_PARAMETERS["tuner_trials"]
    assert search["params"]["epochs_per_trial"] == EPOCHS
    config = search["params"]["best_config"]
    assert tuple(config["filters"]) in SCRATCH_SPACE["filters"] and config["dropout"] in SCRATCH_SPACE["dropout"]
    versus = tuned["params"]["comparison"]
    assert versus["control"] == "baseline" and versus["difference_low"] <= versus["difference_high"]
    assert versus["difference"] == pytest.approx(tuned["metrics"]["top1"] - baseline["metrics"]["top1"])
    for record in (baseline, tuned):
        assert [Path(p).name for p in record["params"]["predictions"]] == [
            f"{record['run_name']}-seed{seed}.npz" for seed in record["params"]["seeds"]
        ]

    metrics, timings, params = pretrained["metrics"], pretrained["timings"], pretrained["params"]
    interval = accuracy_interval(round(metrics["top1"] * TEST_PHOTOS), TEST_PHOTOS)
    assert (metrics["top1_low"], metrics["top1_high"]) == pytest.approx((interval.low, interval.high))
    assert timings["epochs_run"] == timings["epoch_kept"] == QUICK["pretrained_epochs"]
    assert params["pretraining"]["epochs"] == QUICK["pretrain_epochs"] and params["pretraining"]["images"] > 0
    assert params["predictions"] == "predictions/scratch_pretrained.npz"
    assert_predictions(run_dir, params["predictions"])

    sizes = {r["params"]["per_breed"]: r for r in records.values() if r["kind"] == "data_size"}
    assert sorted(sizes) == QUICK["data_sizes"]
    for per_breed, record in sizes.items():
        assert record["run_name"] == f"scratch_size_{per_breed}" and record["params"]["train_images"] == 3 * per_breed
        assert record["metrics"]["n"] == TEST_PHOTOS and record["timings"]["epoch_kept"] == EPOCHS
        assert record["metrics"]["top1_low"] <= record["metrics"]["top1"] <= record["metrics"]["top1_high"]
        assert_predictions(run_dir, record["params"]["predictions"])

    # The saved bundle is the recorded model: reloaded, it scores the recorded test top-1.
    predictor = load_bundle(run_dir / params["model_path"])
    assert predictor.model.count_params() == params["parameters"]
    study = Study.start(
        NOTEBOOK,
        TEST_PARAMETERS["profile"],
        output_dir=tmp_path,
        seed=TEST_PARAMETERS["seed"],
        breeds=TEST_PARAMETERS["breeds"],
        seeded=False,
    )
    arrays = load_split_arrays(study.data().split, study.data().label_map, 32, progress=False)
    probabilities = predictor.model.predict(arrays.test.images.astype(np.float32), verbose=0)
    assert top_k_accuracy(arrays.test.labels, probabilities, 1) == pytest.approx(metrics["top1"])
