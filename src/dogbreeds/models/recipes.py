"""Training recipes: the scratch CNN that converges on small data (AdamW, warm-up + cosine decay,
random resized crops, label smoothing), as used by the scratch benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dogbreeds.inputs.arrays import LabeledImages
from dogbreeds.inputs.augmentation import ResizedCropConfig, resized_crop_dataset
from dogbreeds.models.builders import CNNConfig, build_scratch_cnn, copy_matching_weights
from dogbreeds.models.training import cosine_schedule, fit

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
