"""Notebook 03's runs beyond the ablation: the data-size curve, the pre-trained CNN, saved predictions.

- :func:`data_size_runs`: the baseline recipe on 10, 25, 50, 100... training photos a breed,
  scored on the same test photos.
- :func:`train_pretrained`: the CNN pre-trained on the 120-breed crops
  (:mod:`dogbreeds.experiments.scratch_pretrain`), then trained on the study's photos.
- :func:`save_run_predictions`: a run's validation and test probabilities, for notebook 05.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dogbreeds.data.splits import Split
from dogbreeds.experiments.predictions import SplitPredictions, save_predictions
from dogbreeds.experiments.scratch_pretrain import Pretrained
from dogbreeds.experiments.scratch_runs import RecipeSettings, SeedRun, cached_seed_run, run_key, train_seed
from dogbreeds.inputs.arrays import ArraysError, LabeledImages, SplitArrays
from dogbreeds.models.builders import CNNConfig


@dataclass(frozen=True)
class SizedRun:
    """The recipe trained on ``per_breed`` photos a breed (``val_in_training``: some validation photos among them)."""

    per_breed: int
    images: int
    val_in_training: bool
    run: SeedRun


def feasible_sizes(arrays: SplitArrays, sizes: Sequence[int]) -> list[int]:
    """The ``sizes`` (photos a breed) that every breed can fill from its training and validation photos."""
    counts = np.bincount(arrays.train.labels, minlength=arrays.num_classes)
    counts = counts + np.bincount(arrays.val.labels, minlength=arrays.num_classes)
    return [size for size in sizes if size <= counts.min()]


def subset_per_breed(arrays: SplitArrays, per_breed: int, seed: int) -> tuple[LabeledImages, bool]:
    """``per_breed`` training photos of each breed, drawn (seeded) from the training photos first.

    When a breed has fewer training photos, its validation photos make up the rest, and the
    second value says so: that run's validation score is then not a held-out one.
    """
    rng = np.random.default_rng(seed)
    pool = LabeledImages(
        np.concatenate([arrays.train.images, arrays.val.images]),
        np.concatenate([arrays.train.labels, arrays.val.labels]),
    )
    chosen, borrowed = [], False
    for label in range(arrays.num_classes):
        train = rng.permutation(np.flatnonzero(arrays.train.labels == label))
        val = rng.permutation(np.flatnonzero(arrays.val.labels == label)) + len(arrays.train)
        picked = np.concatenate([train, val])[:per_breed]
        if len(picked) < per_breed:
            raise ArraysError(f"Breed {arrays.class_names[label]!r} has only {len(picked)} photos, not {per_breed}.")
        borrowed = borrowed or per_breed > len(train)
        chosen.append(picked)
    indices = np.sort(np.concatenate(chosen))
    return LabeledImages(pool.images[indices], pool.labels[indices]), borrowed


def data_size_runs(
    arrays: SplitArrays,
    sizes: Sequence[int],
    config: CNNConfig,
    settings: RecipeSettings,
    *,
    seed: int,
    cache_dir: str | Path,
) -> list[SizedRun]:
    """The recipe trained once per size (photos a breed), each scored on the same validation and test photos."""
    runs = []
    for per_breed in sizes:
        train, borrowed = subset_per_breed(arrays, per_breed, seed)
        data = SplitArrays(train, arrays.val, arrays.test, arrays.class_names)
        key = run_key(config, data, settings, seed=seed, augmentation=True, whitening=False)

        def trained(data: SplitArrays = data) -> tuple[SeedRun, Any]:
            return train_seed(config, data, settings, seed=seed)

        run = cached_seed_run(cache_dir, key, trained)[0]
        runs.append(SizedRun(per_breed, len(train), borrowed, run))
    return runs


def train_pretrained(
    pretrained: Pretrained,
    arrays: SplitArrays,
    config: CNNConfig,
    settings: RecipeSettings,
    *,
    seed: int,
    cache_dir: str | Path,
) -> tuple[SeedRun, Any]:
    """The pre-trained CNN trained on the study's photos with the recipe; the run and the model (cached both)."""
    key = run_key(config, arrays, settings, seed=seed, augmentation=True, whitening=False, start=pretrained.key)

    def trained() -> tuple[SeedRun, Any]:
        return train_seed(config, arrays, settings, seed=seed, start_from=pretrained.model)

    run, model = cached_seed_run(cache_dir, key, trained, keep_model=True)
    return run, model


def save_run_predictions(run: SeedRun, arrays: SplitArrays, split: Split, path: Path) -> Path:
    """Write ``run``'s validation and test probabilities, with the photos' labels and files, to ``path``."""
    parts = {}
    for name, probabilities in (("val", run.val_probabilities), ("test", run.test_probabilities)):
        records, labels = getattr(split, name), getattr(arrays, name).labels
        if len(records) != len(labels):
            raise ArraysError(f"The {name} arrays hold {len(labels)} photos, the split {len(records)}.")
        parts[name] = SplitPredictions(labels, probabilities, tuple(Path(record.path) for record in records))
    return save_predictions(path, **parts)


def predictions_paths(
    runs: Sequence[SeedRun], arrays: SplitArrays, split: Split, output_dir: Path, run_name: str
) -> list[str]:
    """Save each seed's predictions as ``output_dir/predictions/<run_name>-seed<k>.npz``; paths relative to it."""
    return [
        save_run_predictions(run, arrays, split, output_dir / "predictions" / f"{run_name}-seed{run.seed}.npz")
        .relative_to(output_dir)
        .as_posix()
        for run in runs
    ]


def prediction_path(run: SeedRun, arrays: SplitArrays, split: Split, output_dir: Path, run_name: str) -> str:
    """Save a single run's predictions as ``output_dir/predictions/<run_name>.npz``; the path relative to it."""
    path = save_run_predictions(run, arrays, split, output_dir / "predictions" / f"{run_name}.npz")
    return path.relative_to(output_dir).as_posix()
