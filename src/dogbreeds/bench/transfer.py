"""``dogbreeds bench transfer``: frozen ImageNet backbones + heads on the official train list, scored on the
official test list; one variant per table row (head kind, flip training/test-time augmentation, ensembles of
backbones, ImageNet-head start). Records (``kind="benchmark"``, the command in ``source``) go to
``benchmarks/results/`` by default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from dogbreeds.bench.common import DEFAULT_RESULTS_DIR, BenchError, write_bench_record
from dogbreeds.core.config import DEFAULT_SEED
from dogbreeds.core.provenance import data_hash
from dogbreeds.data.folder import discover
from dogbreeds.data.labels import LabelMap
from dogbreeds.data.splits import official_split, split_records
from dogbreeds.experiments.transfer_experiment import TransferExperiment
from dogbreeds.experiments.transfer_variants import TransferVariant

DEFAULT_BACKBONES = ("mobilenet_v2", "efficientnet_lite0")
TABLE_COLUMNS = ("variant", "top1", "top5", "macro_f1", "train_s", "feature_s", "predict_s")


def default_transfer_variants(backbones: Sequence[str] = DEFAULT_BACKBONES) -> list[TransferVariant]:
    """Each backbone alone (logreg, keras, + flip TTA, + flip training), ensembles, then ImageNet-head variants."""
    variants: list[TransferVariant] = []
    for name in backbones:
        variants += [
            TransferVariant(f"{name}/logreg", (name,), "logreg"),
            TransferVariant(f"{name}/keras", (name,), "keras"),
            TransferVariant(f"{name}/keras+tta", (name,), "keras", flip_tta=True),
            TransferVariant(f"{name}/keras+fliptrain+tta", (name,), "keras", flip_train=True, flip_tta=True),
        ]
    if len(backbones) > 1:
        joined = "+".join(backbones)
        variants += [
            TransferVariant(
                f"concat({joined})/keras+fliptrain+tta", tuple(backbones), "keras", flip_train=True, flip_tta=True
            ),
            TransferVariant(
                f"average({joined})/keras+fliptrain+tta",
                tuple(backbones),
                "keras",
                "average",
                flip_train=True,
                flip_tta=True,
            ),
            TransferVariant(
                f"average({joined})/keras+fliptrain+tta+refit",
                tuple(backbones),
                "keras",
                "average",
                flip_train=True,
                flip_tta=True,
                refit=True,
            ),
        ]
    for name in backbones:
        variants.append(TransferVariant(f"{name}/imagenet-head+tta", (name,), "imagenet", flip_tta=True))
    if len(backbones) > 1:
        joined = "+".join(backbones)
        variants += [
            TransferVariant(
                f"average({joined})/imagenet-head+tta", tuple(backbones), "imagenet", "average", flip_tta=True
            ),
            TransferVariant(
                f"average({joined})/imagenet-start+fliptrain+tta",
                tuple(backbones),
                "keras",
                "average",
                flip_train=True,
                flip_tta=True,
                imagenet_start=True,
            ),
        ]
    return variants


# Long by its options and the record it writes per variant; the loop reads best in one piece.
def bench_transfer(
    data_dir: str | os.PathLike,
    *,
    variants: Sequence[TransferVariant] | None = None,
    val_fraction: float = 0.1,
    image_size: tuple[int, int] | None = None,
    batch_size: int = 64,
    head_epochs: int = 200,
    logreg_c: float = 0.1,
    cache_dir: str | os.PathLike | None = None,
    results_dir: str | os.PathLike = DEFAULT_RESULTS_DIR,
    seed: int = DEFAULT_SEED,
    source: str | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Score transfer-learning variants on the official test list; one record and table row per variant.

    The official train list is split as every notebook splits it (``data.split_records``:
    ``val_fraction`` of each breed, seeded) and the variants run on the engine of
    ``transfer_experiment``, as notebook 04 runs them. ``feature_s`` is the time to get a
    variant's features in this run (from the cache when ``features_cached`` is true in the record).
    """
    variants = list(variants) if variants is not None else default_transfer_variants()
    if not variants:
        raise BenchError("No variant to run.")
    official_split(data_dir)  # the lists must be there
    index = discover(data_dir)
    split = split_records(index, val_fraction=val_fraction, seed=seed)
    label_map = LabelMap.from_records([*split.train, *split.val, *split.test])
    experiment = TransferExperiment(
        split,
        label_map,
        image_size=image_size,
        batch_size=batch_size,
        cache_dir=cache_dir,
        head_epochs=head_epochs,
        logreg_c=logreg_c,
        seed=seed,
        progress=progress,
    )
    hashed = data_hash([record.path for record in (*split.train, *split.val, *split.test)], data_dir)
    rows = []
    for variant in tqdm(variants, desc="transfer variants", unit="variant", disable=not progress):
        result = experiment.run(variant)
        fields = result.record_fields()
        metrics = fields["metrics"]
        path = write_bench_record(
            f"transfer-{variant.name}",
            "transfer",
            data_dir,
            results_dir,
            params={
                **fields["params"],
                "image_size": list(image_size) if image_size else "backbone default",
                "val_fraction": val_fraction,
            },
            metrics=metrics,
            history=fields["history"],
            timings=fields["timings"],
            data_counts=split.counts(),
            num_classes=len(label_map),
            seed=seed,
            source=source,
            data_hash=hashed,
        )
        if progress:
            tqdm.write(
                f"{variant.name}: top-1 {metrics['top1']:.1%}, top-5 {metrics['top5']:.1%}, "
                f"macro F1 {metrics['macro_f1']:.3f} ({path.name})"
            )
        rows.append(_table_row(variant.name, metrics, result.timings, path))
    return pd.DataFrame(rows, columns=[*TABLE_COLUMNS, "record"])


def _table_row(name: str, metrics: Mapping[str, Any], timings: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """A variant's row of the transfer table."""
    return {
        "variant": name,
        "top1": metrics["top1"],
        "top5": metrics["top5"],
        "macro_f1": metrics["macro_f1"],
        "train_s": timings["train_seconds"],
        "feature_s": timings["feature_seconds"],
        "predict_s": timings["predict_seconds"],
        "record": str(path),
    }


def format_table(table: pd.DataFrame) -> str:
    """The transfer table as Markdown: scores in percent, timings in seconds."""
    lines = [
        "| variant | top-1 | top-5 | macro F1 | train s | feature s | predict s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in table.itertuples():
        lines.append(
            f"| {row.variant} | {row.top1:.1%} | {row.top5:.1%} | {row.macro_f1:.3f} | {row.train_s:.1f} "
            f"| {row.feature_s:.1f} | {row.predict_s:.1f} |"
        )
    return "\n".join(lines)
