"""Fine-tuning, the expensive path of transfer learning: a backbone's last layers trained on images.

The head starts from a trained feature head (:func:`~dogbreeds.models.transfer.train_head`) or
is warmed up alone on the frozen backbone first; then ``models.unfreeze_last`` opens the last
weight layers and training goes on at a small learning rate (``training.fit``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import tensorflow as tf

from dogbreeds.models.backbones import build_backbone, get_backbone
from dogbreeds.models.backbones import preprocess as backbone_preprocess
from dogbreeds.models.builders import build_transfer_model, unfreeze_last
from dogbreeds.models.training import FitResult, fit
from dogbreeds.models.transfer import TrainedHead, TransferError, set_softmax_weights


@dataclass
class FineTuneResult:
    """A fine-tuned transfer model and what training it did."""

    model: keras.Model
    head_fit: FitResult | None
    fit: FitResult
    unfrozen_layers: int

    @property
    def train_seconds(self) -> float:
        """Wall time of both phases (head warm-up and fine-tuning)."""
        return self.fit.wall_time_s + (self.head_fit.wall_time_s if self.head_fit is not None else 0.0)


def fine_tune(
    backbone: str | keras.Model,
    train_ds: tf.data.Dataset,
    val_ds: tf.data.Dataset | None,
    num_classes: int,
    *,
    image_size: tuple[int, int] | None = None,
    preprocess: Callable[[Any], Any] | None = None,
    head: TrainedHead | None = None,
    head_epochs: int = 0,
    unfreeze: int = 10,
    learning_rate: float = 1e-4,
    epochs: int = 5,
    patience: int = 2,
    dropout: float = 0.2,
    augmentation: keras.Layer | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> FineTuneResult:
    """Fine-tune the last ``unfreeze`` weight layers of a backbone with a softmax head on images.

    ``backbone`` is a registry name (built pooled at ``image_size`` with ImageNet weights,
    its own preprocessing applied) or a Keras model taking ``preprocess``-ed images.
    The head starts from a trained Keras feature ``head`` (no hidden layer) when given,
    else it is first trained alone for ``head_epochs`` with the backbone frozen; then
    ``models.unfreeze_last`` opens the last layers (batch norm stays frozen) and training
    goes on at ``learning_rate`` with early stopping on validation loss (``training.fit``).
    Data sets yield (float32 images in 0..255, int labels) batches.
    """
    if head is None and head_epochs < 1:
        raise TransferError("A fine-tuned head must start trained: pass a keras head or head_epochs >= 1.")
    if isinstance(backbone, str):
        spec = get_backbone(backbone)
        size = spec.image_size(image_size)
        name = backbone
        backbone = build_backbone(name, include_top=False, pooling="avg", input_shape=(*size, 3))
        preprocess = preprocess or (lambda images: backbone_preprocess(name, images))
    model = build_transfer_model(
        backbone, num_classes, dropout=dropout, preprocess=preprocess, augmentation=augmentation
    )
    head_fit = None
    if head is not None:
        if head.kind != "keras" or head.params.get("hidden"):
            raise TransferError("Only a keras head without a hidden layer can start a fine-tuned model.")
        kernel, bias = head.model.get_layer("predictions").get_weights()
        set_softmax_weights(model, kernel, bias)
    else:
        head_fit = fit(model, train_ds, val_ds, epochs=head_epochs, patience=max(1, head_epochs), progress=progress)
    unfreeze_last(model, unfreeze, learning_rate=learning_rate)
    checkpoint = os.fspath(checkpoint_dir) if checkpoint_dir is not None else None
    result = fit(
        model, train_ds, val_ds, epochs=epochs, patience=patience, checkpoint_dir=checkpoint, progress=progress
    )
    return FineTuneResult(model, head_fit, result, unfreeze)
