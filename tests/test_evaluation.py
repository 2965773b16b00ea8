"""Evaluation metrics checked against hand-computed cases and scikit-learn."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from dogbreeds.judge import evaluation as ev

# Four photos, four classes. Ranks of the true class: 1st, 2nd, 4th, 3rd (the tie at
# 0.25 between classes 0 and 1 is broken by label order).
TOY_PROBS = np.array(
    [
        [0.50, 0.30, 0.15, 0.05],
        [0.10, 0.20, 0.30, 0.40],
        [0.40, 0.35, 0.20, 0.05],
        [0.25, 0.25, 0.40, 0.10],
    ]
)
TOY_LABELS = np.array([0, 2, 3, 1])
TOY_NAMES = ["beagle", "boxer", "collie", "dingo"]


def one_hot_probs(predicted: list[int], num_classes: int, confidence: float = 0.7) -> np.ndarray:
    """Rows whose top class is `predicted`, with the rest of the mass spread evenly."""
    probs = np.full((len(predicted), num_classes), (1 - confidence) / (num_classes - 1))
    probs[np.arange(len(predicted)), predicted] = confidence
    return probs


@pytest.mark.parametrize("k, expected", [(1, 0.25), (2, 0.5), (3, 0.75), (4, 1.0), (5, 1.0), (100, 1.0)])
def test_top_k_accuracy_on_hand_computed_toy(k, expected):
    assert ev.top_k_accuracy(TOY_LABELS, TOY_PROBS, k=k) == pytest.approx(expected)


def test_top1_agrees_with_argmax_on_ties():
    probs = np.array([[0.5, 0.5], [0.5, 0.5]])
    assert ev.top_k_accuracy([0, 1], probs, k=1) == pytest.approx(0.5)
    assert list(ev.predicted_labels(probs)) == [0, 0]


def test_cohen_kappa_hand_computed_and_against_sklearn():
    # p_o = 3/4, p_e = 1/2 * 1/4 + 1/2 * 3/4 = 1/2, kappa = (3/4 - 1/2) / (1 - 1/2) = 1/2
    assert ev.cohen_kappa([0, 0, 1, 1], one_hot_probs([0, 1, 1, 1], 2)) == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 6, 200)
    probs = rng.dirichlet(np.ones(6), 200)
    assert ev.cohen_kappa(labels, probs) == pytest.approx(cohen_kappa_score(labels, probs.argmax(1)))


def test_macro_f1_skips_only_classes_absent_from_truth_and_predictions():
    # class 0: P=1, R=1/2 -> 2/3; class 1: P=1/3, R=1 -> 1/2; class 2: never predicted -> 0;
    # class 3: not in y_true and never predicted -> undefined, left out of the mean.
    value = ev.macro_f1([0, 0, 1, 2], one_hot_probs([0, 1, 1, 1], 4))
    assert value == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)


def test_confusion_matrix_keeps_columns_of_missing_classes():
    matrix = ev.confusion_matrix([0, 2, 2], one_hot_probs([0, 2, 3], 4))
    assert matrix.shape == (4, 4)
    assert matrix.tolist() == [[1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 1], [0, 0, 0, 0]]


def test_per_breed_accuracy_counts_and_nan_for_missing_breed():
    table = ev.per_breed_accuracy([0, 0, 0, 1, 1], one_hot_probs([0, 0, 1, 1, 0], 3), ["a", "b", "c"])
    assert table["breed"].tolist() == ["a", "b", "c"]
    assert table["n"].tolist() == [3, 2, 0]
    assert table["correct"].tolist() == [2, 1, 0]
    assert table["accuracy"].iloc[:2].tolist() == pytest.approx([2 / 3, 1 / 2])
    assert np.isnan(table["accuracy"].iloc[2])


def test_most_confused_pairs_order_counts_and_shares():
    labels = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    predicted = [1, 1, 0, 0, 1, 1, 0, 2, 2]
    pairs = ev.most_confused_pairs(labels, one_hot_probs(predicted, 3), ["a", "b", "c"], top_n=3)
    assert list(zip(pairs["true_breed"], pairs["predicted_breed"])) == [("a", "b"), ("b", "a"), ("c", "a")]
    assert pairs["count"].tolist() == [2, 1, 1]
    assert pairs["share"].tolist() == pytest.approx([2 / 3, 1 / 2, 1 / 4])


def test_most_confused_pairs_empty_when_all_correct():
    assert ev.most_confused_pairs([0, 1], one_hot_probs([0, 1], 2), ["a", "b"]).empty


def test_most_confused_classes_picks_classes_in_mistakes():
    matrix = np.diag([10, 10, 10, 10, 10])
    matrix[3, 1] = 4
    matrix[0, 3] = 1
    assert ev.most_confused_classes(matrix, 2).tolist() == [1, 3]
    assert ev.most_confused_classes(matrix, 10).tolist() == [0, 1, 2, 3, 4]


def test_the_matrix_excerpt_holds_every_breed_of_the_top_pairs():
    # breed 2 -> 3 is the second most frequent mistake, yet breed 2 is involved in fewer mistakes than
    # breed 4 (many small ones): ranking by involvement alone left it out of the excerpt
    matrix = np.diag([10, 10, 10, 10, 10, 10])
    matrix[0, 1], matrix[2, 3], matrix[4, 0], matrix[5, 4], matrix[4, 1], matrix[3, 5] = 5, 4, 3, 3, 2, 1
    labels = np.repeat(np.arange(6), matrix.sum(axis=1))
    predicted = np.concatenate([np.repeat(np.arange(6), row) for row in matrix])
    pairs = ev.most_confused_pairs(labels, one_hot_probs(predicted, 6), list("abcdef"), top_n=2)
    assert pairs[["true_label", "predicted_label"]].values.tolist() == [[0, 1], [2, 3]]
    assert ev.most_confused_classes(matrix, 4).tolist() == [0, 1, 2, 3]
    assert ev.most_confused_classes(matrix, 5).tolist() == [0, 1, 2, 3, 5]  # 5 -> 4 (3 of 13) ranks before 4 -> 0


# Confidences 0.9 (right), 0.8 (wrong), 0.6 (right), 0.3 (wrong) in 4 bins of width 0.25:
# (0.75, 1]: conf 0.85, acc 0.5, gap 0.35; (0.5, 0.75]: 0.6 vs 1; (0.25, 0.5]: 0.3 vs 0.
# ECE = 2/4 * 0.35 + 1/4 * 0.4 + 1/4 * 0.3 = 0.35; MCE = 0.4.
CALIBRATION_PROBS = np.array(
    [
        [0.90, 0.05, 0.03, 0.02],
        [0.10, 0.80, 0.05, 0.05],
        [0.60, 0.20, 0.10, 0.10],
        [0.30, 0.25, 0.25, 0.20],
    ]
)
CALIBRATION_LABELS = np.array([0, 0, 0, 1])


def test_expected_and_maximum_calibration_error_hand_computed():
    assert ev.expected_calibration_error(CALIBRATION_LABELS, CALIBRATION_PROBS, n_bins=4) == pytest.approx(0.35)
    table = ev.reliability_table(CALIBRATION_LABELS, CALIBRATION_PROBS, n_bins=4)
    assert ev.calibration_errors(table) == pytest.approx((0.35, 0.4))


def test_reliability_table_bins():
    table = ev.reliability_table(CALIBRATION_LABELS, CALIBRATION_PROBS, n_bins=4)
    assert table["count"].tolist() == [0, 1, 1, 2]
    assert table["bin_upper"].tolist() == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert table["confidence"].iloc[3] == pytest.approx(0.85)
    assert table["accuracy"].iloc[1:].tolist() == pytest.approx([0.0, 1.0, 0.5])
    assert np.isnan(table["accuracy"].iloc[0])


def test_reliability_bins_are_closed_on_the_right():
    probs = np.array([[0.5, 0.5], [1.0, 0.0]])
    assert ev.reliability_table([0, 0], probs, n_bins=4)["count"].tolist() == [0, 1, 0, 1]


def test_perfectly_calibrated_predictions_have_zero_ece():
    # 10 photos at confidence 0.7, 7 of them right.
    probs = one_hot_probs([0] * 10, 2, confidence=0.7)
    labels = [0] * 7 + [1] * 3
    assert ev.expected_calibration_error(labels, probs, n_bins=10) == pytest.approx(0.0, abs=1e-12)


def test_confidence_threshold_table_coverage_and_selective_accuracy():
    table = ev.confidence_threshold_table(CALIBRATION_LABELS, CALIBRATION_PROBS, thresholds=[0.0, 0.5, 0.85, 0.95])
    assert table["n_kept"].tolist() == [4, 3, 1, 0]
    assert table["coverage"].tolist() == pytest.approx([1.0, 0.75, 0.25, 0.0])
    assert table["selective_accuracy"].iloc[:3].tolist() == pytest.approx([0.5, 2 / 3, 1.0])
    assert np.isnan(table["selective_accuracy"].iloc[3])
    chosen = ev.threshold_for_accuracy(table, 0.9)
    assert chosen["threshold"] == pytest.approx(0.85)
    assert ev.threshold_for_accuracy(table, 1.01) is None


def test_error_gallery_groups_sorted_by_confidence_with_images():
    labels = [0, 0, 0, 1, 1, 2]
    probs = np.array(
        [
            [0.6, 0.2, 0.2],  # beagle right, 0.6
            [0.9, 0.05, 0.05],  # beagle right, 0.9
            [0.2, 0.7, 0.1],  # beagle missed, called boxer
            [0.8, 0.1, 0.1],  # boxer wrongly called beagle
            [0.1, 0.8, 0.1],
            [0.5, 0.1, 0.4],  # collie wrongly called beagle
        ]
    )
    images = [np.full((4, 4, 3), i, dtype=np.uint8) for i in range(6)]
    gallery = ev.error_gallery(labels, probs, ["beagle", "boxer", "collie"], "beagle", images=images, per_group=5)
    assert [item.index for item in gallery.true_positives] == [1, 0]
    assert [item.index for item in gallery.false_negatives] == [2]
    assert gallery.false_negatives[0].predicted_breed == "boxer"
    assert gallery.false_negatives[0].true_class_probability == pytest.approx(0.2)
    assert [item.index for item in gallery.false_positives] == [3, 5]
    assert [item.true_breed for item in gallery.false_positives] == ["boxer", "collie"]
    assert gallery.false_positives[1].confidence == pytest.approx(0.5)
    assert gallery.false_positives[0].image[0, 0, 0] == 3
    assert ev.error_gallery(labels, probs, ["beagle", "boxer", "collie"], 0, per_group=1).true_positives[0].index == 1


def test_error_gallery_rejects_unknown_breed():
    with pytest.raises(ev.EvaluationInputError, match="Unknown breed 'poodle'"):
        ev.error_gallery(TOY_LABELS, TOY_PROBS, TOY_NAMES, "poodle")


def test_evaluate_returns_strict_json_scalars():
    metrics = ev.evaluate(TOY_LABELS, TOY_PROBS, TOY_NAMES)
    assert set(metrics) == {"n", "num_classes", "top1", "top5", "macro_f1", "kappa", "ece", "mce"}
    assert metrics["n"] == 4 and metrics["num_classes"] == 4
    assert metrics["top1"] == pytest.approx(0.25)
    assert metrics["top5"] == pytest.approx(1.0)
    assert metrics["ece"] == pytest.approx(ev.expected_calibration_error(TOY_LABELS, TOY_PROBS))
    assert json.loads(json.dumps(metrics, allow_nan=False)) == metrics


def test_evaluate_reports_undefined_kappa_as_none():
    metrics = ev.evaluate([0, 0], one_hot_probs([0, 0], 3), ["a", "b", "c"])
    assert metrics["kappa"] is None
    assert metrics["top1"] == 1.0


@pytest.mark.parametrize(
    "labels, probs, names, message",
    [
        ([0, 1, 2], TOY_PROBS, None, "3 labels but probabilities has 4 rows"),
        ([0, 1, 2, 7], TOY_PROBS, None, "outside 0..3"),
        ([[0], [1], [2], [3]], TOY_PROBS, None, "1-D"),
        ([0, 1, 2, 3], TOY_PROBS - 0.5, None, "softmax"),
        ([0, 1, 2, 3], TOY_PROBS[0], None, "2-D"),
        ([0.5, 1, 2, 3], TOY_PROBS, None, "integer label ids"),
        (["a", "b", "c", "d"], TOY_PROBS, None, "integer label ids"),
        ([], np.zeros((0, 4)), None, "empty"),
        ([0, 1, 2, 3], TOY_PROBS, ["a", "b"], "class_names has 2 names"),
    ],
)
def test_bad_inputs_raise_clear_value_errors(labels, probs, names, message):
    with pytest.raises(ValueError, match=message):
        ev.check_predictions(labels, probs, names)


def test_metrics_validate_their_inputs():
    with pytest.raises(ev.EvaluationInputError, match="rows"):
        ev.evaluate(TOY_LABELS[:3], TOY_PROBS, TOY_NAMES)
    with pytest.raises(ev.EvaluationInputError, match="k must be at least 1"):
        ev.top_k_accuracy(TOY_LABELS, TOY_PROBS, k=0)
    with pytest.raises(ev.EvaluationInputError, match="n_bins"):
        ev.reliability_table(TOY_LABELS, TOY_PROBS, n_bins=0)
    with pytest.raises(ev.EvaluationInputError, match="thresholds"):
        ev.confidence_threshold_table(TOY_LABELS, TOY_PROBS, thresholds=[1.5])
