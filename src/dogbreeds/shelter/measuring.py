"""Measuring the shelter's model, ``dogbreeds bench shelter``: a trained model on whole photos and on photos
that are not dogs, view policy by view policy (which views of a photo the model averages).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dogbreeds.core.provenance import data_hash
from dogbreeds.core.recordfile import make_record
from dogbreeds.data.images import load_upright
from dogbreeds.data.splits import official_split
from dogbreeds.judge.calibration import threshold_metrics
from dogbreeds.judge.evaluation import expected_calibration_error
from dogbreeds.models.backbones import get_backbone
from dogbreeds.shelter.model import LABELLED, VIEW_NAMES, ShelterModel, photo_views
from dogbreeds.shelter.training import dog_probability, status_metrics

POLICIES: dict[str, tuple[str, ...]] = {
    "full": ("full",),
    "full+flip": ("full", "full-flip"),
    "center+flip": ("center", "center-flip"),
    "zoom+flip": ("zoom", "zoom-flip"),
    "full+center+flips": ("full", "full-flip", "center", "center-flip"),
    "center+start+end+flips": ("center", "center-flip", "start", "start-flip", "end", "end-flip"),
    "all ten views": VIEW_NAMES,
}


def view_features(
    backbone: str,
    paths: Sequence[str | os.PathLike],
    view: str,
    *,
    batch_size: int = 32,
    cache_dir: str | os.PathLike | None = None,
) -> np.ndarray:
    """Pooled features (N, D) of one view of each photo file (photos the right way up), cached."""
    from dogbreeds.models.features import cached_features, feature_extractor

    size = get_backbone(backbone).image_size()
    labels = np.zeros(len(paths), dtype=np.int32)

    def batches() -> Any:
        for start in range(0, len(paths), batch_size):
            chunk = paths[start : start + batch_size]
            yield (
                np.concatenate([photo_views(load_upright(path), [view], size) for path in chunk]),
                labels[start : start + len(chunk)],
            )

    return cached_features(
        feature_extractor(backbone, size),
        batches,
        backbone=backbone,
        files=paths,
        labels=labels,
        image_size=size,
        crop=None,
        extra={"view": view, "loader": "shelter.load_upright"},
        cache_dir=cache_dir,
    ).features


def measure_shelter_model(
    model: ShelterModel,
    photos_dir: str | os.PathLike,
    not_dogs_dir: str | os.PathLike,
    *,
    exclude_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    source: str | None = None,
    policies: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The model on whole photos and on photos that are not dogs, for each view policy (``policies``: all).

    ``photos_dir`` has official lists: its test list is scored among all the model's
    breeds; its train photos that ``exclude_dir``'s train list (the model's training
    data) does not name form the hold-out used to choose a view policy. Every photo
    under ``not_dogs_dir`` should be flagged "not a dog". Returns a results record.
    """
    # Over 60 lines: the photo groups, the features of every view they need, then one row per policy and the
    # record; the measures themselves are helpers (_dogs_measures, _not_dogs_measures).
    from dogbreeds.data.folder import discover
    from dogbreeds.data.splits import split_records

    index = discover(photos_dir)
    split = split_records(index, val_fraction=0.0)
    trained_on = set()
    if exclude_dir is not None:
        trained_on = {Path(record.path).name for record in official_split(exclude_dir)[0].train}
    groups = {"test": list(split.test), "holdout": [r for r in split.train if Path(r.path).name not in trained_on]}
    not_dogs = sorted(
        path for path in Path(not_dogs_dir).rglob("*") if path.suffix.lower() in (".jpg", ".jpeg", ".png")
    )
    backbone = model.config.backbone
    unknown = sorted(set(policies or ()) - set(POLICIES))
    if unknown:
        raise ValueError(f"Unknown view policies {unknown}; choose among {', '.join(POLICIES)}.")
    measured = {name: POLICIES[name] for name in (policies or POLICIES)}
    needed = [view for view in VIEW_NAMES if any(view in views for views in measured.values())]
    start = time.perf_counter()
    features = {
        name: {view: view_features(backbone, [r.path for r in records], view, cache_dir=cache_dir) for view in needed}
        for name, records in groups.items()
    }
    features["not_dogs"] = {view: view_features(backbone, not_dogs, view, cache_dir=cache_dir) for view in needed}
    feature_seconds = time.perf_counter() - start
    kinds = np.array([path.relative_to(not_dogs_dir).parts[0] for path in not_dogs])
    metrics: dict[str, Any] = {}
    for policy, views in measured.items():
        row = {
            name: _dogs_measures(model, [features[name][v] for v in views], records) for name, records in groups.items()
        }
        row["not_dogs"] = _not_dogs_measures(model, [features["not_dogs"][v] for v in views], kinds)
        metrics[policy] = row
    return make_record(
        "shelter-whole-photos",
        "benchmark",
        params={
            "bench": "shelter",
            "photos_dir": Path(photos_dir).name,
            "not_dogs_dir": Path(not_dogs_dir).name,
            "exclude_dir": Path(exclude_dir).name if exclude_dir else None,
            "policies": measured,
            "model_views": list(model.config.views),
            "dog_threshold": model.config.dog_threshold,
            "maybe_dog_threshold": model.config.maybe_dog_threshold,
            "dog_temperature": model.config.dog_temperature,
            "unknown_breed_threshold": model.config.unknown_breed_threshold,
            "confidence_threshold": model.config.confidence_threshold,
        },
        metrics=metrics,
        timings={"feature_seconds": feature_seconds},
        data_counts={name: len(records) for name, records in groups.items()} | {"not_dogs": len(not_dogs)},
        num_classes=len(model.config.label_ids),
        source=source,
        data_hash=data_hash([r.path for group in groups.values() for r in group] + not_dogs, photos_dir),
    )


def _dogs_measures(model: ShelterModel, views: Sequence[np.ndarray], records: Sequence[Any]) -> dict[str, Any]:
    """The model on dog photos seen through ``views`` (features per view): accuracy, calibration, statuses."""
    positions = {label_id: i for i, label_id in enumerate(model.config.label_ids)}
    stacked = np.stack(views)
    probabilities = model.breed_probabilities(stacked)
    labels = np.array([positions[r.label_id] for r in records])
    dog = dog_probability(model, stacked)
    detector = model.detector_probability(stacked)
    return {
        "photos": len(records),
        "top1": float(np.mean(probabilities.argmax(1) == labels)),
        "top5": float(np.mean((np.argsort(-probabilities, 1)[:, :5] == labels[:, None]).any(1))),
        "dogs_flagged_not_a_dog": float(np.mean(model.not_a_dog(dog, detector))),
        "at_threshold": threshold_metrics(labels, probabilities, model.config.confidence_threshold).to_dict(),
        "ece": expected_calibration_error(labels, probabilities),
        "statuses": status_metrics(model, labels, probabilities, dog, detector),
    }


def _not_dogs_measures(model: ShelterModel, views: Sequence[np.ndarray], kinds: np.ndarray) -> dict[str, Any]:
    """The model on photos that are not dogs: how many are flagged "not a dog" (by kind) or given a breed."""
    stacked = np.stack(views)
    dog, detector = dog_probability(model, stacked), model.detector_probability(stacked)
    flagged = model.not_a_dog(dog, detector)
    answers = model.decide(model.breed_probabilities(stacked), dog, detector)
    given = np.array([answer.status == LABELLED for answer in answers])
    return {
        "photos": len(kinds),
        "flagged_not_a_dog": float(flagged.mean()),
        "given_a_breed": float(given.mean()),
        **{f"flagged_{kind}": float(flagged[kinds == kind].mean()) for kind in np.unique(kinds)},
    }
