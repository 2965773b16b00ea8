"""Comparison of trained models and the shelter advice, on results records the tests write themselves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dogbreeds.core.recordfile import RecordError, make_record, write_record
from dogbreeds.data.folder import ImageRecord
from dogbreeds.data.labels import LabelMap
from dogbreeds.experiments.comparison import (
    ACCURACY_COLUMNS,
    COST_COLUMNS,
    BestModel,
    ComparisonError,
    NoModelRecordsError,
    choose_best,
    comparison_markdown,
    comparison_table,
    pick_photos,
    readable_table,
    resolve_model_path,
    studied_markdown,
    worst_breed,
)
from dogbreeds.experiments.predictions import PredictionsError, predict_split
from dogbreeds.experiments.records import check_model_record, load_records
from dogbreeds.shelter.advice import shelter_advice, shelter_markdown, shipped_model_markdown, threshold_markdown

DATA_DIR = "/data/dogs"


def write_model(
    folder: Path,
    run_name: str,
    kind: str,
    top1: float,
    *,
    parameters: int = 1000,
    val_top1: float | None = None,
    model_path: str | None = None,
    timestamp: str | None = None,
    data_dir: str = DATA_DIR,
    num_classes: int = 5,
    **extra_metrics: float,
) -> Path:
    params = {"model": run_name.replace("_", " "), "parameters": parameters, "data_dir": data_dir}
    if model_path is not None:
        params["model_path"] = model_path
    metrics = {
        "top1": top1,
        "top5": min(1.0, top1 + 0.3),
        "macro_f1": top1 - 0.02,
        "kappa": top1 - 0.1,
        **extra_metrics,
    }
    if val_top1 is not None:
        metrics["val_top1"] = val_top1
    record = make_record(
        run_name,
        kind,
        params=params,
        metrics=metrics,
        timings={"train_seconds": 10.0 * top1, "inference_ms_per_image": 2.5},
        num_classes=num_classes,
        source="test",
    )
    if timestamp is not None:
        record["timestamp"] = timestamp
    return write_record(record, folder)


@pytest.fixture
def results(tmp_path: Path) -> Path:
    folder = tmp_path / "results"
    write_model(folder, "scratch_cnn_best", "scratch", 0.40, parameters=50_000, val_top1=0.45)
    write_model(folder, "mobilenet_v2_head", "transfer", 0.80, parameters=2_300_000, val_top1=0.85, ece=0.05)
    write_model(
        folder,
        "mobilenet_v2_finetune_30",
        "transfer",
        0.85,
        parameters=2_300_000,
        val_top1=0.82,
        ece=0.08,
        model_path="models/best_transfer",
    )
    write_record(make_record("no_whitening", "ablation", metrics={"top1": 0.9}), folder)
    write_record(make_record("pillow_vs_opencv", "preprocessing", timings={"resize": 1.0}), folder)
    return folder


def test_table_holds_one_row_per_model_best_test_top1_first(results: Path) -> None:
    table = comparison_table(load_records(results), data_dir=DATA_DIR, num_classes=5)

    assert table["run_name"].tolist() == ["mobilenet_v2_finetune_30", "mobilenet_v2_head", "scratch_cnn_best"]
    assert set(table["kind"]) == {"scratch", "transfer"}  # the ablation's 0.9 is not a model
    scratch = table.set_index("run_name").loc["scratch_cnn_best"]
    assert scratch["top1"] == pytest.approx(0.40)
    assert scratch["top5"] == pytest.approx(0.70)
    assert scratch["parameters"] == 50_000
    assert scratch["train_seconds"] == pytest.approx(4.0)
    assert np.isnan(scratch["ece"]) and pd.isna(scratch["model_path"])
    assert table["parameters"].dtype == np.int64


def test_table_keeps_the_latest_record_of_a_rerun_model(tmp_path: Path) -> None:
    write_model(tmp_path, "head", "transfer", 0.5, timestamp="2026-01-01T10:00:00+00:00")
    write_model(tmp_path, "head", "transfer", 0.7, timestamp="2026-01-01T11:00:00+00:00")
    write_model(tmp_path, "head", "transfer", 0.6, timestamp="2026-01-01T09:00:00+00:00")

    table = comparison_table(load_records(tmp_path))

    assert table["top1"].tolist() == [pytest.approx(0.7)]


def test_table_keeps_only_records_of_the_same_data_and_breeds(tmp_path: Path) -> None:
    write_model(tmp_path, "here", "transfer", 0.5)
    write_model(tmp_path, "other_data", "transfer", 0.9, data_dir="/elsewhere")
    write_model(tmp_path, "other_breeds", "transfer", 0.9, num_classes=120)

    table = comparison_table(load_records(tmp_path), data_dir=Path(DATA_DIR), num_classes=5)

    assert table["run_name"].tolist() == ["here"]
    with pytest.raises(NoModelRecordsError, match="for data /nowhere"):
        comparison_table(load_records(tmp_path), data_dir="/nowhere")


def test_no_model_records_says_which_notebooks_to_run(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(NoModelRecordsError, match="notebooks 03 .* and 04"):
        comparison_table(load_records(tmp_path / "empty"))
    write_record(make_record("no_whitening", "ablation", metrics={"top1": 0.9}), tmp_path / "other")
    with pytest.raises(NoModelRecordsError, match="dogbreeds run --until 05"):
        comparison_table(load_records(tmp_path / "other"))


def test_a_model_record_missing_a_contract_field_fails_when_it_is_written() -> None:
    with pytest.raises(
        RecordError,
        match=r"'bare' cannot be compared: params\.parameters is missing; "
        r"metrics\.top5 is missing.*timings\.train_seconds is missing",
    ):
        check_model_record(make_record("bare", "scratch", params={"model": "bare"}, metrics={"top1": 0.5}))
    with pytest.raises(RecordError, match=r"metrics\.kappa is missing.*metrics\.ece is 'high'"):
        check_model_record(
            make_record(
                "holey",
                "transfer",
                params={"model": "x", "parameters": 1},
                metrics={"top1": 0.1, "top5": 0.2, "macro_f1": 0.1, "kappa": None, "ece": "high"},
                timings={"train_seconds": 1.0, "inference_ms_per_image": 1.0},
            )
        )
    assert check_model_record(make_record("anything", "ablation", metrics={"top1": 0.5}))["kind"] == "ablation"


def test_records_from_elsewhere_missing_a_contract_field_are_named(tmp_path: Path) -> None:
    record = json.loads(write_model(tmp_path / "mixed", "complete", "scratch", 0.5).read_text())
    for section, name in (("metrics", "top5"), ("timings", "train_seconds")):
        del record[section][name]
    for folder in (tmp_path / "alone", tmp_path / "mixed"):  # written by hand, as an older dogbreeds did
        folder.mkdir(exist_ok=True)
        (folder / "older.json").write_text(json.dumps({**record, "run_name": "older"}))
    with pytest.raises(ComparisonError, match=r"metrics\.top5 \(top5\).*timings\.train_seconds"):
        comparison_table(load_records(tmp_path / "alone"))
    with pytest.raises(ComparisonError, match=r"\['older'\] have empty values"):
        comparison_table(load_records(tmp_path / "mixed"))


def test_best_model_is_chosen_on_validation_when_every_model_has_it(results: Path) -> None:
    table = comparison_table(load_records(results))

    best = choose_best(table)
    assert (best.run_name, best.criterion, best.chosen_on_test) == ("mobilenet_v2_head", "validation top-1", False)
    assert best.score == pytest.approx(0.85)
    assert best.model_path is None

    saved = choose_best(table, saved_only=True)
    assert saved.run_name == "mobilenet_v2_finetune_30"
    assert saved.model_path == "models/best_transfer"
    assert saved.kind == "transfer" and saved.model == "mobilenet v2 finetune 30"


def test_best_model_falls_back_to_test_top1_and_says_so(tmp_path: Path) -> None:
    write_model(tmp_path, "a", "scratch", 0.6, val_top1=0.9)
    write_model(tmp_path, "b", "transfer", 0.7)

    best = choose_best(comparison_table(load_records(tmp_path)))

    assert (best.run_name, best.criterion, best.chosen_on_test) == ("b", "test top-1", True)


def test_best_model_ties_go_to_the_smaller_model_never_to_the_test_score(tmp_path: Path) -> None:
    write_model(tmp_path, "big", "transfer", 0.7, parameters=5000)
    write_model(tmp_path, "small", "transfer", 0.7, parameters=100)
    assert choose_best(comparison_table(load_records(tmp_path))).run_name == "small"

    write_model(tmp_path / "val", "big_better_on_test", "transfer", 0.9, parameters=5000, val_top1=1.0)
    write_model(tmp_path / "val", "small", "transfer", 0.6, parameters=100, val_top1=1.0)
    assert choose_best(comparison_table(load_records(tmp_path / "val"))).run_name == "small"


def test_equal_models_go_to_the_saved_one(tmp_path: Path) -> None:
    write_model(tmp_path, "a_unsaved", "transfer", 0.9, parameters=100, val_top1=1.0)
    write_model(tmp_path, "b_saved", "transfer", 0.8, parameters=100, val_top1=1.0, model_path="models/b")

    table = comparison_table(load_records(tmp_path))

    assert choose_best(table).run_name == choose_best(table, saved_only=True).run_name == "b_saved"


def test_readable_table_has_short_headings_and_millions(results: Path) -> None:
    shown = readable_table(comparison_table(load_records(results)))

    assert shown.index.tolist() == ["mobilenet v2 finetune 30", "mobilenet v2 head", "scratch cnn best"]
    assert shown.columns.tolist() == [
        "kind",
        "top-1",
        "top-5",
        "macro F1",
        "kappa",
        "ECE",
        "parameters (M)",
        "training (s)",
        "ms / photo",
    ]
    assert shown.loc["mobilenet v2 head", "parameters (M)"] == pytest.approx(2.3)
    assert shown.loc["scratch cnn best", "parameters (M)"] == pytest.approx(0.05)
    assert shown.loc["mobilenet v2 head", "macro F1"] == pytest.approx(0.78)
    cost = readable_table(comparison_table(load_records(results)), COST_COLUMNS)
    assert cost.columns.tolist() == ["kind", "parameters (M)", "training (s)", "ms / photo"]
    assert readable_table(comparison_table(load_records(results)), ACCURACY_COLUMNS).columns[-1] == "ECE"
    with pytest.raises(ComparisonError, match="Cannot display"):
        readable_table(comparison_table(load_records(results)), ["run_time"])


def test_saved_only_without_a_bundle_asks_for_notebook_04(tmp_path: Path) -> None:
    write_model(tmp_path, "a", "scratch", 0.6)
    with pytest.raises(ComparisonError, match="Run notebook 04"):
        choose_best(comparison_table(load_records(tmp_path)), saved_only=True)


def test_resolve_model_path_checks_the_folder(tmp_path: Path) -> None:
    best = BestModel("m", "M", "transfer", "test top-1", 0.5, "models/best_transfer")
    with pytest.raises(ComparisonError, match="is missing"):
        resolve_model_path(best, tmp_path)
    (tmp_path / "models" / "best_transfer").mkdir(parents=True)
    assert resolve_model_path(best, tmp_path) == tmp_path / "models" / "best_transfer"
    with pytest.raises(ComparisonError, match="not saved"):
        resolve_model_path(BestModel("m", "M", "scratch", "test top-1", 0.5, None), tmp_path)


def test_worst_breed_is_lowest_accuracy_then_more_photos() -> None:
    per_breed = pd.DataFrame({"breed": ["a", "b", "c", "d"], "n": [4, 2, 5, 0], "accuracy": [0.5, 0.25, 0.25, np.nan]})
    assert worst_breed(per_breed) == "c"
    with pytest.raises(ComparisonError):
        worst_breed(per_breed.iloc[3:])


def test_pick_photos_spreads_over_breeds_and_is_seeded() -> None:
    records = [ImageRecord(Path(f"/img/{label}/{i}.jpg"), label) for label in ("x", "y", "z") for i in range(4)]
    picked = pick_photos(records, 5, seed=1)

    assert len(picked) == len(set(picked)) == 5
    assert {records[i].label_id for i in picked[:3]} == {"x", "y", "z"}
    reversed_records = list(reversed(records))
    assert [reversed_records[i] for i in pick_photos(reversed_records, 5, seed=1)] == [records[i] for i in picked]
    assert sorted(pick_photos(records, 50, seed=1)) == list(range(12))
    with pytest.raises(ComparisonError):
        pick_photos(records, 0, seed=1)


class FakePredictor:
    """Answers photo_probabilities from a table path -> probabilities over its own breed order."""

    def __init__(self, breeds: list[str], table: dict[str, list[float]]) -> None:
        self.class_names, self.table, self.calls = tuple(breeds), table, []

    def photo_probabilities(self, records):
        self.calls.append(len(records))
        return np.array([self.table[record.path.name] for record in records], dtype=np.float64)


def test_predict_split_puts_probabilities_in_label_map_order() -> None:
    label_map = LabelMap(("n02088364-beagle", "n02115641-dingo", "n02111889-Samoyed"))
    records = [ImageRecord(Path("/x/a.jpg"), "n02115641-dingo"), ImageRecord(Path("/x/b.jpg"), "n02111889-Samoyed")]
    predictor = FakePredictor(["Samoyed", "beagle", "dingo"], {"a.jpg": [0.1, 0.3, 0.6], "b.jpg": [0.5, 0.4, 0.1]})

    result = predict_split(predictor, records, label_map)

    assert predictor.calls == [2]
    np.testing.assert_array_equal(result.labels, [1, 2])
    np.testing.assert_allclose(result.probabilities, [[0.3, 0.6, 0.1], [0.4, 0.1, 0.5]])
    assert result.paths == (Path("/x/a.jpg"), Path("/x/b.jpg"))


def test_predict_split_rejects_a_model_of_other_breeds() -> None:
    label_map = LabelMap(("n02088364-beagle", "n02115641-dingo", "n02111889-Samoyed"))
    records = [ImageRecord(Path("/x/a.jpg"), "n02115641-dingo")]
    with pytest.raises(PredictionsError, match="knows 2 breeds but this run has 3"):
        predict_split(FakePredictor(["beagle", "dingo"], {"a.jpg": [0.4, 0.6]}), records, label_map)
    with pytest.raises(PredictionsError, match="'pug'.*other breeds"):
        predict_split(FakePredictor(["beagle", "pug", "dingo"], {"a.jpg": [0.2, 0.2, 0.6]}), records, label_map)
    with pytest.raises(PredictionsError, match="empty"):
        predict_split(FakePredictor([], {}), [], label_map)


def test_comparison_markdown_weighs_transfer_against_scratch(results: Path) -> None:
    text = comparison_markdown(comparison_table(load_records(results)))

    assert text.startswith("**Best model: mobilenet v2 head** (transfer), chosen on its validation top-1 (85%).")
    # best scratch: 40% top-1, 50,000 parameters, 4 s; best transfer (by validation): 80%, 2.3 M, 8 s
    assert "reaches 80% test top-1 against 40%" in text
    assert "40 percentage points more" in text
    assert "46.0 times the parameters" in text
    assert "8 s of training against 4 s" in text
    assert "2.5 ms against 2.5 ms per photo" in text


def test_comparison_markdown_with_one_kind_and_no_validation(tmp_path: Path) -> None:
    write_model(tmp_path, "a", "transfer", 0.7)
    text = comparison_markdown(comparison_table(load_records(tmp_path)))

    assert "chosen on its test top-1 (70%)" in text and "slightly optimistic" in text
    assert "Only transfer models were trained on these photos" in text


def test_comparison_markdown_calls_a_tie_a_tie(tmp_path: Path) -> None:
    write_model(tmp_path, "cnn", "scratch", 0.701, parameters=10)
    write_model(tmp_path, "head", "transfer", 0.698, parameters=20)

    assert (
        "reaches 70% test top-1 against 70% for the best CNN trained from scratch (cnn), as much,"
        in comparison_markdown(comparison_table(load_records(tmp_path)))
    )


def confident_predictions(correct: list[bool], confidence: list[float], classes: int = 4):
    """Labels and probabilities with the given top confidence, right or wrong as told."""
    labels = np.arange(len(correct)) % classes
    probabilities = np.zeros((len(correct), classes))
    for row, (right, top) in enumerate(zip(correct, confidence)):
        predicted = labels[row] if right else (labels[row] + 1) % classes
        probabilities[row] = (1 - top) / (classes - 1)
        probabilities[row, predicted] = top
    return labels, probabilities


def test_shelter_threshold_is_chosen_on_validation_and_measured_on_test() -> None:
    # Validation: the 6 photos at >= 0.8 are all right; lower ones are half wrong.
    val = confident_predictions(
        [True] * 6 + [False, True, False, True], [0.95, 0.9, 0.9, 0.85, 0.8, 0.8, 0.7, 0.6, 0.5, 0.4]
    )
    # Test: 4 of 10 photos at >= 0.8, 3 of them right; 5 right in all.
    test = confident_predictions(
        [True, True, True, False, True, True, False, False, False, False],
        [0.99, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.5, 0.4, 0.3],
    )

    advice = shelter_advice(*val, *test, target_accuracy=0.95, min_kept=5)

    assert advice.threshold == pytest.approx(0.75)  # lowest grid threshold keeping only the sure six
    assert advice.validation_accuracy == pytest.approx(1.0)
    assert advice.automatic_share == pytest.approx(0.4)
    assert advice.human_share == pytest.approx(0.6)
    assert advice.automatic_accuracy == pytest.approx(0.75)
    assert advice.top1 == pytest.approx(0.5)
    assert advice.top5 == pytest.approx(1.0)  # 4 classes: top-5 holds them all
    assert advice.overconfidence == pytest.approx(np.mean([0.99, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.5, 0.4, 0.3]) - 0.5)
    assert (advice.n_validation, advice.n_test) == (10, 10)


def test_shelter_threshold_needs_enough_validation_photos() -> None:
    # Only 2 validation photos are right and sure; min_kept=5 does not trust them.
    val = confident_predictions([True, True, False, True, False, False], [0.95, 0.9, 0.6, 0.5, 0.5, 0.4])
    test = confident_predictions([True, False], [0.9, 0.8])

    advice = shelter_advice(*val, *test, target_accuracy=0.95, min_kept=5)

    assert advice.threshold is None and advice.automatic_share == 0.0 and advice.human_share == 1.0
    assert advice.automatic_accuracy is None
    assert advice.best_validation_accuracy == pytest.approx(0.6)  # threshold 0.45 keeps 5, 3 of them right
    assert shelter_advice(*val, *test, target_accuracy=0.95, min_kept=2).threshold == pytest.approx(0.65)


def test_shelter_advice_rejects_bad_settings() -> None:
    val = confident_predictions([True], [0.9])
    with pytest.raises(ComparisonError, match="target_accuracy"):
        shelter_advice(*val, *val, target_accuracy=1.5)
    with pytest.raises(ComparisonError, match="min_kept"):
        shelter_advice(*val, *val, min_kept=0)


def test_shelter_markdown_states_the_measured_numbers_and_the_imagenet_caveat() -> None:
    val = confident_predictions([True] * 6, [0.9] * 6)
    test = confident_predictions([True, True, True, False], [0.9, 0.9, 0.4, 0.9])
    advice = shelter_advice(*val, *test, target_accuracy=0.9)

    text = shelter_markdown(advice, "MobileNetV2 fine-tuned", num_classes=120)

    assert text.startswith("### This run's own model")
    assert "first for **75%** of the dogs" in text  # top-1: 3 of 4
    # every validation photo is right, so none is held back, but the test photos fall short: no bold promise
    assert "A threshold that the test photos did not confirm" in text
    assert "Automatic labelling of every photo" not in text
    assert "labels **100%**" in text and "sends **0%** to a person" in text
    assert "ImageNet" in text and "optimistic" in text
    assert "out of 120" in text and "among its five suggestions for **100%**" in text
    assert "Not confirmed on the test photos" in text and "set on 6 validation photos does not hold" in text
    confirmed = shelter_advice(*val, *confident_predictions([True] * 4, [0.9] * 4), target_accuracy=0.9)
    assert "**Automatic labelling of every photo.**" in shelter_markdown(confirmed, "CNN", num_classes=120)
    assert "among its five" not in shelter_markdown(advice, "CNN", num_classes=5)  # top-5 of 5 says nothing
    assert "ImageNet" not in shelter_markdown(advice, "CNN", num_classes=120, transfer=False)


def test_shelter_markdown_without_a_threshold_sends_everything_to_a_person() -> None:
    val = confident_predictions([False, True, False, True, False], [0.9, 0.9, 0.8, 0.7, 0.6])
    test = confident_predictions([True, False], [0.9, 0.8])
    advice = shelter_advice(*val, *test, target_accuracy=0.95)

    text = shelter_markdown(advice, "CNN", num_classes=5, transfer=False)

    assert "not yet" in text and "send every photo to a person" in text
    assert "the best any threshold reached was 40%" in text  # all 5 kept (min_kept), 2 right
    assert "Not confirmed" not in text
    assert "over-confident" in text  # mean confidence 0.85, accuracy 0.5


def test_shelter_markdown_with_a_threshold_confirmed_on_test() -> None:
    val = confident_predictions([True] * 6 + [False] * 4, [0.9] * 6 + [0.5] * 4)
    test = confident_predictions([True, True, True, False], [0.95, 0.9, 0.85, 0.3])
    advice = shelter_advice(*val, *test, target_accuracy=0.95)

    text = shelter_markdown(advice, "CNN", num_classes=10, transfer=False)

    assert advice.threshold == pytest.approx(0.55)
    assert "above a confidence of 0.55" in text and "the 10 validation photos" in text
    assert "labels **75%** of the dogs automatically, with **100%** of them correct" in text
    assert "sends **25%** to a person" in text
    assert "Not confirmed" not in text


def test_shares_close_to_the_ends_are_not_rounded_to_them() -> None:
    val = confident_predictions([True] * 6, [0.9] * 6, classes=10)
    test = confident_predictions([True] * 249 + [False], [0.9] * 250, classes=10)  # 249 of 250: 99.6%
    advice = shelter_advice(*val, *test, target_accuracy=0.9)

    text = shelter_markdown(advice, "CNN", num_classes=10)

    assert "first for **99.6%** of the dogs" in text
    assert "**100%** of the dogs automatically" in text


def test_studied_markdown_names_the_model_and_a_better_one_not_saved() -> None:
    saved = BestModel("head", "MobileNetV2 + head", "transfer", "validation top-1", 0.8, "models/best_transfer")
    text = studied_markdown(saved, saved, validation=1200, test=8580)
    assert text == (
        "Studied below: **MobileNetV2 + head**, chosen on its validation top-1, on 1,200 validation "
        "and 8,580 test photos."
    )
    better = BestModel("cnn", "Scratch CNN", "scratch", "validation top-1", 0.9, None)
    assert studied_markdown(saved, better, 1, 2).endswith("The best model overall, **Scratch CNN**, was not saved.")


def test_threshold_markdown_reads_the_chosen_threshold_or_says_there_is_none() -> None:
    val = confident_predictions([True] * 6 + [False] * 4, [0.9] * 6 + [0.5] * 4)
    test = confident_predictions([True, True, True, False], [0.95, 0.9, 0.85, 0.3])
    text = threshold_markdown(shelter_advice(*val, *test, target_accuracy=0.95))
    assert "threshold (0.55, set on 10 validation photos) labels **75%** of the test photos without a person" in text
    assert "**100.0%** of them right, against 75.0% for all photos at threshold 0" in text
    never = shelter_advice(*confident_predictions([False] * 5, [0.9] * 5), *test, target_accuracy=0.95)
    assert threshold_markdown(never).startswith("No threshold reached the target")


def test_shipped_model_markdown_states_the_official_and_the_run_s_numbers() -> None:
    official = {
        "n": 8580,
        "top1": 0.912,
        "top5": 0.991,
        "dogs_flagged_not_a_dog": 0.004,
        "at_threshold": {"coverage": 0.81, "accuracy": 0.968},
    }
    by_status = pd.DataFrame(
        {"photos": [30, 6], "share": [30 / 36, 6 / 36], "accuracy": [0.9, 0.5]}, index=["labelled", "ask a human"]
    )
    text = shipped_model_markdown(official, by_status, "sample", confidence_threshold=0.62, dog_threshold=0.5)
    assert (
        "(120 breeds, 8,580 photos)" in text and "first for **91.2%** of the dogs" in text and "top 5 for 99.1%" in text
    )
    assert "threshold (0.62) it labels **81%** of them without a person, **96.8%** correctly" in text
    assert (
        "On the 36 whole test photos of sample it labels **83%** without a person, **90.0%** of them correctly" in text
    )
    assert "under 0.50 are called *not a dog* (0.4% of the dog photos" in text and "ImageNet" in text
    nobody = shipped_model_markdown(official, by_status.drop(index="labelled"), "sample", 0.62, 0.5)
    assert "On the 6 whole test photos of sample it labels none without a person." in nobody
