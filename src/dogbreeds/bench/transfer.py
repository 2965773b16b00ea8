"""Benchmarks on real data, behind ``dogbreeds bench transfer|scratch|throughput``.

- :func:`bench_transfer`: frozen ImageNet backbones + heads on the official train list,
  scored on the official test list; one variant per table row (head kind, flip
  training/test-time augmentation, ensembles of backbones, ImageNet-head start).
- :func:`bench_scratch`: the scratch CNN, trained on a fixed schedule with random resized
  crops, on the official split.
- :func:`dogbreeds.bench.throughput.bench_throughput`: images per second of the file
  pipeline feeding a backbone against the same backbone on preloaded tensors.

Each writes results records (``kind="benchmark"``, the command in ``source``) into a
results folder, by default ``benchmarks/results/``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from tqdm.auto import tqdm

from dogbreeds.core.config import DEFAULT_SEED, REPO_ROOT
from dogbreeds.core.errors import DogbreedsError
from dogbreeds.core.provenance import data_hash
from dogbreeds.data.folder import Split, discover, split_records
from dogbreeds.experiments.transfer_experiment import TransferExperiment, TransferVariant
from dogbreeds.inputs.arrays import LabeledImages, load_labeled_images, predict_timed
from dogbreeds.inputs.augmentation import ResizedCropConfig, resized_crop_dataset
from dogbreeds.inputs.pipeline import LabelMap
from dogbreeds.judge.evaluation import evaluate
from dogbreeds.models.builders import CNNConfig, build_scratch_cnn, copy_matching_weights, count_params
from dogbreeds.models.training import cosine_schedule, fit, set_seed
from dogbreeds.study.records import make_record, write_record

DEFAULT_RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
BENCH_KIND = "benchmark"
DEFAULT_BACKBONES = ("mobilenet_v2", "efficientnet_lite0")
TABLE_COLUMNS = ("variant", "top1", "top5", "macro_f1", "train_s", "feature_s", "predict_s")


class BenchError(DogbreedsError, ValueError):
    """A benchmark was asked for with data or settings it cannot run on."""


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
        record = make_record(
            f"transfer-{variant.name}",
            BENCH_KIND,
            params={
                "bench": "transfer",
                "data_dir": str(Path(data_dir).resolve()),
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
        path = write_record(record, results_dir)
        if progress:
            tqdm.write(
                f"{variant.name}: top-1 {metrics['top1']:.1%}, top-5 {metrics['top5']:.1%}, "
                f"macro F1 {metrics['macro_f1']:.3f} ({path.name})"
            )
        rows.append(
            {
                "variant": variant.name,
                "top1": metrics["top1"],
                "top5": metrics["top5"],
                "macro_f1": metrics["macro_f1"],
                "train_s": result.timings["train_seconds"],
                "feature_s": result.timings["feature_seconds"],
                "predict_s": result.timings["predict_seconds"],
                "record": str(path),
            }
        )
    return pd.DataFrame(rows, columns=[*TABLE_COLUMNS, "record"])


def official_split(data_dir: str | os.PathLike) -> tuple[Split, LabelMap]:
    """All images of the official train list (no validation carved yet) and the official test list."""
    index = discover(data_dir)
    if not index.has_official_split:
        raise BenchError(f"{data_dir} has no lists/ folder; the benchmarks need the official train/test lists.")
    split = split_records(index, val_fraction=0.0)
    if not split.train or not split.test:
        raise BenchError(
            f"{data_dir}: the official lists give {len(split.train)} train and {len(split.test)} "
            "test images; both must be non-empty."
        )
    return split, LabelMap.from_records(list(split.train) + list(split.test))


def stratified_rows(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of a seeded, stratified (train, validation) split of ``labels``."""
    rows = np.arange(len(labels))
    if fraction == 0:
        return rows, rows[:0]
    try:
        train, val = train_test_split(rows, test_size=fraction, random_state=seed, stratify=labels)
    except ValueError as error:
        raise BenchError(
            f"Cannot hold out a stratified {fraction:.0%} of {len(labels)} training images for "
            f"validation: {error}. Lower --val-fraction or use more images per breed."
        ) from error
    return np.sort(train), np.sort(val)


SCRATCH_CONFIG = CNNConfig(
    filters=(32, 64, 128, 256),
    kernel_size=3,
    batch_norm=True,
    dropout=0.3,
    pooling="gap",
    dense_units=0,
    optimizer="adamw",
    learning_rate=2e-3,
    weight_decay=0.05,
    loss="categorical_crossentropy",
    label_smoothing=0.1,
)
"""The scratch CNN of the benchmark: four conv blocks with batch norm, global average pooling, dropout,
AdamW (peak learning rate 2e-3, decoupled weight decay 0.05: Keras shrinks the weights by
``learning_rate * weight_decay`` a step) and label smoothing 0.1."""


@dataclass(frozen=True)
class ScratchRecipe:
    """How the benchmark trains a scratch CNN on in-memory photos (see :func:`bench_scratch`)."""

    config: CNNConfig
    image_size: int
    batch_size: int
    warmup_epochs: int
    crop: ResizedCropConfig
    seed: int
    progress: bool

    def train(
        self,
        train: LabeledImages,
        num_classes: int,
        epochs: int,
        val: LabeledImages | None = None,
        start_from: Any = None,
    ) -> tuple[Any, Any]:
        """A model trained on ``train`` for ``epochs`` (warm-up + cosine), and its ``FitResult``.

        ``start_from``: a trained scratch CNN whose layers, all but the classifier, give the
        new model its starting weights.
        """
        size = (self.image_size, self.image_size)
        train_ds = resized_crop_dataset(train.images, train.labels, size, self.batch_size, self.crop, self.seed)
        steps = int(train_ds.cardinality())
        schedule = cosine_schedule(self.config.learning_rate, steps * epochs, warmup_steps=steps * self.warmup_epochs)
        model = build_scratch_cnn(self.config, num_classes, (*size, 3), learning_rate=schedule)
        if start_from is not None:
            copy_matching_weights(start_from, model)
        result = fit(
            model,
            train_ds,
            val.dataset(self.batch_size) if val else None,
            epochs=epochs,
            patience=None,
            monitor="val_accuracy" if val else "loss",
            progress=self.progress,
        )
        return model, result


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
        pretrain_split, pretrain_map = official_split(pretrain_dir)
        _refuse_test_photos(pretrain_split.train, split.test)
        pretrained, pretrain_fit = recipe.train(
            load_labeled_images(pretrain_split.train, pretrain_map, loaded, progress=progress),
            len(pretrain_map),
            pretrain_epochs,
        )
        pretrain = {
            "data_dir": str(Path(pretrain_dir).resolve()),
            "epochs": pretrain_epochs,
            "images": len(pretrain_split.train),
            "breeds": len(pretrain_map),
            "train_seconds": pretrain_fit.wall_time_s,
            "final_train_accuracy": pretrain_fit.history["accuracy"][-1],
        }
    train = load_labeled_images(split.train, label_map, loaded, progress=progress)
    test = load_labeled_images(split.test, label_map, shown, progress=progress)
    val = load_labeled_images(split.val, label_map, shown, progress=progress) if split.val else None
    model, result = recipe.train(train, len(label_map), epochs, val, start_from=pretrained)
    views = [predict_timed(model, test.images, batch_size)]
    if flip_tta:
        views.append(predict_timed(model, test.images[:, :, ::-1], batch_size))
    plain, probabilities = views[0].probabilities, np.mean([view.probabilities for view in views], axis=0)
    predict_seconds = sum(view.seconds for view in views)
    metrics = evaluate(test.labels, probabilities, label_map.names)
    metrics["top1_without_tta"] = evaluate(test.labels, plain, label_map.names)["top1"]
    timings = {
        **result.timings,
        "train_seconds": result.wall_time_s,
        "predict_seconds": predict_seconds,
        **({"pretrain_seconds": pretrain["train_seconds"]} if pretrain else {}),
    }
    record = make_record(
        "scratch-cnn-pretrained" if pretrain else "scratch-cnn",
        BENCH_KIND,
        params={
            "bench": "scratch",
            "data_dir": str(Path(data_dir).resolve()),
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
    return {"metrics": metrics, "timings": timings, "record": write_record(record, results_dir)}


def _refuse_test_photos(pretrain: Sequence[Any], test: Sequence[Any]) -> None:
    """Raise BenchError when a pre-training photo has the file name of a test photo."""
    test_names = {Path(record.path).name for record in test}
    shared = sorted(test_names & {Path(record.path).name for record in pretrain})
    if shared:
        raise BenchError(
            f"{len(shared)} pre-training photo(s) are test photos of the benchmark (first: {shared[0]}); "
            "pre-train on data that leaves the test list out."
        )


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
