"""Notebook 04 (transfer learning) on the bundled sample with the test parameters."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dogbreeds.experiments.head_to_head import PHOTOS_PREFIX, SIZE_KIND, SIZES, TRANSFER_SIZE_PREFIX
from dogbreeds.experiments.predictions import load_predictions
from dogbreeds.models.backbones import BACKBONES
from dogbreeds.models.bundle import load_bundle
from dogbreeds.study.profiles import PROFILES
from dogbreeds.study.session import Study

from .conftest import TEST_PARAMETERS, load_results, notebook_errors

NOTEBOOK = "04_transfer_learning"
USED = tuple(name for name in ("mobilenet_v2", "efficientnet_lite0", "efficientnet_lite2") if BACKBONES[name].offline)
HEADS = tuple(f"{name}/keras" for name in USED)  # the notebook's default backbone_names
TTA = tuple(f"{head}+tta" for head in HEADS)  # the same heads, each photo and its mirror averaged
DEPTHS = (1, 2)  # last blocks fine-tuned with the final convolution
FEATURES = 1280  # every offline backbone's pooled feature size
IMAGE_SIZE = 160  # the quick profile's transfer image size


def all_records(run_dir: Path) -> dict[str, dict]:
    return {record["run_name"]: record for record in load_results(run_dir, NOTEBOOK)}


def the_records(run_dir: Path) -> dict[str, dict]:
    """The records of the variants on the breeds benchmark (not those on the whole photos)."""
    records = {
        name: record
        for name, record in all_records(run_dir).items()
        if not name.startswith((PHOTOS_PREFIX, TRANSFER_SIZE_PREFIX))
    }
    assert {record["kind"] for record in records.values()} == {"transfer"}
    return records


def study_data(tmp_path: Path):
    """The run's split and label map, as the notebook's Study made them."""
    overrides = {key: TEST_PARAMETERS[key] for key in ("breeds", "image_size", "epochs", "tuner_trials")}
    study = Study.start(
        NOTEBOOK,
        TEST_PARAMETERS["profile"],
        output_dir=tmp_path,
        seed=TEST_PARAMETERS["seed"],
        seeded=False,
        **overrides,
    )
    return study.data()


@pytest.mark.notebook
def test_one_record_per_variant_with_consistent_metrics(executed):
    run_dir = executed(NOTEBOOK)
    assert notebook_errors(run_dir, NOTEBOOK) == []
    records = the_records(run_dir)
    tuned = sorted(name for name in records if "/finetune-" in name)
    assert set(records) == {*HEADS, *TTA, *tuned} and len(tuned) == len(DEPTHS)
    [tuned_backbone] = {records[name]["params"]["backbone"] for name in tuned}
    assert tuned == sorted(f"{tuned_backbone}/finetune-{depth}" for depth in DEPTHS)
    # The fine-tuned backbone is the one whose head did best on validation (the first one on a tie).
    head_val = [records[name]["metrics"]["val_top1"] for name in HEADS]
    assert tuned_backbone == HEADS[head_val.index(max(head_val))].removesuffix("/keras")
    assert all(records[name]["params"]["flip_tta"] and not records[name]["params"]["optimistic"] for name in TTA)

    for name, record in records.items():
        metrics, params, timings = record["metrics"], record["params"], record["timings"]
        assert metrics["n"] == record["data"]["counts"]["test"] > 0
        assert metrics["num_classes"] == record["data"]["num_classes"] == TEST_PARAMETERS["breeds"]
        for key in ("top1", "top5", "macro_f1", "ece", "val_top1"):
            assert 0.0 <= metrics[key] <= 1.0, (name, key)
        assert metrics["top1"] <= metrics["top5"] and -1.0 <= metrics["kappa"] <= 1.0
        assert metrics["top1"] > 1 / TEST_PARAMETERS["breeds"]  # ImageNet features beat chance even briefly trained
        assert params["image_size"] == [IMAGE_SIZE, IMAGE_SIZE] and params["model"]
        assert params["parameters"] > params["trainable_parameters"] > 0
        assert timings["train_seconds"] > 0 and timings["inference_ms_per_image"] > 0
        assert len(record["history"]["loss"]) == len(record["history"]["val_loss"]) >= 1

    classes = TEST_PARAMETERS["breeds"]
    for name in (*HEADS, *TTA):
        assert records[name]["params"]["trainable_parameters"] == FEATURES * classes + classes  # the softmax only
        assert len(records[name]["history"]["loss"]) <= PROFILES["quick"]["head_epochs"]
    for head, tta in zip(HEADS, TTA):  # one head, classified once or with its mirror: twice the time per photo
        assert records[tta]["history"] == records[head]["history"]
    trainable = [
        records[name]["params"]["trainable_parameters"]
        for name in (f"{tuned_backbone}/keras", *(f"{tuned_backbone}/finetune-{depth}" for depth in DEPTHS))
    ]
    assert trainable == sorted(trainable) and len(set(trainable)) == len(trainable)  # deeper trains more weights
    assert all(
        records[name]["params"]["parameters"] == records[f"{tuned_backbone}/keras"]["params"]["parameters"]
        for name in tuned
    )
    [saved] = [name for name, record in records.items() if "model_path" in record["params"]]
    assert (run_dir / records[saved]["params"]["model_path"] / "predictions.npz").is_file()


@pytest.mark.notebook
def test_best_model_by_validation_is_saved_and_reproduces_its_test_accuracy(executed, tmp_path):
    run_dir = executed(NOTEBOOK)
    records = the_records(run_dir)
    saved = [record for record in records.values() if "model_path" in record["params"]]
    assert len(saved) == 1 and saved[0]["params"]["model_path"] == "models/best_transfer"
    best = saved[0]
    assert best["metrics"]["val_top1"] == max(record["metrics"]["val_top1"] for record in records.values())

    bundle = run_dir / best["params"]["model_path"]
    meta = json.loads((bundle / "preprocessing.json").read_text())
    data = study_data(tmp_path)
    assert meta["image_size"] == [IMAGE_SIZE, IMAGE_SIZE] and meta["backbone"] == best["params"]["backbone"]
    assert meta["class_names"] == list(data.label_map.names) and meta["extra"]["run_name"] == best["run_name"]

    predictor = load_bundle(bundle)
    ranked = predictor.predict_paths([record.path for record in data.split.test], top_k=1)
    labels = [data.label_map.encode(record.label_id) for record in data.split.test]
    hits = [scores[0].breed == data.label_map.names[label] for scores, label in zip(ranked, labels)]
    single_pass = records[best["run_name"].removesuffix("+tta")]  # the bundle classifies each photo once
    assert sum(hits) / len(hits) == pytest.approx(single_pass["metrics"]["top1"])

    saved_predictions = np.load(bundle / "predictions.npz")  # what notebook 05 studies: the best variant's own
    assert (
        saved_predictions["test_probabilities"].argmax(axis=1) == saved_predictions["test_labels"]
    ).mean() == pytest.approx(best["metrics"]["top1"])
    assert list(saved_predictions["test_paths"]) == [str(record.path) for record in data.split.test]


@pytest.mark.notebook
def test_figures_and_results_table(executed):
    run_dir = executed(NOTEBOOK)
    records = the_records(run_dir)
    figures = run_dir / "figures" / NOTEBOOK
    heads = [name for name in records if name not in TTA and "/finetune-" not in name]
    expected = [f"learning_curves_{name.replace('/', '_')}.png" for name in heads]
    expected += ["transfer_comparison.png", "gradcam_best_model.png", "fine_tuning_curves.png"]
    for name in expected:
        assert (figures / name).stat().st_size > 10_000, name
    table = pd.read_csv(figures / "transfer_results.csv", index_col="run_name")
    assert set(table.index) == set(records)
    for name, record in records.items():
        assert table.loc[name, "test top-1"] == pytest.approx(record["metrics"]["top1"])
        assert table.loc[name, "validation top-1"] == pytest.approx(record["metrics"]["val_top1"])


@pytest.mark.notebook
def test_heads_on_the_whole_photos_and_the_data_size_curve_are_recorded_with_predictions(executed, tmp_path):
    run_dir = executed(NOTEBOOK)
    records = all_records(run_dir)
    [saved] = [record for record in the_records(run_dir).values() if "model_path" in record["params"]]
    heads = {name: record for name, record in records.items() if name.startswith(PHOTOS_PREFIX)}
    assert sorted(heads) == sorted(f"{PHOTOS_PREFIX}{name}" for name in USED)
    data = study_data(tmp_path)  # the bundled sample: the whole photos are the same folder
    for record in heads.values():
        assert record["kind"] == "transfer" and record["params"]["dataset"] == data.index.root.name
        assert record["params"]["flip_tta"] == saved["params"]["flip_tta"]  # TTA when the saved model uses it
        assert record["data"]["counts"] == data.split.counts()
        test = load_predictions(run_dir / record["params"]["predictions"])["test"]
        assert [str(path) for path in test.paths] == [str(r.path) for r in data.split.test]
        assert (test.probabilities.argmax(axis=1) == test.labels).mean() == pytest.approx(record["metrics"]["top1"])

    points = {name: record for name, record in records.items() if name.startswith(TRANSFER_SIZE_PREFIX)}
    assert {record["kind"] for record in points.values()} == {SIZE_KIND}
    for backbone in USED:
        curve = sorted(
            (record["params"]["per_breed"], record["params"]["train_photos"], record)
            for name, record in points.items()
            if record["params"]["backbone"] == backbone
        )
        assert curve and curve[0][0] == SIZES[0] and {size for size, _, _ in curve} <= set(SIZES)
        counts = [count for _, count, _ in curve]
        assert counts == sorted(set(counts)) and counts[-1] <= len(data.split.train)  # nested, growing subsets
        assert counts[0] == SIZES[0] * TEST_PARAMETERS["breeds"]
        for _, count, record in curve:
            assert record["data"]["counts"]["train"] == count and record["metrics"]["n"] == len(data.split.test)
            assert (run_dir / record["params"]["predictions"]).is_file()
    assert (run_dir / "figures" / NOTEBOOK / "transfer_data_size.png").stat().st_size > 10_000


@pytest.mark.notebook
def test_fine_tuning_records_its_schedule_cost_and_paired_gain_over_its_head(executed):
    run_dir = executed(NOTEBOOK)
    records = the_records(run_dir)
    tuned = [records[name] for name in sorted(records) if "/finetune-" in name]
    head = records[f"{tuned[0]['params']['backbone']}/keras"]
    for depth, record in zip(DEPTHS, tuned):
        params, timings, history = record["params"], record["timings"], record["history"]
        assert params["fine_tuned_blocks"] == depth and params["learning_rate"] == 1e-4 and params["warmup_epochs"] == 1
        assert "AdamW" in params["schedule"] and "cosine" in params["schedule"]
        # A fixed epoch budget, the best validation epoch kept (and marked as such on the figure).
        epochs = PROFILES["quick"]["fine_tune_epochs"]
        assert params["fine_tune_epochs"] == params["epochs_run"] == len(history["val_loss"]) == epochs
        assert params["best_epoch"] == int(np.argmin(history["val_loss"])) + 1
        assert history["learning_rate"][-1] < history["learning_rate"][0]  # warm-up peak, then the decay
        # All the training photos (each with its mirror image), the last blocks and the final convolution trained.
        assert params["train_photos"] == record["data"]["counts"]["train"] and params["flip_train"]
        assert not params["flip_tta"] and params["trained_layers"][-1] == "Conv_1"
        assert len(params["trained_layers"]) == 3 * depth + 1  # expand, depthwise, project per block
        assert params["trained_weights"] == params["trainable_parameters"]
        assert timings["activation_seconds"] > 0 and timings["fine_tune_seconds"] > 0
        assert timings["train_seconds"] == pytest.approx(
            head["timings"]["train_seconds"] + timings["fine_tune_seconds"]
        )
        # The gain over the head alone: paired on the same test photos, a tie when its interval holds 0.
        gain = params["gain_over_head"]
        assert gain["versus"] == head["run_name"] and gain["photos"] == record["metrics"]["n"]
        assert gain["difference"] == pytest.approx(record["metrics"]["top1"] - head["metrics"]["top1"])
        assert gain["low"] <= gain["difference"] <= gain["high"] and 0 <= gain["p_value"] <= 1
        assert (gain["verdict"] == "tie") == (gain["low"] <= 0 <= gain["high"])
    assert tuned[0]["timings"]["activation_seconds"] == tuned[1]["timings"]["activation_seconds"]  # one pass for both
    assert (run_dir / "figures" / NOTEBOOK / "fine_tuning_curves.png").stat().st_size > 10_000
