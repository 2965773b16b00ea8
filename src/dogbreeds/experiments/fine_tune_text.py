"""Notebook 04's fine-tuning section in words: the set-up, then each depth's cost and gain over the head alone.

The gain is the paired comparison of the fine-tuned model with the head it started from, on the same
test photos (:func:`~dogbreeds.judge.intervals.paired_comparison`); a gain whose interval contains 0
is called a tie.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dogbreeds.core.words import counted
from dogbreeds.experiments.transfer_experiment import TransferResult
from dogbreeds.judge.intervals import accuracy_interval, correctness
from dogbreeds.models.fine_tuning import FineTuneSchedule


def fine_tune_setup_markdown(
    backbone: str, heads: Mapping[str, float], train_photos: int, schedule: FineTuneSchedule, batch_size: int
) -> str:
    """Which ``backbone`` is fine-tuned (its head did best of ``heads``: label -> validation top-1), and how."""
    scores = ", ".join(f"{label} {score:.1%}" for label, score in heads.items())
    warm_up = (
        f"rises linearly from 0 to {schedule.learning_rate:g} over the first "
        f"{'epoch' if schedule.warmup_epochs == 1 else counted(schedule.warmup_epochs, 'epoch')}, then falls"
        if schedule.warmup_epochs
        else f"starts at {schedule.learning_rate:g} and falls"
    )
    return (
        f"Fine-tuned: **{backbone}**, whose head reached the best validation top-1 ({scores}). "
        f"Training uses all {train_photos:,} training photos, each shown once per epoch as itself or as its "
        f"mirror image (drawn at random), in batches of {batch_size}, for {counted(schedule.epochs, 'epoch')}. "
        f"The optimizer is AdamW with weight decay {schedule.weight_decay:g}; its learning rate {warm_up} along "
        f"a cosine to {schedule.final_fraction:.0%} of the peak by the last epoch. The weights kept are those of "
        "the epoch with the lowest validation loss."
    )


def fine_tune_results_markdown(tuned: Sequence[TransferResult], start: TransferResult) -> str:
    """Per depth: weights trained, epochs run and kept, cost, test top-1 and the paired gain over ``start``."""
    head = _top1_text(start)
    lines = []
    for result in tuned:
        params, timings = result.extra_params, result.timings
        gain = params["gain_over_head"]
        change = f"{100 * gain['difference']:+.1f} points ({100 * gain['low']:+.1f} to {100 * gain['high']:+.1f})"
        verdict = (
            "**a tie**: the interval contains 0"
            if gain["verdict"] == "tie"
            else f"**{gain['verdict']}** than the head alone"
        )
        kept = params["best_epoch"] - 1
        lines.append(
            f"- *{result.variant.label}* ({params['trained_weights'] / 1e6:.2f} million weights trained): "
            f"{counted(params['epochs_run'], 'epoch')} in {timings['fine_tune_seconds']:.0f} s, weights of epoch "
            f"{params['best_epoch']} kept (validation top-1 {100 * result.history['val_accuracy'][kept]:.1f} %). "
            f"Test top-1 {_top1_text(result)} against {head} for the head alone: a difference of {change}, "
            f"McNemar p = {gain['p_value']:.2g}, {verdict}."
        )
    if tuned:
        first = tuned[0].timings
        source = "read from the disk cache" if first["activations_cached"] else "computed and cached"
        lines.append(
            f"- The activations entering the trained blocks (training and validation photos, their mirror images, "
            f"test photos) were {source} once for all depths, in {first['activation_seconds']:.0f} s; "
            "fine-tuning never runs the frozen part of the backbone again."
        )
    return "\n".join(lines)


def _top1_text(result: TransferResult) -> str:
    """Test top-1 with its 95 % Wilson interval."""
    correct = correctness(result.test_labels, result.test_probabilities)
    return accuracy_interval(int(correct.sum()), len(correct)).text()
