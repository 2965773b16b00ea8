"""The fine-tuning section's sentences: the set-up, and each depth's cost and paired gain (or tie)."""

from __future__ import annotations

import numpy as np

from dogbreeds.experiments.fine_tune_text import fine_tune_results_markdown, fine_tune_setup_markdown
from dogbreeds.experiments.transfer_experiment import TransferResult
from dogbreeds.experiments.transfer_variants import FineTuneVariant, TransferVariant, fine_tune_variants
from dogbreeds.models.fine_tuning import FineTuneSchedule

LABELS = np.arange(200) % 4


def probabilities(right: int) -> np.ndarray:
    """One-hot answers, the first ``right`` photos right and the others wrong."""
    predicted = np.where(np.arange(200) < right, LABELS, (LABELS + 1) % 4)
    return np.eye(4)[predicted]


def tuned_result(depth: int, right: int, difference: tuple[float, float, float], verdict: str) -> TransferResult:
    value, low, high = difference
    return TransferResult(
        variant=FineTuneVariant(f"m/finetune-{depth}", "mobilenet_v2", depth, label=f"M depth {depth}"),
        val_labels=LABELS[:20],
        val_probabilities=probabilities(20)[:20],
        test_labels=LABELS,
        test_probabilities=probabilities(right),
        class_names=("a", "b", "c", "d"),
        history={"val_accuracy": [0.5, 0.75, 0.7], "val_loss": [1.0, 0.5, 0.6]},
        timings={"fine_tune_seconds": 61.4, "activation_seconds": 480.2, "activations_cached": False},
        extra_params={
            "epochs_run": 3,
            "best_epoch": 2,
            "trained_weights": 1_310_000,
            "gain_over_head": {"difference": value, "low": low, "high": high, "p_value": 0.0123, "verdict": verdict},
        },
    )


def test_results_give_cost_kept_epoch_intervals_and_verdicts():
    start = TransferResult(
        TransferVariant("m/keras", ("mobilenet_v2",), "keras", label="M + head"),
        LABELS[:20],
        probabilities(20)[:20],
        LABELS,
        probabilities(150),
        ("a", "b", "c", "d"),
    )
    better = tuned_result(1, 170, (0.1, 0.05, 0.15), "better")
    tie = tuned_result(2, 152, (0.01, -0.02, 0.04), "tie")
    text = fine_tune_results_markdown([better, tie], start)
    first, second, cost = text.splitlines()
    assert first.startswith("- *M depth 1* (1.31 million weights trained): 3 epochs in 61 s, weights of epoch 2 kept")
    assert "(validation top-1 75.0 %)" in first and "Test top-1 85.0 % (" in first and "against 75.0 % (" in first
    assert (
        "+10.0 points (+5.0 to +15.0)" in first and "p = 0.012" in first and "**better** than the head alone" in first
    )
    assert "+1.0 points (-2.0 to +4.0)" in second and "**a tie**: the interval contains 0" in second
    assert "computed and cached once for all depths, in 480 s" in cost
    assert fine_tune_results_markdown([], start) == ""


def test_setup_states_photos_schedule_and_kept_epoch():
    schedule = FineTuneSchedule(learning_rate=1e-4, epochs=10, warmup_epochs=1)
    text = fine_tune_setup_markdown("Lite2", {"Lite2 + head": 0.875, "Lite0 + head": 0.836}, 6480, schedule, 32)
    assert "**Lite2**" in text and "Lite2 + head 87.5%, Lite0 + head 83.6%" in text
    assert "all 6,480 training photos" in text and "mirror image" in text and "batches of 32, for 10 epochs" in text
    assert "AdamW with weight decay 0.01" in text and "from 0 to 0.0001 over the first epoch, then" in text
    assert "cosine to 1% of the peak" in text and "lowest validation loss" in text
    assert "`" not in text


def test_fine_tune_variants_name_their_depth_in_words():
    schedule = FineTuneSchedule(epochs=3)
    variants = fine_tune_variants("efficientnet_lite2", [0, 1, 2], schedule)
    assert [variant.name for variant in variants] == [f"efficientnet_lite2/finetune-{depth}" for depth in (0, 1, 2)]
    assert [variant.label for variant in variants] == [
        "EfficientNet-Lite2 fine-tuned: final convolution",
        "EfficientNet-Lite2 fine-tuned: last block + final convolution",
        "EfficientNet-Lite2 fine-tuned: last 2 blocks + final convolution",
    ]
    params = variants[1].params()
    assert (
        params["fine_tuned_blocks"] == 1 and params["fine_tune_epochs"] == 3 and params["schedule"] == schedule.text()
    )
