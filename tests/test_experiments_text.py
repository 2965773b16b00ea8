"""Tests of dogbreeds.experiments.scratch_text and transfer_text (notebooks 03 and 04's sentences)."""

from __future__ import annotations

import pandas as pd

from dogbreeds.experiments.scratch_text import (
    ablation_display,
    ablation_summary,
    data_size_display,
    scratch_conclusions,
)
from dogbreeds.experiments.transfer_text import (
    chart_markdown,
    epochs_markdown,
    head_runs_markdown,
    saved_bundle_markdown,
    transfer_conclusions,
    verdicts_markdown,
)

ABLATION = pd.DataFrame(
    {
        "variant": ["baseline", "wider", "no_dropout", "sgd"],
        "change": ["reference", "filters: 32-64 -> 64-128", "dropout: 0.3 -> 0.0", "optimizer: adamw -> sgd"],
        "control": [None, "baseline", "baseline", "baseline"],
        "test_accuracy": [0.40, 0.45, 0.41, 0.30],
        "test_accuracy_std": [0.01, 0.02, 0.015, 0.03],
        "difference": [float("nan"), 0.05, 0.01, -0.10],
        "difference_low": [float("nan"), 0.01, -0.02, -0.14],
        "difference_high": [float("nan"), 0.09, 0.04, -0.06],
        "p_holm": [float("nan"), 0.04, 0.6, 0.003],
        "verdict": ["reference", "better", "tie", "worse"],
        "seeds": [3, 3, 3, 3],
        "epochs_run": [30, 30, 30, 30],
        "epoch_kept": [30, 30, 30, 30],
        "test_images": [501] * 4,
    }
)


def model_record(top1: float, low: float, high: float, **params) -> dict:
    return {
        "data": {"num_classes": 10},
        "metrics": {"top1": top1, "top1_low": low, "top1_high": high},
        "timings": {"epochs_run": 30, "epoch_kept": 30},
        "params": params,
    }


TABLE = pd.DataFrame(
    {
        "model": [
            "MobileNetV2 + head",
            "MobileNetV2 + head, flip TTA",
            "Lite0 + head",
            "MobileNetV2 fine-tuned (last 10)",
        ],
        "validation top-1": [0.80, 0.82, 0.75, 0.85],
        "test top-1": [0.78, 0.80, 0.70, 0.83],
        "test top-5": [0.97, 0.98, 0.95, 0.99],
        "training (s)": [3.2, 3.2, 2.1, 40.0],
        "ms per photo": [5.0, 10.0, 6.0, 5.1],
        "parameters (M)": [2.26, 2.26, 3.4, 2.26],
    },
    index=["mobilenet_v2/keras", "mobilenet_v2/keras+tta", "efficientnet_lite0/keras", "mobilenet_v2/finetune-10"],
)
HEADS = TABLE.index[:3]


def test_ablation_display_has_words_for_headers_and_no_empty_numbers():
    table = ablation_display(ABLATION)
    assert list(table.index) == ["baseline", "wider", "no dropout", "sgd"]
    assert table.loc["wider", "difference (95 % interval)"] == "+5.0 points (+1.0 to +9.0)"
    assert table.loc["baseline", "test accuracy"] == "40.0 % ± 1.0" and table.loc["baseline", "verdict"] == "reference"
    assert table.loc["sgd", "Holm-adjusted p"] == "0.003" and table.loc["sgd", "epochs run / kept"] == "30 / 30"
    assert not table.isna().any().any()


def test_ablation_summary_lists_verdicts_with_intervals_and_says_how_the_family_is_guarded():
    text = ablation_summary(ABLATION)
    assert "- Better than the baseline: wider (+5.0 points (+1.0 to +9.0))." in text
    assert "- Worse than the baseline: sgd (-10.0 points (-14.0 to -6.0))." in text
    assert "- Ties (the difference could be zero): no dropout (+1.0 points (-2.0 to +4.0))." in text
    assert "40.0 % on the 501 test photos, averaged over 3 seeds; every arm trained the same 30 epochs" in text
    assert "How the 3 comparisons are guarded" in text and "Holm's correction adjusts the 3 p-values" in text


def test_scratch_conclusions_give_each_model_with_its_interval_and_the_data_size_curve():
    baseline = model_record(0.40, 0.36, 0.44, seeds=[1, 2, 3])
    tuned = model_record(
        0.42,
        0.38,
        0.46,
        seeds=[1, 2, 3],
        comparison={"difference": 0.02, "difference_low": -0.01, "difference_high": 0.05, "verdict": "tie"},
    )
    pretrained = model_record(0.61, 0.57, 0.65, pretraining={"images": 7200, "breeds": 120, "epochs": 36})
    search = {"params": {"trials": 6}}
    sizes = [{"params": {"per_breed": n}, "metrics": {"top1": t}} for n, t in ((25, 0.2), (10, 0.15))]
    text = scratch_conclusions(baseline, tuned, pretrained, search, sizes)
    assert text.startswith("- Chance with 10 breeds is 10%. The baseline recipe reaches 40.0 % (36.0–44.0 %)")
    assert "(mean of 3 seeds, 30 epochs, the last kept)" in text
    assert "tried 6 settings of the recipe; its best, retrained with 3 seeds, reaches 42.0 % (38.0–46.0 %)" in text
    assert "+2.0 points (-1.0 to +5.0) against the baseline on the same photos (verdict: tie)" in text
    assert "on 7,200 photos of 120 breeds (36 epochs)" in text and "61.0 % (57.0–65.0 %) on the test" in text
    assert "(baseline recipe, one seed each): 10: 15.0 %, 25: 20.0 %." in text
    assert "(1 epoch)" in scratch_conclusions(
        baseline,
        tuned,
        {**pretrained, "params": {"pretraining": {"images": 9, "breeds": 2, "epochs": 1}}},
        search,
        sizes,
    )


def test_data_size_display_orders_the_points_with_their_intervals():
    records = [
        {
            "params": {"per_breed": n, "train_images": 10 * n},
            "metrics": {"top1": t, "top1_low": t - 0.05, "top1_high": t + 0.05},
        }
        for n, t in ((50, 0.3), (10, 0.15))
    ]
    table = data_size_display(records)
    assert list(table.index) == [10, 50] and table.loc[50, "training photos"] == 500
    assert table.loc[10, "test accuracy (95 % interval)"] == "15.0 % (10.0–20.0 %)"


def test_head_runs_count_variants_backbones_and_photos():
    text = head_runs_markdown(2, 1, {"train": 1200, "val": 300, "test": 8580})
    assert text.startswith("2 variants on 1 backbone; training photos: 1,200,") and "test photos: 8,580." in text


def test_epochs_state_the_epoch_kept_by_the_lowest_validation_loss():
    history = {"val_loss": [1.0, 0.5, 0.7], "val_accuracy": [0.5, 0.75, 0.7], "accuracy": [0.4, 0.9, 0.95]}
    text = epochs_markdown({"MobileNetV2 + head": history, "Lite0 + head": {k: v[:1] for k, v in history.items()}})
    assert text.splitlines() == [
        "- MobileNetV2 + head: 3 epochs run, weights of epoch 2 kept (validation accuracy 75.0%, "
        "training accuracy 90.0%).",
        "- Lite0 + head: 1 epoch run, weights of epoch 1 kept (validation accuracy 50.0%, training accuracy 40.0%).",
    ]


def test_chart_gives_the_range_chance_and_the_widest_gap():
    text = chart_markdown(TABLE, breeds=3)
    assert "from 70.0% (*Lite0 + head*) to **83.0%** (*MobileNetV2 fine-tuned (last 10)*)" in text
    assert "chance at 33.3%" in text and "differ by at most 5.0 points" in text


def test_saved_bundle_names_the_variant_and_its_accuracies():
    text = saved_bundle_markdown(TABLE, "mobilenet_v2/finetune-10")
    assert text.startswith("Saved **MobileNetV2 fine-tuned (last 10)** (validation top-1 85.0%, test top-1 83.0%)")


def test_transfer_conclusions_cover_heads_tta_fine_tuning_and_the_saved_model():
    text = transfer_conclusions(TABLE, HEADS, "mobilenet_v2/keras", "mobilenet_v2/finetune-10", "MobileNetV2", 3, 36)
    lines = text.splitlines()
    assert lines[0] == "- Chance level with 3 breeds is 33.3%."
    assert (
        "best head on validation is **MobileNetV2 + head, flip TTA** (82.0% validation top-1, **80.0% test" in lines[1]
    )
    assert "on 36 test photos, top-5 98.0%); the heads trained in 3 s or less" in lines[1]
    assert "Flip TTA changes test top-1 by +2.0 points (MobileNetV2 + head)." in lines[1]
    assert lines[2] == (
        "- Fine-tuning MobileNetV2: test top-1 MobileNetV2 fine-tuned (last 10) 83.0%, against 78.0% for its head "
        "alone (validation: 85.0% against 80.0%)."
    )
    assert (
        lines[3] == "- Saved for prediction: **MobileNetV2 fine-tuned (last 10)**, 5.1 ms per photo here, "
        "2.3 million parameters."
    )
    heads_only = TABLE.loc[["efficientnet_lite0/keras"]]
    text = transfer_conclusions(
        heads_only, heads_only.index, "efficientnet_lite0/keras", "efficientnet_lite0/keras", "L", 1, 1
    )
    assert "Flip TTA" not in text and "Fine-tuning" not in text and "on 1 test photo," in text


def test_verdicts_call_a_difference_inside_its_interval_a_tie():
    comparisons = pd.DataFrame(
        {
            "model": ["Lite2 + head", "Lite0 + head", "MobileNetV2 + head"],
            "test top-1": ["87.6 % (86.9–88.3 %)", "87.3 % (86.6–88.0 %)", "84.0 % (83.2–84.8 %)"],
            "difference (points)": ["reference", "-0.3 points (-0.9 to +0.3)", "-3.6 points (-4.4 to -2.8)"],
            "McNemar p": [float("nan"), 0.31, 1e-9],
            "verdict": ["reference", "tie", "worse"],
        },
        index=["lite2", "lite0", "mobilenet"],
    )
    text = verdicts_markdown(comparisons)
    assert text.startswith("Against **Lite2 + head** (the choice on validation, 87.6 % (86.9–88.3 %) on the test")
    assert "1 variant of 2 is a tie" in text and "Holm's correction for 2 comparisons" in text
    assert text.endswith("MobileNetV2 + head is worse (-3.6 points (-4.4 to -2.8)).")
    ties = verdicts_markdown(comparisons.assign(verdict=["reference", "tie", "tie"]))
    assert "2 variants of 2 are ties" in ties and "their order in the table is noise" in ties
    conclusions = transfer_conclusions(TABLE, HEADS, "mobilenet_v2/keras", "mobilenet_v2/finetune-10", "M", 3, 36)
    assert conclusions + "\n- " + text == transfer_conclusions(
        TABLE, HEADS, "mobilenet_v2/keras", "mobilenet_v2/finetune-10", "M", 3, 36, comparisons=comparisons
    )
