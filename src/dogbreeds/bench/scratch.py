"""``dogbreeds bench scratch``: the scratch CNN recipe (:mod:`dogbreeds.models.recipes`) trained on a fixed
schedule with random resized crops on a folder's official split, optionally pre-trained (from random weights)
on another folder's train list; scored on the official test list.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from dogbreeds.bench.common import DEFAULT_RESULTS_DIR, BenchError, write_bench_record
from dogbreeds.core.config import DEFAULT_SEED
from dogbreeds.core.provenance import data_hash
from dogbreeds.data.folder import ImageRecord, discover
from dogbreeds.data.labels import LabelMap
from dogbreeds.data.splits import official_split, split_records
from dogbreeds.experiments.scratch_pretrain import PretrainError, refuse_test_photos
from dogbreeds.inputs.arrays import LabeledImages, load_labeled_images, predict_timed
from dogbreeds.inputs.augmentation import ResizedCropConfig
from dogbreeds.judge.evaluation import evaluate
from dogbreeds.models.builders import CNNConfig, count_params
from dogbreeds.models.recipes import SCRATCH_CONFIG, ScratchRecipe
from dogbreeds.models.training import set_seed


# Long by its documented options and the record's parameters; its steps are in the helpers below.
def bench_scratch(
    data_dir: str | os.PathLike,
    *,
    image_size: int = 64,
    load_size: int | None = None,
    epochs: int = 200,
    warmup_epochs: int = 5,
    batch_size: int = 32,
    config: CNNConfig = SCRATCH_CONFIG,
    crop: ResizedCropConfig | None = None,
    flip_tta: bool = True,
    val_fraction: float = 0.0,
    pretrain_dir: str | os.PathLike | None = None,
    pretrain_epochs: int = 30,
    results_dir: str | os.PathLike = DEFAULT_RESULTS_DIR,
    seed: int = DEFAULT_SEED,
    source: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train the scratch CNN on the official train list for a fixed schedule, score it on the test list.

    Recipe: training photos held in memory at ``load_size`` (default ``image_size``),
    random resized crops of them at ``image_size`` with flips and colour jitter
    (``crop``), a linear warm-up over ``warmup_epochs`` then a cosine decay of the
    learning rate to 1 % of ``config.learning_rate`` at ``epochs``; the last weights are
    scored on the whole test photos resized to ``image_size``, averaged with their mirror
    images when ``flip_tta`` (the record keeps the score without it too). No early
    stopping: the test list is never looked at before the end. ``val_fraction`` > 0 holds
    out that share of each breed's training photos and logs its accuracy every epoch,
    for comparing recipes without the test list.

    ``pretrain_dir``: another data folder with official lists (e.g. the 120-breed crops)
    whose train list first trains the same CNN from random weights for
    ``pretrain_epochs`` with the same recipe; every layer but the classifier then starts
    the training above. No ImageNet weight is involved, and a pre-training photo that
    is also a test photo here is an error. Returns the test metrics, timings and the
    record's path.
    """
    if image_size < 2 ** len(config.filters):
        raise BenchError(f"image_size {image_size} is too small for {len(config.filters)} conv blocks.")
    load_size = load_size or image_size
    if load_size < image_size:
        raise BenchError(f"load_size ({load_size}) must be at least image_size ({image_size}).")
    recipe = ScratchRecipe(config, image_size, batch_size, warmup_epochs, crop or ResizedCropConfig(), seed, progress)
    set_seed(seed)
    index = discover(data_dir)
    if not index.has_official_split:
        raise BenchError(f"{data_dir} has no lists/ folder; the benchmarks need the official train/test lists.")
    split = split_records(index, val_fraction=val_fraction, seed=seed)
    label_map = LabelMap.from_records(list(split.train) + list(split.val) + list(split.test))
    loaded, shown = (load_size, load_size), (image_size, image_size)

    pretrained, pretrain = None, None
    if pretrain_dir is not None:
        pretrained, pretrain = _pretrain(recipe, pretrain_dir, pretrain_epochs, split.test, loaded, progress)
    train = load_labeled_images(split.train, label_map, loaded, progress=progress)
    test = load_labeled_images(split.test, label_map, shown, progress=progress)
    val = load_labeled_images(split.val, label_map, shown, progress=progress) if split.val else None
    model, result = recipe.train(train, len(label_map), epochs, val, start_from=pretrained)
    metrics, predict_seconds = _scored(model, test, label_map.names, batch_size, flip_tta)
    timings = {
        **result.timings,
        "train_seconds": result.wall_time_s,
        "predict_seconds": predict_seconds,
        **({"pretrain_seconds": pretrain["train_seconds"]} if pretrain else {}),
    }
    path = write_bench_record(
        "scratch-cnn-pretrained" if pretrain else "scratch-cnn",
        "scratch",
        data_dir,
        results_dir,
        params={
            "image_size": image_size,
            "load_size": load_size,
            "epochs": epochs,
            "warmup_epochs": warmup_epochs,
            "batch_size": batch_size,
            "crop": recipe.crop.to_dict(),
            "flip_tta": flip_tta,
            "val_fraction": val_fraction,
            "pretrain": pretrain,
            "config": config.to_dict(),
            "parameters": count_params(model).total,
        },
        metrics=metrics,
        history=result.history,
        timings=timings,
        data_counts=split.counts(),
        num_classes=len(label_map),
        seed=seed,
        source=source,
        data_hash=data_hash([record.path for record in (*split.train, *split.val, *split.test)], data_dir),
    )
    return {"metrics": metrics, "timings": timings, "record": path}


def _pretrain(
    recipe: ScratchRecipe,
    pretrain_dir: str | os.PathLike,
    epochs: int,
    test: Sequence[ImageRecord],
    size: tuple[int, int],
    progress: bool,
) -> tuple[keras.Model, dict[str, Any]]:
    """The CNN trained by ``recipe`` on the train list of ``pretrain_dir``, and what its record says of it."""
    pretrain_split, pretrain_map = official_split(pretrain_dir)
    _refuse_test_photos(pretrain_split.train, test)
    model, fit = recipe.train(
        load_labeled_images(pretrain_split.train, pretrain_map, size, progress=progress), len(pretrain_map), epochs
    )
    return model, {
        "data_dir": str(Path(pretrain_dir).resolve()),
        "epochs": epochs,
        "images": len(pretrain_split.train),
        "breeds": len(pretrain_map),
        "train_seconds": fit.wall_time_s,
        "final_train_accuracy": fit.history["accuracy"][-1],
    }


def _scored(
    model: keras.Model, test: LabeledImages, names: Sequence[str], batch_size: int, flip_tta: bool
) -> tuple[dict[str, Any], float]:
    """Test metrics (with flip TTA when ``flip_tta``, plus ``top1_without_tta``) and the seconds predicting took."""
    views = [predict_timed(model, test.images, batch_size)]
    if flip_tta:
        views.append(predict_timed(model, test.images[:, :, ::-1], batch_size))
    plain, probabilities = views[0].probabilities, np.mean([view.probabilities for view in views], axis=0)
    metrics = evaluate(test.labels, probabilities, names)
    metrics["top1_without_tta"] = evaluate(test.labels, plain, names)["top1"]
    return metrics, sum(view.seconds for view in views)


def _refuse_test_photos(pretrain: Sequence[Any], test: Sequence[Any]) -> None:
    """Raise BenchError when a pre-training photo has the file name of a test photo (notebook 03's check)."""
    try:
        refuse_test_photos(pretrain, test)
    except PretrainError as error:
        raise BenchError(str(error)) from error
