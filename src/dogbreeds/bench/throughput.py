"""``dogbreeds bench throughput``: does the file pipeline keep a backbone busy?"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from dogbreeds.bench.common import DEFAULT_RESULTS_DIR, BenchError, write_bench_record
from dogbreeds.core.provenance import data_hash
from dogbreeds.core.timing import alternating_passes
from dogbreeds.data.folder import ImageRecord, discover
from dogbreeds.data.images import load_images_array
from dogbreeds.data.labels import LabelMap
from dogbreeds.inputs.pipeline import make_dataset
from dogbreeds.models.backbones import get_backbone
from dogbreeds.models.features import feature_extractor


def bench_throughput(
    data_dir: str | os.PathLike,
    *,
    backbone: str = "mobilenet_v2",
    images: int = 512,
    batch_size: int = 64,
    image_size: tuple[int, int] | None = None,
    repeats: int = 3,
    results_dir: str | os.PathLike = DEFAULT_RESULTS_DIR,
    source: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Images per second of the feature pipeline against the same backbone on preloaded tensors.

    The pipeline reads ``images`` files (spread over the breeds) with ``pipeline.make_dataset``
    (parallel decode and resize, prefetch) and runs ``features.feature_extractor`` on each
    batch; model-only runs the same compiled extractor on the same images already in
    memory. Each is timed ``repeats`` times after a warm-up, alternating, and the best pass
    counts. ``ratio`` = pipeline / model-only images per second (1.0: loading costs nothing).
    """
    if images < batch_size:
        raise BenchError(f"images ({images}) must be at least one batch ({batch_size}).")
    if repeats < 1:
        raise BenchError(f"repeats must be at least 1, got {repeats}.")
    spec = get_backbone(backbone)
    size = spec.image_size(image_size)
    chosen = _spread_records(data_dir, images)
    label_map = LabelMap.from_records(chosen)
    extract = feature_extractor(backbone, size)
    preloaded = load_images_array(chosen, size, progress=progress).astype(np.float32)
    batches = [tf.constant(preloaded[start : start + batch_size]) for start in range(0, images, batch_size)]
    dataset = make_dataset(chosen, label_map, size, batch_size, shuffle=False, cache=False)
    passes = _timed_passes(extract, batches, dataset, repeats, progress)
    model_ips = images / min(passes["model_only_seconds"])
    pipeline_ips = images / min(passes["pipeline_seconds"])
    metrics = {
        "pipeline_images_per_s": pipeline_ips,
        "model_images_per_s": model_ips,
        "ratio": pipeline_ips / model_ips,
    }
    path = write_bench_record(
        f"throughput-{backbone}",
        "throughput",
        data_dir,
        results_dir,
        params={
            "backbone": backbone,
            "images": images,
            "batch_size": batch_size,
            "image_size": list(size),
            "repeats": repeats,
            "cpu_count": os.cpu_count(),
        },
        metrics=metrics,
        timings=passes,
        data_counts={"images": images},
        num_classes=len(label_map),
        source=source,
        data_hash=data_hash([record.path for record in chosen], data_dir),
    )
    return {"metrics": metrics, "timings": passes, "record": path}


def _spread_records(data_dir: str | os.PathLike, images: int) -> list[ImageRecord]:
    """``images`` records of the folder spread evenly over its breeds (sorted by breed, then path)."""
    records = sorted(discover(data_dir).records, key=lambda record: (record.label_id, str(record.path)))
    if len(records) < images:
        raise BenchError(f"{data_dir} holds {len(records)} images; ask for at most that many (--images).")
    return [records[int(position)] for position in np.linspace(0, len(records) - 1, images)]


def _timed_passes(
    extract: Callable[[tf.Tensor], tf.Tensor],
    batches: list[tf.Tensor],
    dataset: tf.data.Dataset,
    repeats: int,
    progress: bool,
) -> dict[str, list[float]]:
    """Seconds of each pass of ``extract`` over the preloaded ``batches`` and over ``dataset``, alternating."""

    def model_only() -> None:
        for batch in batches:
            extract(batch).numpy()

    def pipeline() -> None:
        for batch, _labels in dataset:
            extract(batch).numpy()

    extract(batches[0]).numpy()  # trace and warm up
    return alternating_passes(
        {"model_only_seconds": model_only, "pipeline_seconds": pipeline},
        repeats,
        desc="throughput passes",
        progress=progress,
    )
