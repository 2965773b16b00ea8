"""Notebook 04's tables of transfer results: every variant with its Wilson interval, and every variant
against the one chosen on validation (paired bootstrap, McNemar, Holm's correction).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from dogbreeds.experiments.transfer_experiment import TransferResult
from dogbreeds.judge.intervals import Interval, accuracy_interval, correctness, holm_verdicts, paired_comparison


def results_table(results: Sequence[TransferResult]) -> pd.DataFrame:
    """One row per result (index: run name) with readable headers, for a notebook or a report."""
    rows = {}
    for result in results:
        metrics = result.metrics()
        rows[result.run_name] = {
            "model": result.variant.label or result.run_name,
            "validation top-1": metrics["val_top1"],
            "test top-1": metrics["top1"],
            "95 % interval": _wilson(result).text(),
            "test top-5": metrics["top5"],
            "macro F1": metrics["macro_f1"],
            "kappa": metrics["kappa"],
            "calibration error": metrics["ece"],
            "parameters (M)": result.extra_params.get("parameters", float("nan")) / 1e6,
            "training (s)": result.timings.get("train_seconds"),
            "ms per photo": result.timings.get("inference_ms_per_image", float("nan")),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def _wilson(result: TransferResult) -> Interval:
    hits = correctness(result.test_labels, result.test_probabilities)
    return accuracy_interval(int(hits.sum()), len(hits))


def compare_variants(results: Sequence[TransferResult], reference: str) -> pd.DataFrame:
    """Every result against the ``reference`` run on the same test photos (index: run name).

    Columns: model, test top-1 with its Wilson interval, the difference with the reference (paired
    bootstrap interval), McNemar's p-value and the verdict, guarded by Holm's correction over the family
    ("tie" unless the interval excludes 0 and the adjusted p-value is under 0.05).
    """
    by_name = {result.run_name: result for result in results}
    base = correctness(by_name[reference].test_labels, by_name[reference].test_probabilities)
    others = [name for name in by_name if name != reference]
    comparisons = [
        paired_comparison(correctness(by_name[name].test_labels, by_name[name].test_probabilities), base)
        for name in others
    ]
    verdicts = holm_verdicts(comparisons) if comparisons else []
    chosen = by_name[reference]
    rows = {
        reference: {
            "model": chosen.variant.label or reference,
            "test top-1": _wilson(chosen).text(),
            "difference (points)": "reference",
            "McNemar p": float("nan"),
            "verdict": "reference",
        }
    }
    for name, comparison, verdict in zip(others, comparisons, verdicts, strict=True):
        rows[name] = {
            "model": by_name[name].variant.label or name,
            "test top-1": _wilson(by_name[name]).text(),
            "difference (points)": comparison.difference.signed_text(),
            "McNemar p": comparison.p_value,
            "verdict": verdict,
        }
    return pd.DataFrame.from_dict(rows, orient="index")
