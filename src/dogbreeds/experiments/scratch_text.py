"""Notebook 03's conclusions in words, from its ablation table and the records of its search and best CNN."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from dogbreeds.core.words import counted


def scratch_conclusions(table: pd.DataFrame, search: Mapping[str, Any], best: Mapping[str, Any]) -> str:
    """Chance, the baseline and the tuned CNN, its cost, and the tuner search, as a Markdown list.

    ``table`` is the ablation table (:func:`ablation_table`); ``search`` and
    ``best`` are the results records of the tuner search (kind ``tuning``) and of the retrained best CNN.
    """
    breeds = best["data"]["num_classes"]
    metrics, timings, params = best["metrics"], best["timings"], best["params"]
    variants = table.set_index("variant")
    baseline = (
        f" The baseline reaches {variants.loc['baseline', 'test_accuracy']:.0%} test accuracy "
        f"({variants.loc['baseline', 'val_accuracy']:.0%} on validation), the tuned CNN"
        if "baseline" in variants.index
        else " The tuned CNN reaches"
    )
    return "\n".join(
        [
            f"- Chance level with {counted(breeds, 'breed')} is {1 / breeds:.0%}.{baseline} {metrics['top1']:.0%} "
            f"(validation {metrics['val_top1']:.0%}, top-5 {metrics['top5']:.0%}, macro F1 {metrics['macro_f1']:.2f}).",
            f"- The tuned CNN has {counted(params['parameters'], 'parameter')}, trained in "
            f"{timings['train_seconds']:.0f} s ({counted(timings['epochs_run'], 'epoch')}, best at epoch "
            f"{timings['best_epoch']}) and predicts in {timings['inference_ms_per_image']:.1f} ms per photo on this "
            "machine.",
            f"- Tuner: {counted(search['params']['trials'], 'trial')} ({search['params']['tuner']} search); the best "
            f"validation accuracy of a trial was {search['metrics']['best_val_accuracy']:.0%}.",
        ]
    )
