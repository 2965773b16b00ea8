"""Notebook 05 on the bundled sample, after 01-04: the comparison table, the figures and the shelter advice."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from dogbreeds.core.config import shared_datasets_dir
from dogbreeds.study import runner
from dogbreeds.study.profiles import PROFILES

from .conftest import TEST_PARAMETERS, load_results, notebook_errors

pytestmark = pytest.mark.notebook

NOTEBOOK = "05_comparison"
FIGURES = (
    "model_comparison",
    "confusion_matrix",
    "per_breed_accuracy",
    "error_gallery_worst_breed",
    "reliability",
    "confidence_thresholds",
    "prediction_1",
    "prediction_2",
    "prediction_3",
    "prediction_4",
)


@pytest.fixture(scope="module")
def run_dir(executed) -> Path:
    return executed(NOTEBOOK)


PETS_PRESENT = all((shared_datasets_dir() / name / "labels.csv").is_file() for name in ("oxford-pet-dogs", "not-dogs"))


@pytest.fixture(scope="module")
def advice(run_dir: Path) -> dict:
    records = {r["run_name"]: r for r in load_results(run_dir, NOTEBOOK)}
    assert sorted(records) == ["shelter_advice", "shelter_labeller", *(["shelter_oxford"] if PETS_PRESENT else [])]
    return records["shelter_advice"]


@pytest.mark.skipif(not PETS_PRESENT, reason="the pet photos that are not ImageNet's are not on this machine")
def test_the_shelter_part_opens_with_the_shipped_model_on_a_seeded_draw_of_the_reporting_halves(run_dir: Path) -> None:
    from dogbreeds.shelter.model import ShelterModel

    record = next(r for r in load_results(run_dir, NOTEBOOK) if r["run_name"] == "shelter_oxford")
    config = ShelterModel.load().config
    params, dogs, not_dogs = record["params"], record["metrics"]["dogs"], record["metrics"]["not_dogs"]
    sample = PROFILES["quick"]["pets_sample"]  # the short run draws a few photos of each half
    assert params["part"] == "reporting" and params["sample"] == sample
    assert (dogs["photos"], not_dogs["photos"]) == (sample, sample) and record["metrics"]["sampled"]
    assert record["metrics"]["half"]["dogs"] > 400 and record["metrics"]["half"]["not_dogs"] > 100
    assert params["thresholds"]["confidence_threshold"] == config.confidence_threshold
    per = dogs["per_1000"]
    assert abs(per["labelled"] + per["to_a_person"] + per["not_a_dog"] - 1000) <= 1
    assert per["labelled"] == round(1000 * dogs["labelled_photos"] / sample)
    assert len(dogs["coverage_accuracy_curve"]["coverage"]) == len(dogs["coverage_accuracy_curve"]["accuracy"]) > 0
    figure = run_dir / "figures" / NOTEBOOK / "shelter_coverage_reporting.png"
    assert figure.stat().st_size > 2_000 and figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    executed = (run_dir / "notebooks" / f"{NOTEBOOK}.ipynb").read_text()
    assert f"{per['labelled']} are labelled automatically with {per['labelled_wrong']} mistakes" in executed


def test_the_shipped_model_labels_the_run_s_test_photos_with_the_label_code(run_dir: Path) -> None:
    from dogbreeds.shelter.model import ShelterModel

    record = next(r for r in load_results(run_dir, NOTEBOOK) if r["run_name"] == "shelter_labeller")
    shipped = ShelterModel.load().record()["metrics"]
    assert record["metrics"]["official_test"]["top1"] == pytest.approx(shipped["top1"])
    assert shipped["top1"] > 0.85
    rows = list(csv.DictReader(open(run_dir / "shelter_labels.csv", newline="", encoding="utf-8")))
    by_status = {row["status"]: row for row in record["metrics"]["this_run"]}
    assert sum(row["photos"] for row in by_status.values()) == len(rows) == record["data"]["counts"]["test"] > 0
    assert {row["status"] for row in rows} <= {"labelled", "ask a human", "not a dog"}
    assert by_status["labelled"]["accuracy"] >= 0.8  # 120 breeds to choose from, a few in the run


def model_records(run_dir: Path) -> list[dict]:
    records = [json.loads(p.read_text()) for p in sorted((run_dir / "results").glob("*.json"))]
    return [r for r in records if r["kind"] in ("scratch", "transfer")]


def test_notebook_ran_without_errors(run_dir: Path) -> None:
    assert notebook_errors(run_dir, NOTEBOOK) == []


def test_figures_were_saved(run_dir: Path) -> None:
    folder = run_dir / "figures" / NOTEBOOK
    for name in FIGURES:
        path = folder / f"{name}.png"
        assert path.is_file() and path.stat().st_size > 2_000, name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_comparison_table_lists_every_model_with_its_recorded_numbers(run_dir: Path) -> None:
    table = pd.read_csv(run_dir / "figures" / NOTEBOOK / "model_comparison.csv")
    recorded = {r["run_name"]: r for r in model_records(run_dir)}

    assert sorted(table["run_name"]) == sorted(recorded)
    assert {"scratch", "transfer"} <= set(table["kind"])
    assert table["top1"].is_monotonic_decreasing
    for row in table.itertuples():
        record = recorded[row.run_name]
        assert row.top1 == pytest.approx(record["metrics"]["top1"])
        assert row.parameters == record["params"]["parameters"] > 0
        assert row.train_seconds == pytest.approx(record["timings"]["train_seconds"])
        assert 0 <= row.top1 <= row.top5 <= 1


def test_threshold_table_is_consistent(run_dir: Path, advice: dict) -> None:
    thresholds = pd.read_csv(run_dir / "figures" / NOTEBOOK / "confidence_thresholds.csv")
    n_test = advice["data"]["counts"]["test"]

    assert thresholds["n_kept"].iloc[0] == n_test  # threshold 0 keeps every photo
    assert thresholds["n_kept"].is_monotonic_decreasing
    assert thresholds["selective_accuracy"].iloc[0] == pytest.approx(advice["metrics"]["top1"])


def test_shelter_advice_record_is_consistent(run_dir: Path, advice: dict) -> None:
    metrics, params = advice["metrics"], advice["params"]
    studied = {r["run_name"]: r for r in model_records(run_dir)}[params["studied_run"]]

    assert studied["kind"] == "transfer" and (run_dir / studied["params"]["model_path"]).is_dir()
    assert metrics["n"] == metrics["n_test"] == advice["data"]["counts"]["test"] > 0
    assert metrics["num_classes"] == advice["data"]["num_classes"] == TEST_PARAMETERS["breeds"]
    assert 0 <= metrics["top1"] <= metrics["top5"] <= 1
    assert metrics["human_share"] == pytest.approx(1 - metrics["automatic_share"])
    assert params["target_accuracy"] == 0.95
    if metrics["threshold"] is None:
        assert metrics["automatic_share"] == 0 and metrics["automatic_accuracy"] is None
    else:
        assert metrics["validation_accuracy"] >= params["target_accuracy"]
        assert 0 <= metrics["automatic_share"] <= 1
    label_map = json.loads((run_dir / studied["params"]["model_path"] / "label_map.json").read_text())
    assert params["worst_breed"] in label_map["names"]


def test_advice_record_names_the_models_and_the_weakest_breed(run_dir: Path, advice: dict) -> None:
    models = {r["run_name"]: r for r in model_records(run_dir)}
    metrics, params = advice["metrics"], advice["params"]
    assert params["best_run"] in models and params["studied_run"] in models
    assert params["model"] == models[params["studied_run"]]["params"]["model"]
    assert params["selection"] == "validation top-1"  # every model of the sample run records one
    assert 0 <= metrics["ece"] <= 1 and metrics["top1"] == pytest.approx(
        models[params["studied_run"]]["metrics"]["top1"]
    )


def test_without_model_records_the_notebook_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(runner.NotebookFailed, match="NoModelRecordsError.*notebooks 03 .*and 04"):
        runner.run_notebooks(tmp_path, TEST_PARAMETERS, start=NOTEBOOK, until=NOTEBOOK)


def test_central_table_sets_scratch_beside_transfer_on_the_same_photos(run_dir: Path) -> None:
    from dogbreeds.experiments.head_to_head import PHOTOS_PREFIX, SCRATCH_RUNS

    central = pd.read_csv(run_dir / "figures" / NOTEBOOK / "scratch_vs_transfer.csv")
    recorded = {r["run_name"]: r for r in model_records(run_dir)}
    heads = {r["params"]["model"]: r for name, r in recorded.items() if name.startswith(PHOTOS_PREFIX)}
    scratch = [name for name in SCRATCH_RUNS if name in recorded]
    assert heads and central["family"].tolist() == ["from scratch"] * len(scratch) + ["transfer"] * len(heads)
    for _, row in central[central["family"] == "transfer"].iterrows():
        record = heads[row["model"]]
        assert row["test top-1"] == pytest.approx(record["metrics"]["top1"])
        assert row["low"] <= row["test top-1"] <= row["high"]
        assert row["test photos"] == record["data"]["counts"]["test"]
        assert row["training photos"] == record["data"]["counts"]["train"]
