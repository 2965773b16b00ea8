"""Training recipes: the scratch CNN that converges on small data (AdamW, warm-up + cosine decay,
random resized crops, label smoothing), shared by notebook 03 and the scratch benchmark.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import keras

from dogbreeds.inputs.arrays import LabeledImages
from dogbreeds.inputs.augmentation import ResizedCropConfig, resized_crop_dataset
from dogbreeds.models.builders import CNNConfig, build_scratch_cnn, copy_matching_weights
from dogbreeds.models.training import FitResult, TrainingError, cosine_schedule, fit

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

MAX_WARMUP_EPOCHS = 5
EAGER_STEPS = 32
"""A run of at most this many optimizer steps trains eagerly: tracing its step would cost more than the steps."""


def warmup_epochs_for(epochs: int) -> int:
    """The warm-up of a fixed schedule of ``epochs``: a tenth of it, at most 5 epochs (none under 10)."""
    return min(MAX_WARMUP_EPOCHS, epochs // 10)


@dataclass(frozen=True)
class ScratchRecipe:
    """How a scratch CNN trains on in-memory photos: a fixed schedule, no early stopping.

    ``crop``: random resized crops with flips and colour jitter (see :func:`resized_crop_dataset`);
    None trains on the photos as they are (shuffled), which needs them at ``image_size`` already.
    """

    config: CNNConfig
    image_size: int
    batch_size: int
    warmup_epochs: int
    crop: ResizedCropConfig | None
    seed: int
    progress: bool

    def dataset(self, train: LabeledImages) -> Any:
        """The training batches: augmented crops, or the photos themselves when ``crop`` is None."""
        size = (self.image_size, self.image_size)
        if self.crop is not None:
            return resized_crop_dataset(train.images, train.labels, size, self.batch_size, self.crop, self.seed)
        if train.images.shape[1:3] != size:
            raise TrainingError(f"Without crops the photos must be {size} already, got {train.images.shape[1:3]}.")
        return train.dataset(self.batch_size, shuffle_seed=self.seed)

    def build(self, num_classes: int, steps: int, epochs: int, front: keras.Layer | None = None) -> keras.Model:
        """The compiled CNN whose learning rate warms up then follows a cosine over ``epochs`` of ``steps``.

        ``front``: a fixed layer between the (augmented) photos and the CNN, e.g. a whitening.
        A run of at most ``EAGER_STEPS`` steps (the bundled sample's) runs eagerly.
        """
        schedule = cosine_schedule(self.config.learning_rate, steps * epochs, warmup_steps=steps * self.warmup_epochs)
        size = (self.image_size, self.image_size, 3)
        model = build_scratch_cnn(self.config, num_classes, size, augmentation=front, learning_rate=schedule)
        model.run_eagerly = steps * epochs <= EAGER_STEPS
        return model

    def train(
        self,
        train: LabeledImages,
        num_classes: int,
        epochs: int,
        val: LabeledImages | None = None,
        start_from: keras.Model | None = None,
        *,
        front: keras.Layer | None = None,
        model: keras.Model | None = None,
        initial_epoch: int = 0,
        callbacks: Iterable[keras.callbacks.Callback] = (),
    ) -> tuple[keras.Model, FitResult]:
        """A model trained on ``train`` for ``epochs`` (warm-up + cosine), and its ``FitResult``.

        ``start_from``: a trained scratch CNN whose layers, all but the classifier, give the
        new model its starting weights. ``model`` and ``initial_epoch``: continue a model this
        recipe built (and saved) after that many epochs, as an interrupted run resumes.
        """
        train_ds = self.dataset(train)
        if model is None:
            model = self.build(num_classes, int(train_ds.cardinality()), epochs, front)
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
            initial_epoch=initial_epoch,
            callbacks=callbacks,
        )
        return model, result
