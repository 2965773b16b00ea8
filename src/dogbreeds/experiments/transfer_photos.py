"""Transfer on the ten breeds' whole photos: the heads and data-size points of the central comparison.

The same engine as the 120-breed heads (:class:`TransferExperiment`) runs on the whole-photo folder
that the scratch CNNs learn from; its heads are scored on the same test photos and their predictions
saved where notebook 05 reads them (:func:`~dogbreeds.experiments.head_to_head.predictions_path`)::

    heads = run_photo_heads(experiment, backbones, flip_tta=True)
    points = run_size_curve(experiment, backbones, SIZES, flip_tta=True, seed=42)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from dogbreeds.experiments.head_to_head import PHOTOS_PREFIX, TRANSFER_SIZE_PREFIX, per_breed_rows, predictions_path
from dogbreeds.experiments.predictions import SplitPredictions, save_predictions
from dogbreeds.experiments.transfer_experiment import TransferExperiment, TransferResult
from dogbreeds.experiments.transfer_variants import TransferVariant
from dogbreeds.models.backbones import get_backbone


def photo_variant(backbone: str, flip_tta: bool, name: str | None = None) -> TransferVariant:
    """A softmax head on ``backbone``'s features of the whole photos (``photos_<backbone>`` unless ``name``)."""
    label = f"{get_backbone(backbone).title} + head, whole photos" + (", flip TTA" if flip_tta else "")
    return TransferVariant(name or f"{PHOTOS_PREFIX}{backbone}", (backbone,), "keras", flip_tta=flip_tta, label=label)


def run_photo_heads(
    experiment: TransferExperiment,
    backbones: Sequence[str],
    *,
    flip_tta: bool,
    earlier: Mapping[str, TransferResult] | None = None,
) -> dict[str, TransferResult]:
    """One measured head per backbone on the experiment's photos, by run name.

    ``earlier``: results already run on the same experiment; one whose recipe matches is reused under the new name.
    """
    found = {}
    for backbone in backbones:
        variant = photo_variant(backbone, flip_tta)
        same = [
            result
            for result in (earlier or {}).values()
            if result.variant.params() | {"variant": "", "model": ""} == variant.params() | {"variant": "", "model": ""}
        ]
        result = dataclasses.replace(same[0], variant=variant) if same else experiment.run(variant)
        if "inference_ms_per_image" not in result.timings:
            experiment.measure(result)
        found[variant.name] = result
    return found


def run_size_curve(
    experiment: TransferExperiment, backbones: Sequence[str], sizes: Sequence[int], *, flip_tta: bool, seed: int
) -> dict[str, tuple[int, int, TransferResult]]:
    """Heads trained on ``per_breed`` photos of each breed (nested seeded subsets), scored on the same test photos.

    Returns ``{run name: (per breed, training photos, result)}``; a size that selects the same photos as the
    size before it (a breed has no more) is skipped, and one that selects every training photo reuses the head
    trained on them all (same recipe, same head).
    """
    points: dict[str, tuple[int, int, TransferResult]] = {}
    for backbone in backbones:
        previous = None
        for per_breed in sorted(sizes):
            rows = per_breed_rows(experiment.split.train, per_breed, seed)
            if previous is not None and len(rows) == len(previous):
                continue
            previous = rows
            name = f"{TRANSFER_SIZE_PREFIX}{backbone}_{per_breed}"
            every = len(rows) == len(experiment.split.train)  # the whole training set: the head is the photo head's
            result = experiment.run(photo_variant(backbone, flip_tta, name), None if every else rows)
            points[name] = (per_breed, len(rows), result)
    return points


def save_result_predictions(
    result: TransferResult, experiment: TransferExperiment, output_dir: str | os.PathLike
) -> str:
    """Save ``result``'s validation and test predictions for notebook 05; returns their path under ``output_dir``."""
    split = experiment.split
    path = save_predictions(
        predictions_path(output_dir, result.run_name),
        val=SplitPredictions(result.val_labels, result.val_probabilities, tuple(r.path for r in split.val)),
        test=SplitPredictions(result.test_labels, result.test_probabilities, tuple(r.path for r in split.test)),
    )
    return path.relative_to(Path(output_dir)).as_posix()


def photo_record(
    result: TransferResult,
    experiment: TransferExperiment,
    output_dir: str | os.PathLike,
    *,
    dataset: str,
    per_breed: int | None = None,
    train_photos: int | None = None,
) -> dict:
    """Keyword arguments of a results record for a head on the whole photos (``Study.record``, less its data hash).

    Its predictions are saved first and named in params ("predictions"); a data-size point also names its
    photos a breed and its training photos, which are the record's training count.
    """
    fields = result.record_fields()
    params = {
        **fields.pop("params"),
        "image_size": list(experiment.input_size(result.variant.backbones[0])),
        "dataset": dataset,
        "predictions": save_result_predictions(result, experiment, output_dir),
    }
    counts = experiment.split.counts()
    if per_breed is not None:
        params |= {"per_breed": per_breed, "train_photos": train_photos}
        counts |= {"train": train_photos}
    return {**fields, "params": params, "data_counts": counts, "num_classes": len(experiment.label_map)}
