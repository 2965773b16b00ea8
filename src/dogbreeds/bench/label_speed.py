"""``dogbreeds bench label``: the labeller's photos per second against the model alone, in the same run.

Model-only runs the shelter model's network on the views of the same photos already in
memory, batch by batch, as the labeller batches them; the labeller reads, orients and
resizes the files, runs the same network and writes CSV rows. The ratio (labeller /
model-only) says what reading and writing cost: 1.0 means nothing.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from dogbreeds.core.provenance import data_hash
from dogbreeds.core.recordfile import make_record, write_record
from dogbreeds.core.timing import alternating_passes
from dogbreeds.data.folder import discover
from dogbreeds.data.images import load_upright
from dogbreeds.shelter.labeller import DEFAULT_BATCH, label_photos
from dogbreeds.shelter.model import ShelterModel


def bench_label(
    data_dir: str | os.PathLike,
    *,
    images: int = 256,
    repeats: int = 2,
    batch_size: int = DEFAULT_BATCH,
    model: ShelterModel | None = None,
    results_dir: str | os.PathLike,
    source: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Time ``label_photos`` on ``images`` photos of ``data_dir`` against the model on their preloaded views."""
    model = model or ShelterModel.load()
    records = sorted(discover(data_dir).records, key=lambda record: str(record.path))
    if len(records) < images:
        raise ValueError(f"{data_dir} holds {len(records)} photos; ask for at most that many.")
    chosen = [Path(records[int(i)].path) for i in np.linspace(0, len(records) - 1, images)]
    preloaded = [
        model.view_batch([load_upright(path) for path in chosen[start : start + batch_size]])
        for start in range(0, images, batch_size)
    ]
    model.score_views(preloaded[0])  # trace and warm up

    def model_only() -> None:
        for batch in preloaded:
            model.decide(*model.score_views(batch))

    def labeller() -> None:
        with tempfile.TemporaryDirectory() as folder:
            label_photos(chosen, Path(folder) / "labels.csv", model=model, batch_size=batch_size, progress=False)

    passes = alternating_passes(
        {"model_only_seconds": model_only, "label_seconds": labeller}, repeats, desc="label passes", progress=progress
    )
    model_rate = images / min(passes["model_only_seconds"])
    label_rate = images / min(passes["label_seconds"])
    metrics = {"label_photos_per_s": label_rate, "model_photos_per_s": model_rate, "ratio": label_rate / model_rate}
    record = make_record(
        "label-throughput",
        "benchmark",
        params={
            "bench": "label",
            "data_dir": Path(data_dir).name,
            "images": images,
            "batch_size": batch_size,
            "views": list(model.config.views),
            "backbone": model.config.backbone,
            "repeats": repeats,
            "cpu_count": os.cpu_count(),
        },
        metrics=metrics,
        timings=passes,
        data_counts={"images": images},
        num_classes=len(model.config.label_ids),
        source=source,
        data_hash=data_hash(chosen, data_dir),
    )
    return {"metrics": metrics, "timings": passes, "record": write_record(record, results_dir)}
