"""Tests of dogbreeds.experiments.scratch_text and transfer_text (notebooks 03 and 04's sentences)."""

from __future__ import annotations

import pandas as pd

from dogbreeds.experiments.scratch_text import scratch_conclusions
from dogbreeds.experiments.transfer_text import (
    chart_markdown,
    epochs_markdown,
    fine_tune_choice_markdown,
    head_runs_markdown,
    saved_bundle_markdown,
    transfer_conclusions,
    verdicts_markdown,
)

ABLATION = pd.DataFrame({"variant": ["baseline", "wider"], "test_accuracy": [0.4, 0.45], "val_accuracy": [0.38, 0.5]})
SEARCH = {"params": {"trials": 2, "tuner": "random"}, "metrics": {"best_val_accuracy": 0.52}}
BEST = {
    "data": {"num_classes": 3},
    "metrics": {"top1": 0.5, "val_top1": 0.55, "top5": 1.0, "macro_f1": 0.481},
    "timings": {"train_seconds": 12.4, "epochs_run": 2, "best_epoch": 1, "inference_ms_per_image": 0.84},
    "params": {"parameters": 123456},
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


def test_scratch_conclusions_state_chance_baseline_tuned_cnn_and_search():
    text = scratch_conclusions(ABLATION, SEARCH, BEST)
    assert text.startswith("- Chance level with 3 breeds is 33%. The baseline reaches 40% test accuracy (38% on val")
    assert "the tuned CNN 50% (validation 55%, top-5 100%, macro F1 0.48)" in text
    assert "has 123,456 parameters, trained in 12 s (2 epochs, best at epoch 1) and predicts in 0.8 ms" in text
    assert "- Tuner: 2 trials (random search); the best validation accuracy of a trial was 52%." in text
    one = {**BEST, "data": {"num_classes": 1}, "timings": {**BEST["timings"], "epochs_run": 1}}
    text = scratch_conclusions(ABLATION.iloc[1:], {**SEARCH, "params": {"trials": 1, "tuner": "bayesian"}}, one)
    assert (
        "with 1 breed is 100%. The tuned CNN reaches 50%" in text and "(1 epoch, best" in text and "1 trial (" in text
    )


def test_head_runs_count_variants_backbones_and_photos():
    text = head_runs_markdown(2, 1, {"train": 1200, "val": 300, "test": 8580})
    assert text.startswith("2 variants on 1 backbone; training photos: 1,200,") and "test photos: 8,580." in text


def test_fine_tune_choice_lists_the_heads_validation_scores():
    text = fine_tune_choice_markdown("MobileNetV2", {"MobileNetV2 + head": 0.8, "Lite0 + head": 0.75}, None)
    assert "**MobileNetV2**, whose head" in text and "(MobileNetV2 + head 80.0%, Lite0 + head 75.0%)" in text
    assert "on all training photos" in text and "on 1,000 training photos" in fine_tune_choice_markdown("M", {}, 1000)


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
    assert "chance at 33.3%" in text and "differ by at most 5.0%" in text


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
    assert "Flip TTA changes test top-1 by +2.0% (MobileNetV2 + head)." in lines[1]
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
