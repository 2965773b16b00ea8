"""Notebook 03 (scratch CNN) on the bundled sample: ablation records and table, tuner search, best model."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dogbreeds.experiments.ablation_variants import VARIANTS
from dogbreeds.inputs.arrays import load_split_arrays
from dogbreeds.judge.evaluation import top_k_accuracy
from dogbreeds.models.bundle import load_bundle
from dogbreeds.models.tuning import QUICK_SPACE
from dogbreeds.study.session import Study

from .conftest import TEST_PARAMETERS, load_results, notebook_errors

NOTEBOOK = "03_scratch_cnn"
TEST_PHOTOS = 36  # the official test list of the sample: 12 photos a breed, 3 breeds


def records_by_name(run_dir: Path) -> dict[str, dict]:
    records = load_results(run_dir, NOTEBOOK)
    by_name = {record["run_name"]: record for record in records}
    assert len(by_name) == len(records), "one record per run name"
    return by_name


@pytest.mark.notebook
def test_ablation_records_and_table_agree(executed):
    run_dir = executed(NOTEBOOK)
    assert notebook_errors(run_dir, NOTEBOOK) == []
    records = records_by_name(run_dir)
    ablations = {name.removeprefix("ablation_"): r for name, r in records.items() if r["kind"] == "ablation"}
    assert list(ablations) == [variant.name for variant in VARIANTS]  # one each, written in study order
    for name, record in ablations.items():
        metrics, params = record["metrics"], record["params"]
        assert 0 <= metrics["top1"] <= metrics["top5"] <= 1 and 0 <= metrics["val_top1"] <= 1, name
        assert metrics["n"] == TEST_PHOTOS and record["data"]["num_classes"] == 3
        assert metrics["top1_std"] is None and params["seeds"] == [TEST_PARAMETERS["seed"]]  # quick: one seed
        assert params["settings"]["image_size"] == 32 and params["parameters"] > 0
        assert 1 <= record["timings"]["epochs_run"] <= 2 and record["timings"]["train_seconds"] > 0
        assert len(record["history"]["val_loss"]) == record["timings"]["epochs_run"]
    assert ablations["zca"]["params"]["control"] == "baseline_small"
    assert ablations["zca"]["params"]["settings"]["whitening"] == "zca"
    assert ablations["wider"]["params"]["parameters"] > ablations["baseline"]["params"]["parameters"]

    table = pd.read_csv(run_dir / "figures" / NOTEBOOK / "ablation.csv", index_col="variant")
    assert list(table.index) == list(ablations)
    for name, record in ablations.items():
        assert table.loc[name, "test_accuracy"] == pytest.approx(record["metrics"]["top1"])
        assert table.loc[name, "val_accuracy"] == pytest.approx(record["metrics"]["val_top1"])
        assert table.loc[name, "change"] == record["params"]["change"]
        control = record["params"]["control"]
        if control is None:
            assert math.isnan(table.loc[name, "test_delta"]) and table.loc[name, "verdict"] == "reference"
        else:
            delta = record["metrics"]["top1"] - ablations[control]["metrics"]["top1"]
            assert table.loc[name, "test_delta"] == pytest.approx(delta)
            mine, theirs = record["metrics"]["top1"], ablations[control]["metrics"]["top1"]
            noise = max(2 * math.sqrt((mine * (1 - mine) + theirs * (1 - theirs)) / TEST_PHOTOS), 2 / TEST_PHOTOS)
            assert table.loc[name, "noise"] == pytest.approx(noise)  # one seed: binomial noise only
            assert table.loc[name, "verdict"] == (
                "tie" if abs(delta) <= noise + 1e-9 else "better" if delta > 0 else "worse"
            )
    assert (table["test_images"] == TEST_PHOTOS).all()  # the noise level of every verdict
    figures = run_dir / "figures" / NOTEBOOK
    for name in ("ablation", "learning_curves_best"):
        assert (figures / f"{name}.png").stat().st_size > 5_000, name


@pytest.mark.notebook
def test_search_and_best_model_record_for_the_comparison(executed, tmp_path):
    run_dir = executed(NOTEBOOK)
    records = records_by_name(run_dir)
    search, best = records["scratch_cnn_search"], records["scratch_cnn_best"]
    assert search["kind"] == "tuning" and best["kind"] == "scratch"
    trials = pd.read_csv(run_dir / "figures" / NOTEBOOK / "tuner_trials.csv")
    assert len(trials) == search["params"]["trials"] == TEST_PARAMETERS["tuner_trials"]
    assert search["metrics"]["best_val_accuracy"] == pytest.approx(trials["score"].max())
    config = best["params"]["config"]
    assert config == search["params"]["best_config"]
    assert tuple(config["filters"]) in QUICK_SPACE["filters"] and config["dropout"] in QUICK_SPACE["dropout"]

    metrics, timings, params = best["metrics"], best["timings"], best["params"]
    assert 0 <= metrics["top1"] <= metrics["top5"] <= 1 and metrics["n"] == TEST_PHOTOS
    assert -1 <= metrics["kappa"] <= 1 and 0 <= metrics["macro_f1"] <= 1 and 0 <= metrics["val_top1"] <= 1
    assert params["model"].startswith("Scratch CNN") and params["parameters"] > 0
    assert timings["train_seconds"] > 0 and 0 < timings["inference_ms_per_image"] < 1_000
    assert 1 <= timings["best_epoch"] <= timings["epochs_run"] == len(best["history"]["loss"]) <= 2

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
    assert best["data"]["num_classes"] == search["data"]["num_classes"] == TEST_PARAMETERS["breeds"]
