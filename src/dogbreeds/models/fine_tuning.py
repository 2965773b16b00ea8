"""Fine-tuning on cached activations: a backbone's last blocks and final convolution trained with its head.

The activations entering the last blocks are computed once (``models.block_cache``); training then
runs only the tail of the backbone (:func:`~dogbreeds.models.block_cache.tail_model`, which shares
the backbone's layers) and the head, on those activations. Each epoch shows every training photo
once, as itself or as its mirror image (picked at random; :class:`MirrorBatches`). The optimizer
is AdamW with a linear warm-up and a cosine decay (:class:`FineTuneSchedule`); training runs its
whole epoch budget and keeps the weights of the epoch with the lowest validation loss.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from dogbreeds.models.block_cache import tail_layers, tail_model
from dogbreeds.models.builders import build_transfer_model
from dogbreeds.models.training import FitResult, cosine_schedule, fit
from dogbreeds.models.transfer import TrainedHead, TransferError, set_softmax_weights


@dataclass(frozen=True)
class FineTuneSchedule:
    """AdamW at a peak ``learning_rate``: linear warm-up over ``warmup_epochs``, then a cosine decay to
    ``final_fraction`` of the peak at the end of ``epochs``; decoupled ``weight_decay``.
    """

    learning_rate: float = 1e-4
    epochs: int = 10
    warmup_epochs: int = 1
    weight_decay: float = 0.01
    final_fraction: float = 0.01

    def __post_init__(self) -> None:
        if self.learning_rate <= 0 or self.epochs < 1 or not 0 <= self.warmup_epochs < self.epochs:
            raise TransferError(
                f"A fine-tuning schedule needs learning_rate > 0 and 0 <= warmup_epochs < epochs; got {self}."
            )

    def optimizer(self, steps_per_epoch: int) -> keras.optimizers.Optimizer:
        """A fresh AdamW optimizer following this schedule."""
        rate = cosine_schedule(
            self.learning_rate, self.epochs * steps_per_epoch, self.warmup_epochs * steps_per_epoch, self.final_fraction
        )
        return keras.optimizers.AdamW(rate, weight_decay=self.weight_decay)

    def text(self) -> str:
        """The schedule in words, for a record or a report."""
        return (
            f"AdamW (weight decay {self.weight_decay:g}), learning rate rising linearly to {self.learning_rate:g} "
            f"over {self.warmup_epochs} epoch(s), then a cosine decay to {self.final_fraction:.0%} of it "
            f"by epoch {self.epochs}"
        )


class MirrorBatches(keras.utils.PyDataset):
    """Shuffled batches of cached activations; each photo appears once per epoch, itself or mirrored at random."""

    def __init__(
        self, original: np.ndarray, mirrored: np.ndarray, labels: np.ndarray, batch_size: int, seed: int
    ) -> None:
        super().__init__()
        if not len(original) == len(mirrored) == len(labels) > 0:
            raise TransferError(f"Got {len(original)}, {len(mirrored)} and {len(labels)} rows; they must match.")
        self.original, self.mirrored, self.labels = original, mirrored, np.asarray(labels, dtype=np.int32)
        self.batch_size = batch_size
        self._rng = np.random.default_rng(seed)
        self.on_epoch_end()

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        mirror = self._mirror[rows].reshape(-1, *([1] * (self.original.ndim - 1)))
        return np.where(mirror, self.mirrored[rows], self.original[rows]), self.labels[rows]

    def on_epoch_end(self) -> None:
        self._order = self._rng.permutation(len(self.labels))
        self._mirror = self._rng.random(len(self.labels)) < 0.5


class KeepBest(keras.callbacks.Callback):
    """Remembers the trainable weights of the epoch with the lowest ``monitor`` and puts them back at the end."""

    def __init__(self, monitor: str = "val_loss") -> None:
        super().__init__()
        self.monitor, self.best, self.weights = monitor, math.inf, None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = float((logs or {}).get(self.monitor, math.nan))
        if value < self.best:
            self.best, self.weights = value, [variable.numpy() for variable in self.model.trainable_variables]

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.weights is not None:
            for variable, value in zip(self.model.trainable_variables, self.weights):
                variable.assign(value)


@dataclass
class BlockFineTuneResult:
    """A fine-tuned image model, its classifier of cached activations and what training did."""

    model: keras.Model  # photos (0..255) to breed probabilities
    tail: keras.Model  # cached activations to breed probabilities (same weights)
    fit: FitResult
    blocks: int
    trained_layers: list[str]

    def predict(self, activations: np.ndarray, batch_size: int = 128) -> np.ndarray:
        """Breed probabilities of cached activations (float64), as the image model gives them."""
        return np.asarray(self.tail.predict(activations, batch_size=batch_size, verbose=0), dtype=np.float64)


def fine_tune_blocks(
    backbone: keras.Model,
    head: TrainedHead,
    blocks: int,
    train: tuple[np.ndarray, np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray] | None,
    *,
    preprocess: keras.Layer | Callable[[Any], Any] | None = None,
    schedule: FineTuneSchedule = FineTuneSchedule(),
    batch_size: int = 32,
    seed: int = 0,
    progress: bool = True,
) -> BlockFineTuneResult:
    """Train the last ``blocks`` blocks of ``backbone``, its final convolution and the softmax of ``head``.

    ``backbone`` is pooled (its output one vector per photo, as ``head`` was trained on);
    ``train`` is (activations, mirrored activations, labels) entering the cut, ``val`` (activations,
    labels). Batch normalisation stays frozen, in inference mode; the head keeps its dropout.
    """
    if head.kind != "keras" or head.params.get("hidden"):
        raise TransferError("Only a keras head without a hidden layer can start a fine-tuned model.")
    dropout = float(head.params.get("dropout", 0.0))
    model = build_transfer_model(backbone, head.num_classes, dropout=dropout, preprocess=preprocess)
    set_softmax_weights(model, *head.model.get_layer("predictions").get_weights())
    trained = _open_tail(backbone, blocks)
    tail = tail_model(backbone, blocks)
    inputs = keras.Input(tail.input_shape[1:], name="activations")
    x = tail(inputs, training=False)
    if dropout:
        x = model.get_layer("dropout")(x)
    classifier = keras.Model(inputs, model.get_layer("predictions")(x), name=f"{backbone.name}_fine_tune_{blocks}")
    batches = MirrorBatches(*train, batch_size=batch_size, seed=seed)
    classifier.compile(
        optimizer=schedule.optimizer(len(batches)),
        loss="sparse_categorical_crossentropy",
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    result = fit(
        classifier,
        batches,
        val,
        epochs=schedule.epochs,
        patience=None,
        callbacks=[KeepBest()] if val is not None else [],
        progress=progress,
    )
    return BlockFineTuneResult(model, classifier, result, blocks, trained)


def _open_tail(backbone: keras.Model, blocks: int) -> list[str]:
    """Make the tail's weight layers trainable (batch norm excluded) and freeze the rest; their names."""
    backbone.trainable = True
    opened = {
        id(layer)
        for layer in tail_layers(backbone, blocks)
        if layer.weights and not isinstance(layer, keras.layers.BatchNormalization)
    }
    for layer in backbone.layers:
        layer.trainable = id(layer) in opened
    return [layer.name for layer in backbone.layers if id(layer) in opened]
