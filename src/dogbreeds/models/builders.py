"""Model builders: the configurable scratch CNN, transfer models, feature heads, unfreezing for fine-tuning.

Every builder takes float32 images in 0..255 (what the input pipeline yields) and integer
labels, and returns a model compiled by :func:`~dogbreeds.models.compiling.compile_classifier`
(the losses and optimizers, and when each loss makes sense, are in ``models.compiling``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import keras
import numpy as np
from keras import layers

from dogbreeds.models.compiling import (
    LOSSES,
    OPTIMIZERS,
    LearningRate,
    ModelConfigError,
    _check_choice,
    _check_loss_options,
    compile_classifier,
)

ACTIVATIONS = ("relu", "elu", "selu", "leaky_relu", "gelu", "swish", "tanh", "sigmoid")
POOLINGS = ("gap", "flatten")
_INITIALIZERS = {"selu": "lecun_normal", "tanh": "glorot_uniform", "sigmoid": "glorot_uniform"}


@dataclass(frozen=True)
class CNNConfig:
    """Settings of the scratch CNN; the defaults are the baseline of the ablation study.

    ``filters`` gives one conv block per entry (conv, optional batch norm, activation,
    2x2 max pooling). ``pooling`` turns the last feature map into a vector ("gap": global
    average pooling, "flatten": keep every position). ``dense_units`` = 0 drops the hidden
    dense layer. ``dropout`` is applied just before the output layer. ``weight_decay``
    is the optimizer's decoupled weight decay (None: the optimizer's default, which is
    0.004 for AdamW and none for the others); Keras shrinks each weight by
    ``learning_rate * weight_decay`` a step, so useful values are around 0.01-0.1.
    """

    filters: tuple[int, ...] = (32, 64, 128)
    kernel_size: int = 3
    activation: str = "relu"
    batch_norm: bool = True
    dropout: float = 0.3
    pooling: str = "gap"
    dense_units: int = 256
    l2: float = 0.0
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float | None = None
    loss: str = "sparse_categorical_crossentropy"
    label_smoothing: float = 0.0
    focal_gamma: float = 2.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "filters", tuple(int(f) for f in self.filters))
        if not self.filters or min(self.filters) < 1:
            raise ModelConfigError(f"filters must be a non-empty tuple of positive ints, got {self.filters}.")
        if self.kernel_size < 1:
            raise ModelConfigError(f"kernel_size must be >= 1, got {self.kernel_size}.")
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("pooling", self.pooling, POOLINGS)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("loss", self.loss, LOSSES)
        if not 0.0 <= self.dropout < 1.0:
            raise ModelConfigError(f"dropout must be in [0, 1), got {self.dropout}.")
        if self.dense_units < 0:
            raise ModelConfigError(f"dense_units must be >= 0 (0 = no hidden layer), got {self.dense_units}.")
        if self.l2 < 0:
            raise ModelConfigError(f"l2 must be >= 0, got {self.l2}.")
        if self.learning_rate <= 0:
            raise ModelConfigError(f"learning_rate must be > 0, got {self.learning_rate}.")
        if self.weight_decay is not None and self.weight_decay < 0:
            raise ModelConfigError(f"weight_decay must be >= 0 (or None), got {self.weight_decay}.")
        _check_loss_options(self.loss, self.label_smoothing, self.focal_gamma)

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain JSON-ready values (``filters`` as a list)."""
        values = dataclasses.asdict(self)
        values["filters"] = list(self.filters)
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> CNNConfig:
        """A config from ``to_dict()`` output; unknown keys are an error, missing keys keep defaults."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ModelConfigError(f"Unknown CNNConfig settings {unknown}; valid ones are {sorted(known)}.")
        return cls(**values)


class ParamCount(NamedTuple):
    """Number of parameters of a model."""

    trainable: int
    non_trainable: int

    @property
    def total(self) -> int:
        return self.trainable + self.non_trainable


def build_scratch_cnn(
    config: CNNConfig,
    num_classes: int,
    input_shape: tuple[int, int, int],
    augmentation: keras.Layer | None = None,
    learning_rate: LearningRate | None = None,
) -> keras.Model:
    """The compiled scratch CNN described by ``config`` for images of ``input_shape`` (0..255).

    ``learning_rate`` (a number or a Keras schedule) replaces ``config.learning_rate``.
    """
    _check_num_classes(num_classes)
    height, width = input_shape[0], input_shape[1]
    shrink = 2 ** len(config.filters)
    if height // shrink < 1 or width // shrink < 1:
        raise ModelConfigError(
            f"{len(config.filters)} conv blocks halve {height}x{width} images below 1 pixel; "
            "use fewer blocks or larger images."
        )
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = augmentation(inputs) if augmentation is not None else inputs
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(x)
    x = _scratch_features(x, config)
    if config.dropout:
        x = layers.Dropout(config.dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name="scratch_cnn")
    return compile_classifier(
        model,
        optimizer=config.optimizer,
        learning_rate=config.learning_rate if learning_rate is None else learning_rate,
        weight_decay=config.weight_decay,
        loss=config.loss,
        label_smoothing=config.label_smoothing,
        focal_gamma=config.focal_gamma,
    )


def _scratch_features(x: keras.KerasTensor, config: CNNConfig) -> keras.KerasTensor:
    """The scratch CNN from rescaled pixels to the vector its classifier reads: conv blocks, pooling, hidden layer."""
    regularizer = keras.regularizers.L2(config.l2) if config.l2 > 0 else None
    initializer = _INITIALIZERS.get(config.activation, "he_normal")
    for index, filters in enumerate(config.filters, start=1):
        x = layers.Conv2D(
            filters,
            config.kernel_size,
            padding="same",
            use_bias=not config.batch_norm,
            kernel_initializer=initializer,
            kernel_regularizer=regularizer,
            name=f"block{index}_conv",
        )(x)
        if config.batch_norm:
            x = layers.BatchNormalization(name=f"block{index}_bn")(x)
        x = layers.Activation(config.activation, name=f"block{index}_{config.activation}")(x)
        x = layers.MaxPooling2D(2, name=f"block{index}_pool")(x)
    if config.pooling == "gap":
        x = layers.GlobalAveragePooling2D(name="gap")(x)
    else:
        x = layers.Flatten(name="flatten")(x)
    if config.dense_units:
        x = layers.Dense(
            config.dense_units,
            activation=config.activation,
            kernel_initializer=initializer,
            kernel_regularizer=regularizer,
            name="hidden",
        )(x)
    return x


def build_transfer_model(
    backbone: keras.Model,
    num_classes: int,
    dropout: float = 0.2,
    preprocess: keras.Layer | Callable[[Any], Any] | None = None,
    augmentation: keras.Layer | None = None,
    *,
    input_shape: tuple[int | None, int | None, int] | None = None,
    optimizer: str = "adam",
    learning_rate: float = 1e-3,
    loss: str = "sparse_categorical_crossentropy",
    label_smoothing: float = 0.0,
) -> keras.Model:
    """Frozen ``backbone`` + global pooling (if it does not pool) + dropout + softmax, compiled.

    The pipeline is image (0..255) -> ``augmentation`` -> ``preprocess`` (the backbone's
    own input scaling; a layer, or a callable wrapped in a Lambda layer, which makes a
    saved ``.keras`` file load only with ``safe_mode=False``; weight files are unaffected)
    -> backbone, called with ``training=False`` so its batch norm layers stay in inference
    mode even when fine-tuned (see ``unfreeze_last``).
    """
    _check_num_classes(num_classes)
    if not 0.0 <= dropout < 1.0:
        raise ModelConfigError(f"dropout must be in [0, 1), got {dropout}.")
    backbone.trainable = False
    inputs = keras.Input(shape=tuple(input_shape or backbone.input_shape[1:]), name="image")
    x = augmentation(inputs) if augmentation is not None else inputs
    if preprocess is not None:
        layer = preprocess if isinstance(preprocess, keras.Layer) else layers.Lambda(preprocess, name="preprocess")
        x = layer(x)
    x = backbone(x, training=False)
    if len(x.shape) == 4:
        x = layers.GlobalAveragePooling2D(name="gap")(x)
    elif len(x.shape) != 2:
        raise ModelConfigError(
            f"Backbone output has shape {x.shape}; expected a feature map (4-D) or pooled features (2-D)."
        )
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name=f"transfer_{backbone.name}")
    return compile_classifier(
        model, optimizer=optimizer, learning_rate=learning_rate, loss=loss, label_smoothing=label_smoothing
    )


def build_feature_head(
    feature_dim: int,
    num_classes: int,
    dropout: float = 0.2,
    hidden: int | None = None,
    *,
    optimizer: str = "adam",
    learning_rate: float = 1e-3,
    loss: str = "sparse_categorical_crossentropy",
    label_smoothing: float = 0.0,
) -> keras.Model:
    """A compiled classifier over cached backbone features: [dense ``hidden`` relu] + dropout + softmax."""
    _check_num_classes(num_classes)
    if feature_dim < 1:
        raise ModelConfigError(f"feature_dim must be >= 1, got {feature_dim}.")
    if not 0.0 <= dropout < 1.0:
        raise ModelConfigError(f"dropout must be in [0, 1), got {dropout}.")
    inputs = keras.Input(shape=(feature_dim,), name="features")
    x = inputs
    if hidden:
        x = layers.Dense(hidden, activation="relu", name="hidden")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name="feature_head")
    return compile_classifier(
        model, optimizer=optimizer, learning_rate=learning_rate, loss=loss, label_smoothing=label_smoothing
    )


def unfreeze_last(
    model: keras.Model, n_layers: int, learning_rate: float = 1e-5, optimizer: str = "adam"
) -> keras.Model:
    """Makes the last ``n_layers`` weight layers of the backbone trainable, for fine-tuning.

    The backbone is the single nested model inside ``model`` (a transfer model), or
    ``model`` itself when it has none. Only layers that own weights count, and batch
    normalization layers never do: they stay frozen, which in Keras 3 also keeps them in
    inference mode. Every other backbone layer is frozen. A compiled ``model`` is
    recompiled (same loss, fresh ``optimizer`` with ``learning_rate``) so the change
    takes effect; a bare backbone must be recompiled by the model that contains it.
    """
    backbone = find_backbone(model)
    candidates = [
        layer for layer in _leaf_layers(backbone) if layer.weights and not isinstance(layer, layers.BatchNormalization)
    ]
    if not 0 <= n_layers <= len(candidates):
        raise ModelConfigError(
            f"n_layers must be between 0 and {len(candidates)} (the backbone's weight layers, "
            f"batch norm excluded), got {n_layers}."
        )
    chosen = {id(layer) for layer in candidates[len(candidates) - n_layers :]}
    backbone.trainable = True
    for layer in _leaf_layers(backbone):
        layer.trainable = id(layer) in chosen
    if model.compiled:
        compile_classifier(model, optimizer=optimizer, learning_rate=learning_rate, loss=model.loss)
    return model


def find_backbone(model: keras.Model) -> keras.Model:
    """The single nested model inside ``model``, or ``model`` itself when it nests none."""
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if len(nested) > 1:
        names = [layer.name for layer in nested]
        raise ModelConfigError(f"Model {model.name!r} nests several models {names}; pass the backbone itself.")
    return nested[0] if nested else model


def copy_matching_weights(
    source: keras.Model, target: keras.Model, skip: tuple[str, ...] = ("predictions",)
) -> list[str]:
    """Copy into ``target`` the weights of every layer that ``source`` has under the same name.

    Layers named in ``skip`` keep their fresh weights (by default the classifier, whose
    size follows the number of classes). Returns the names of the layers copied; a layer
    found in both models with other weight shapes is an error.
    """
    by_name = {layer.name: layer for layer in source.layers}
    copied = []
    for layer in target.layers:
        match = by_name.get(layer.name)
        if match is None or layer.name in skip or not layer.weights:
            continue
        shapes, source_shapes = [w.shape for w in layer.weights], [w.shape for w in match.weights]
        if shapes != source_shapes:
            raise ModelConfigError(
                f"Layer {layer.name!r} has weights of shapes {source_shapes} in the source "
                f"model and {shapes} in the target; they cannot be copied."
            )
        layer.set_weights(match.get_weights())
        copied.append(layer.name)
    return copied


def count_params(model: keras.Model) -> ParamCount:
    """Trainable and non-trainable parameter counts of ``model``."""
    return ParamCount(
        trainable=int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        non_trainable=int(sum(np.prod(w.shape) for w in model.non_trainable_weights)),
    )


def _leaf_layers(model: keras.Model) -> Iterator[keras.Layer]:
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield layer


def _check_num_classes(num_classes: int) -> None:
    if num_classes < 2:
        raise ModelConfigError(f"num_classes must be >= 2, got {num_classes}.")
