"""Notebook 03's tables and conclusions in words, from its ablation table and its results records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from dogbreeds.core.words import counted
from dogbreeds.judge.intervals import Interval


def _percent(value: float) -> str:
    return f"{value:.1%}".replace("%", " %")


def _difference(row: Any) -> str:
    return Interval(row.difference, row.difference_low, row.difference_high).signed_text()


def ablation_display(table: pd.DataFrame) -> pd.DataFrame:
    """The ablation table for reading: one row per arm, words for headers, formatted numbers, no empty cells."""
    rows = []
    for row in table.itertuples():
        compared = row.verdict != "reference"
        spread = f" ± {row.test_accuracy_std * 100:.1f}" if pd.notna(row.test_accuracy_std) else ""
        rows.append(
            {
                "arm": row.variant.replace("_", " "),
                "change": row.change.replace("_", " ") if compared else "the recipe itself",
                "test accuracy": _percent(row.test_accuracy) + spread,
                "difference (95 % interval)": _difference(row) if compared else "",
                "Holm-adjusted p": f"{row.p_holm:.3f}" if compared else "",
                "verdict": row.verdict,
                "epochs run / kept": f"{row.epochs_run:.0f} / {row.epoch_kept:.0f}",
            }
        )
    return pd.DataFrame(rows).set_index("arm")


def ablation_summary(table: pd.DataFrame) -> str:
    """The verdicts of the arms, their intervals, and how the family of comparisons is guarded, as Markdown."""
    compared = table[table["verdict"] != "reference"]
    reference = table[table["verdict"] == "reference"].iloc[0]

    def listed(verdict: str) -> str:
        rows = compared[compared["verdict"] == verdict].sort_values("difference", ascending=verdict == "worse")
        items = [f"{row.variant.replace('_', ' ')} ({_difference(row)})" for row in rows.itertuples()]
        return ", ".join(items) or "none"

    count, seeds, photos = len(compared), int(table["seeds"].min()), int(reference["test_images"])
    return "\n".join(
        [
            f"- Better than the baseline: {listed('better')}.",
            f"- Worse than the baseline: {listed('worse')}.",
            f"- Ties (the difference could be zero): {listed('tie')}.",
            f"- The baseline reaches {_percent(reference['test_accuracy'])} on the {photos} test photos, averaged "
            f"over {counted(seeds, 'seed')}; every arm trained the same {reference['epochs_run']:.0f} epochs and "
            "kept its last one.",
            f"- How the {count} comparisons are guarded: each difference comes with a 95 % interval from a "
            "bootstrap that resamples the test photos and the seeds together, and a p-value from the same "
            f"draws. Holm's correction adjusts the {count} p-values as one family, and an arm is called better "
            "or worse only when its adjusted p-value is under 0.05 and its interval excludes zero. The chance "
            f"that any of the {count} verdicts is a false 'better' or 'worse' stays under 5 %.",
        ]
    )


def trials_display(trials: pd.DataFrame, space: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    """The tuner's trials for reading, best first: validation accuracy and the value of each searched setting."""
    rows = []
    for rank, row in enumerate(trials.itertuples(index=False), start=1):
        values = row._asdict()
        score = values["score"]
        line = {"rank": rank, "validation accuracy": _percent(score) if pd.notna(score) else "failed"}
        line.update({name.replace("_", " "): str(values.get(name, "")) for name in space})
        rows.append(line)
    return pd.DataFrame(rows).set_index("rank")


def tuned_display(baseline: Any, tuned: Any, comparison: Any) -> pd.DataFrame:
    """The baseline and the tuned recipe side by side: settings changed, accuracy, difference and verdict.

    ``baseline`` and ``tuned`` are ablation results (mean accuracy over seeds with its interval);
    ``comparison`` is the tuned recipe against the baseline on the same test photos.
    """
    return pd.DataFrame(
        [
            {
                "recipe": "baseline",
                "settings": "the recipe itself",
                "test accuracy (95 % interval)": baseline.interval().text(),
                "difference with the baseline": "",
                "verdict": "reference",
            },
            {
                "recipe": "tuned",
                "settings": tuned.change.replace("_", " "),
                "test accuracy (95 % interval)": tuned.interval().text(),
                "difference with the baseline": comparison.difference.signed_text(),
                "verdict": comparison.verdict,
            },
        ]
    ).set_index("recipe")


def data_size_display(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The data-size points for reading: photos a breed, training photos, test accuracy with its interval."""
    rows = []
    for record in sorted(records, key=lambda r: r["params"]["per_breed"]):
        metrics = record["metrics"]
        interval = Interval(metrics["top1"], metrics["top1_low"], metrics["top1_high"])
        rows.append(
            {
                "photos a breed": record["params"]["per_breed"],
                "training photos": record["params"]["train_images"],
                "test accuracy (95 % interval)": interval.text(),
            }
        )
    return pd.DataFrame(rows).set_index("photos a breed")


def _accuracy(record: Mapping[str, Any]) -> str:
    metrics = record["metrics"]
    return Interval(metrics["top1"], metrics["top1_low"], metrics["top1_high"]).text()


def scratch_conclusions(
    baseline: Mapping[str, Any],
    tuned: Mapping[str, Any],
    pretrained: Mapping[str, Any],
    search: Mapping[str, Any],
    sizes: Sequence[Mapping[str, Any]],
) -> str:
    """Chance, the baseline, the tuned and the pre-trained CNN with their intervals, and the data-size curve."""
    breeds = baseline["data"]["num_classes"]
    seeds = len(baseline["params"]["seeds"])
    versus = tuned["params"]["comparison"]
    gap = Interval(versus["difference"], versus["difference_low"], versus["difference_high"]).signed_text()
    pre = pretrained["params"]["pretraining"]
    points = ", ".join(
        f"{record['params']['per_breed']}: {_percent(record['metrics']['top1'])}"
        for record in sorted(sizes, key=lambda r: r["params"]["per_breed"])
    )
    return "\n".join(
        [
            f"- Chance with {counted(breeds, 'breed')} is {1 / breeds:.0%}. The baseline recipe reaches "
            f"{_accuracy(baseline)} on the test photos (mean of {counted(seeds, 'seed')}, "
            f"{baseline['timings']['epochs_run']:.0f} epochs, the last kept).",
            f"- The search tried {counted(search['params']['trials'], 'setting')} of the recipe; its best, retrained "
            f"with {counted(len(tuned['params']['seeds']), 'seed')}, reaches {_accuracy(tuned)}: "
            f"{gap} against the baseline on the same photos (verdict: {versus['verdict']}).",
            f"- Pre-trained from random weights on {pre['images']:,} photos of {pre['breeds']} breeds "
            f"({counted(pre['epochs'], 'epoch')}), then trained on these breeds, the same network reaches "
            f"{_accuracy(pretrained)} on the test photos.",
            f"- Training photos a breed against test accuracy (baseline recipe, one seed each): {points}.",
        ]
    )
