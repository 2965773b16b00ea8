"""One transfer-learning experiment engine, behind notebook 04 and ``dogbreeds bench transfer``.

Variants are declared (``experiments.transfer_variants``), run on one train / validation / test
split (:class:`TransferExperiment`) and give a typed result (:class:`TransferResult`)
whose ``record_fields()`` go straight into a results record::

    experiment = TransferExperiment(split, label_map)
    result = experiment.run(TransferVariant("efficientnet_lite2/keras+tta", ("efficientnet_lite2",), "keras",
                                            flip_tta=True))
    study.record(result.run_name, "transfer", **result.record_fields())

A ``FineTuneVariant`` declares the expensive path (the backbone's last blocks trained too, on
cached activations of the photos); :meth:`TransferExperiment.fine_tune` gives the same :class:`TransferResult`.
Features come from the cache of ``features.py``. The train and validation photos are
extracted together, as the official train list in its usual order, so the notebook and
the benchmark share one cache entry whatever validation share they carve.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import keras
import numpy as np

from dogbreeds.core.config import DEFAULT_SEED
from dogbreeds.data.folder import ImageRecord
from dogbreeds.data.images import load_images_array
from dogbreeds.data.labels import LabelMap
from dogbreeds.data.splits import Split
from dogbreeds.experiments.transfer_variants import ExperimentError, FineTuneVariant, TransferVariant
from dogbreeds.inputs.arrays import predict_timed
from dogbreeds.judge.evaluation import evaluate, top_k_accuracy
from dogbreeds.judge.intervals import correctness, paired_comparison
from dogbreeds.models.backbones import build_backbone, get_backbone
from dogbreeds.models.block_cache import Activations, block_activations
from dogbreeds.models.builders import count_params
from dogbreeds.models.bundle import BackbonePreprocessing, image_classifier
from dogbreeds.models.fine_tuning import fine_tune_blocks
from dogbreeds.models.transfer import (
    FeatureSet,
    TrainedHead,
    average_probabilities,
    concat_features,
    imagenet_head_weights,
    imagenet_zero_shot_head,
    predict_with_flip,
    split_features,
    stack_features,
    train_head,
)

Part = Literal["train", "val", "test"]


@dataclass
class TransferResult:
    """What one variant gave: probabilities on validation and test photos, metrics, heads and costs.

    ``model`` is the complete image model (backbone and head) once built: always for a fine-tuned
    variant, on demand (:meth:`TransferExperiment.image_model`) for a head on cached features.
    """

    variant: TransferVariant | FineTuneVariant
    val_labels: np.ndarray
    val_probabilities: np.ndarray
    test_labels: np.ndarray
    test_probabilities: np.ndarray
    class_names: tuple[str, ...]
    heads: list[TrainedHead] = field(default_factory=list)
    history: dict[str, list[float]] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    model: keras.Model | None = None
    extra_params: dict[str, Any] = field(default_factory=dict)

    @property
    def run_name(self) -> str:
        return self.variant.name

    def metrics(self) -> dict[str, Any]:
        """Test metrics (``evaluation.evaluate``) plus the validation top-1 that chooses between variants."""
        measured = evaluate(self.test_labels, self.test_probabilities, self.class_names)
        val_top1 = top_k_accuracy(self.val_labels, self.val_probabilities, 1) if len(self.val_labels) else None
        return {**measured, "val_top1": val_top1}

    def record_fields(self) -> dict[str, Any]:
        """Keyword arguments of ``records.make_record`` / ``Study.record`` for this result."""
        head_params = [{"kind": head.kind, "best_epoch": head.best_epoch, **head.params} for head in self.heads]
        return {
            "metrics": self.metrics(),
            "history": self.history,
            "timings": dict(self.timings),
            "params": {**self.variant.params(), "head_params": head_params, **self.extra_params},
        }


class TransferExperiment:
    """Variants on frozen backbones over one split; features computed (or loaded) once per backbone.

    The train and validation photos are extracted as one pool in the official list's order
    (label, path), so the cache entry does not depend on how validation was carved.
    """

    def __init__(
        self,
        split: Split,
        label_map: LabelMap,
        *,
        image_size: tuple[int, int] | None = None,
        batch_size: int = 64,
        cache_dir: str | os.PathLike | None = None,
        head_epochs: int = 200,
        head_learning_rate: float = 1e-3,
        logreg_c: float = 0.1,
        seed: int = DEFAULT_SEED,
        progress: bool = True,
    ) -> None:
        if not split.train or not split.test:
            raise ExperimentError(
                f"The split has {len(split.train)} train and {len(split.test)} test photos; both must be non-empty."
            )
        self.split, self.label_map = split, label_map
        self.image_size, self.batch_size, self.cache_dir = image_size, batch_size, cache_dir
        self.head_epochs, self.head_learning_rate, self.logreg_c = head_epochs, head_learning_rate, logreg_c
        self.seed, self.progress = seed, progress
        pool = sorted((*split.train, *split.val), key=lambda record: (record.label_id, str(record.path)))
        position = {record.path: row for row, record in enumerate(pool)}
        self._pool: tuple[ImageRecord, ...] = tuple(pool)
        self._rows = {
            "train": np.array([position[r.path] for r in split.train], dtype=np.int64),
            "val": np.array([position[r.path] for r in split.val], dtype=np.int64),
        }
        self._sets: dict[tuple[str, str, bool], FeatureSet] = {}
        self._heads: dict[tuple, TrainedHead] = {}  # one head per recipe: a TTA row reuses its plain row's head
        self._models: dict[int, keras.Model] = {}  # id(head) -> its image model: a TTA row shares its plain row's
        self._timed: dict[tuple, float] = {}  # (backbone, image size, breeds) -> ms per photo, one pass

    def features(self, backbone: str, part: Part, flipped: bool = False) -> FeatureSet:
        """``part`` features of ``backbone`` (of mirrored photos when ``flipped``), computed on first use."""
        if part == "test":
            return self._extract(backbone, "test", self.split.test, flipped)
        if part not in self._rows:
            raise ExperimentError(f"Unknown part {part!r}: train, val or test.")
        if flipped and part == "val" and (backbone, "pool", True) not in self._sets:
            return self._extract(backbone, "val", self.split.val, True)  # 1/10 of the pool: no need for all of it
        return self._extract(backbone, "pool", self._pool, flipped).subset(self._rows[part])

    def _extract(self, backbone: str, key: str, records: Sequence[ImageRecord], flipped: bool) -> FeatureSet:
        if (backbone, key, flipped) not in self._sets:
            self._sets[backbone, key, flipped] = split_features(
                backbone,
                {key: records},
                self.label_map,
                image_size=self.image_size,
                flip=flipped,
                batch_size=self.batch_size,
                cache_dir=self.cache_dir,
            )[key]
        return self._sets[backbone, key, flipped]

    def run(
        self,
        variant: TransferVariant,
        train_rows: Sequence[int] | None = None,
        *,
        extra_train: FeatureSet | None = None,
        extra_name: str | None = None,
    ) -> TransferResult:
        """Train the variant's head(s) on the train rows and predict validation and test photos.

        ``train_rows``: positions in ``split.train`` to train on (a smaller training set on the same
        cached features); None: all of them. ``extra_train``: more training rows (features of a
        single-backbone variant, mirror images included), added after the split's; ``extra_name`` names
        them, so that two different extras never share a head.
        """
        if (extra_train is None) != (extra_name is None):
            raise ExperimentError("extra_train and extra_name are given together.")
        if extra_train is not None and len(variant.backbones) > 1:
            raise ExperimentError("extra_train rows are features of one backbone; this variant uses several.")
        groups = [variant.backbones] if variant.ensemble == "concat" else [(name,) for name in variant.backbones]
        val_probabilities, test_probabilities, heads, history = [], [], [], {}
        predict_seconds = 0.0
        for group in groups:
            parts = {
                part: concat_features([self.features(name, part) for name in group])
                for part in ("train", "val", "test")
            }
            if train_rows is not None:
                parts["train"] = parts["train"].subset(train_rows)
            fit_rows, val = parts["train"], parts["val"] if len(parts["val"]) else None
            refit_rows = val
            if variant.flip_train:
                flipped_train = self._joined(group, "train", flipped=True)
                if train_rows is not None:
                    flipped_train = flipped_train.subset(train_rows)
                fit_rows = stack_features([fit_rows, flipped_train])
                if val is not None:
                    refit_rows = stack_features([val, self._joined(group, "val", flipped=True)])
            if extra_train is not None:
                fit_rows = stack_features([fit_rows, extra_train])
            recipe = (group, variant.head, variant.flip_train, variant.imagenet_start, variant.refit)
            recipe += (None if train_rows is None else tuple(np.asarray(train_rows).tolist()), extra_name)
            if recipe not in self._heads:
                self._heads[recipe] = self._make_head(
                    variant, group[0], fit_rows, val, refit_rows if variant.refit else None
                )
            head = self._heads[recipe]
            start = time.perf_counter()
            for part, out in (("val", val_probabilities), ("test", test_probabilities)):
                if len(parts[part]) == 0:
                    continue
                flipped = self._joined(group, part, flipped=True) if variant.flip_tta else None
                out.append(
                    head.predict_proba(parts[part])
                    if flipped is None
                    else predict_with_flip(head, parts[part], flipped)
                )
            predict_seconds += time.perf_counter() - start
            heads.append(head)
            history.update(
                {f"{'+'.join(group)}/{key}": values for key, values in head.history.items()}
                if len(groups) > 1
                else head.history
            )
        used = [feature_set for (backbone, _, _), feature_set in self._sets.items() if backbone in variant.backbones]
        return TransferResult(
            variant=variant,
            val_labels=self.features(variant.backbones[0], "val").labels,
            val_probabilities=average_probabilities(val_probabilities) if val_probabilities else np.empty((0, 0)),
            test_labels=self.features(variant.backbones[0], "test").labels,
            test_probabilities=average_probabilities(test_probabilities),
            class_names=tuple(self.label_map.names),
            heads=heads,
            history=history,
            timings={
                "train_seconds": sum(head.train_seconds for head in heads),
                "feature_seconds": sum(part.seconds for part in used),
                "predict_seconds": predict_seconds,
                "features_cached": all(part.from_cache for part in used),
            },
        )

    def _joined(self, group: Sequence[str], part: Part, *, flipped: bool) -> FeatureSet:
        return concat_features([self.features(name, part, flipped=flipped) for name in group])

    def _make_head(
        self,
        variant: TransferVariant,
        backbone: str,
        train: FeatureSet,
        val: FeatureSet | None,
        refit_on: FeatureSet | None,
    ) -> TrainedHead:
        if variant.head == "imagenet":
            return imagenet_zero_shot_head(backbone, self.label_map)
        initial = imagenet_head_weights(backbone, self.label_map) if variant.imagenet_start else None
        return train_head(
            train,
            val,
            kind=variant.head,
            num_classes=len(self.label_map),
            epochs=self.head_epochs,
            learning_rate=self.head_learning_rate,
            initial_weights=initial,
            refit_on=refit_on,
            c=self.logreg_c,
            seed=self.seed,
            progress=self.progress,
        )

    def fine_tune(self, variants: Sequence[FineTuneVariant], start: TransferResult) -> dict[str, TransferResult]:
        """Fine-tune each variant's backbone from the keras head of ``start``, on cached block activations.

        The activations entering every variant's cut are computed in one pass per part (the training and
        validation photos, their mirror images, the test photos) and cached; each variant then trains its
        tail and head. Validation photos choose the epoch kept; test photos are classified once (no flip
        TTA) and compared with ``start``'s, photo by photo. Results by run name.
        """
        if len(start.heads) != 1 or {variant.backbone for variant in variants} != set(start.variant.backbones):
            raise ExperimentError(f"Fine-tuning starts from a single keras head on {start.variant.backbones}.")
        if not self.split.val:
            raise ExperimentError("Fine-tuning keeps the best validation epoch: the split needs validation photos.")
        backbone = start.variant.backbones[0]
        depths = sorted({variant.depth for variant in variants})
        parts = {"pool": (self._pool, False), "mirrored": (self._pool, True), "test": (self.split.test, False)}
        cached = {
            part: block_activations(
                backbone,
                records,
                self.label_map,
                depths=depths,
                image_size=self.input_size(backbone),
                flip=flip,
                batch_size=self.batch_size,
                cache_dir=self.cache_dir,
            )
            for part, (records, flip) in parts.items()
        }
        caching = {
            "activation_seconds": sum(by_depth[depth].seconds for by_depth in cached.values() for depth in depths),
            "activations_cached": all(entry.from_cache for by_depth in cached.values() for entry in by_depth.values()),
        }
        return {
            variant.name: self._fine_tune_one(
                variant, start, {part: c[variant.depth] for part, c in cached.items()}, caching
            )
            for variant in variants
        }

    def _fine_tune_one(
        self,
        variant: FineTuneVariant,
        start: TransferResult,
        activations: dict[str, Activations],
        caching: dict[str, Any],
    ) -> TransferResult:
        pool, mirrored, test = activations["pool"], activations["mirrored"], activations["test"]
        if not np.array_equal(test.labels, start.test_labels):
            raise ExperimentError(f"{variant.name}: the test photos differ from those of {start.run_name}.")
        train, val = self._rows["train"], self._rows["val"]
        size = self.input_size(variant.backbone)
        tuned = fine_tune_blocks(
            build_backbone(variant.backbone, include_top=False, pooling="avg", input_shape=(*size, 3)),
            start.heads[0],
            variant.depth,
            (pool.values[train], mirrored.values[train], pool.labels[train]),
            (pool.values[val], pool.labels[val]),
            preprocess=BackbonePreprocessing(variant.backbone),
            schedule=variant.schedule,
            batch_size=self.batch_size,
            seed=self.seed,
            progress=self.progress,
        )
        began = time.perf_counter()
        val_probabilities, test_probabilities = tuned.predict(pool.values[val]), tuned.predict(test.values)
        seconds = time.perf_counter() - began
        gain = paired_comparison(
            correctness(test.labels, test_probabilities), correctness(start.test_labels, start.test_probabilities)
        )
        return TransferResult(
            variant=variant,
            val_labels=pool.labels[val],
            val_probabilities=val_probabilities,
            test_labels=test.labels,
            test_probabilities=test_probabilities,
            class_names=tuple(self.label_map.names),
            heads=start.heads,
            history=tuned.fit.history,
            model=tuned.model,
            timings={
                "train_seconds": start.timings["train_seconds"] + tuned.fit.wall_time_s,
                "fine_tune_seconds": tuned.fit.wall_time_s,
                "feature_seconds": start.timings["feature_seconds"],
                "predict_seconds": seconds,
                "features_cached": start.timings["features_cached"],
                **caching,
            },
            extra_params={
                "train_photos": len(train),
                "epochs_run": tuned.fit.epochs_run,
                "best_epoch": tuned.fit.best_epoch,
                "trained_layers": tuned.trained_layers,
                "trained_weights": count_params(tuned.model).trainable,
                "gain_over_head": {
                    "versus": start.run_name,
                    "difference": gain.difference.value,
                    "low": gain.difference.low,
                    "high": gain.difference.high,
                    "p_value": gain.p_value,
                    "verdict": gain.verdict,
                    "photos": gain.photos,
                },
            },
        )

    def input_size(self, backbone: str) -> tuple[int, int]:
        """The image side the backbone reads in this experiment."""
        return get_backbone(backbone).image_size(self.image_size)

    def image_model(self, result: TransferResult) -> keras.Model:
        """The complete image model of a result (backbone with its scaling, then the head), built once per head."""
        if result.model is None:
            if len(result.heads) != 1 or result.heads[0].kind != "keras" or len(result.variant.backbones) != 1:
                raise ExperimentError(f"{result.run_name}: only a single keras head makes an image model.")
            head, backbone = result.heads[0], result.variant.backbones[0]
            if id(head) not in self._models:
                self._models[id(head)] = image_classifier(backbone, head.model, self.input_size(backbone))
            result.model = self._models[id(head)]
        return result.model

    def measure(self, result: TransferResult, photos: int = 64, repeats: int = 5) -> None:
        """Add the image model's parameter counts and its steady-state time per test photo to ``result``.

        The time is the median of ``repeats`` timed passes over ``photos`` photos, twice that with flip TTA
        (each photo and its mirror image). It depends on the architecture alone (backbone, image size,
        breeds), so it is measured once per architecture: a TTA row or a fine-tuned copy reuses it.
        """
        model = self.image_model(result)
        backbone = result.variant.backbones[0]
        architecture = (backbone, self.input_size(backbone), len(self.label_map))
        if architecture not in self._timed:
            images = load_images_array(self.split.test[:photos], size=architecture[1], progress=False)
            self._timed[architecture] = predict_timed(model, images, repeats=repeats).ms_per_image
        counted = count_params(model)
        passes = 2 if result.variant.flip_tta else 1  # flip TTA classifies each photo and its mirror image
        result.timings["inference_ms_per_image"] = passes * self._timed[architecture]
        result.extra_params |= {"parameters": counted.total, "trainable_parameters": counted.trainable}
