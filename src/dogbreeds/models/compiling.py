"""Losses, optimizers and the compile step that every model of the study shares.

A compiled classifier takes integer labels; its metrics are ``accuracy`` and ``top5_accuracy``
(top-k with k = min(5, number of classes)).

Losses (``LOSSES``), and when each makes sense for a softmax classifier:

- ``sparse_categorical_crossentropy``: the standard choice; integer labels as they are.
- ``categorical_crossentropy``: the same loss on one-hot labels; only useful with
  ``label_smoothing`` > 0 (a regulariser that helps on fine-grained classes).
- ``focal``: categorical focal cross-entropy (``focal_gamma``), down-weights easy examples;
  meant for class imbalance, which Stanford Dogs hardly has, so expect a tie at best.
- ``squared_hinge``: a margin loss on the softmax probabilities, kept only to reproduce the
  ablation studies; its gradients vanish once the margin is met, so it trains worse.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

import keras
from keras import ops

from dogbreeds.core.errors import DogbreedsError

OPTIMIZERS = ("adam", "adamw", "nadam", "adamax", "rmsprop", "sgd", "adagrad")
LOSSES = ("sparse_categorical_crossentropy", "categorical_crossentropy", "focal", "squared_hinge")
TOP_K_METRIC = "top5_accuracy"
_SMOOTHABLE_LOSSES = ("categorical_crossentropy", "focal")


class ModelConfigError(DogbreedsError, ValueError):
    """A model setting is out of range or not one of the supported choices."""


@keras.saving.register_keras_serializable(package="dogbreeds")
class OneHotLoss(keras.losses.Loss):
    """Applies a categorical loss (``reduction=None``) to integer labels by one-hot encoding them."""

    def __init__(self, inner: keras.losses.Loss, name: str | None = None, **kwargs: Any) -> None:
        if inner.reduction is not None:
            raise ModelConfigError("OneHotLoss needs an inner loss built with reduction=None.")
        super().__init__(name=name or f"one_hot_{inner.name}", **kwargs)
        self.inner = inner

    def call(self, y_true: Any, y_pred: Any) -> Any:
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        one_hot = ops.one_hot(labels, ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        return self.inner(one_hot, y_pred)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "inner": keras.saving.serialize_keras_object(self.inner)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> OneHotLoss:
        config = dict(config)
        inner = keras.saving.deserialize_keras_object(config.pop("inner"))
        return cls(inner, **config)


def make_loss(name: str, label_smoothing: float = 0.0, focal_gamma: float = 2.0) -> keras.losses.Loss:
    """The loss called ``name`` (one of ``LOSSES``), taking integer labels."""
    _check_choice("loss", name, LOSSES)
    _check_loss_options(name, label_smoothing, focal_gamma)
    if name == "sparse_categorical_crossentropy":
        return keras.losses.SparseCategoricalCrossentropy(name=name)
    if name == "categorical_crossentropy":
        inner = keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing, reduction=None)
    elif name == "focal":
        inner = keras.losses.CategoricalFocalCrossentropy(
            gamma=focal_gamma, label_smoothing=label_smoothing, reduction=None
        )
    else:
        inner = keras.losses.SquaredHinge(reduction=None)
    return OneHotLoss(inner, name=name)


LearningRate: TypeAlias = float | keras.optimizers.schedules.LearningRateSchedule


def make_optimizer(
    name: str, learning_rate: LearningRate, weight_decay: float | None = None
) -> keras.optimizers.Optimizer:
    """A fresh optimizer called ``name`` (one of ``OPTIMIZERS``); "sgd" uses Nesterov momentum 0.9.

    ``learning_rate`` is a number or a Keras schedule; ``weight_decay`` (decoupled) None
    keeps the optimizer's default.
    """
    _check_choice("optimizer", name, OPTIMIZERS)
    if not isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule) and learning_rate <= 0:
        raise ModelConfigError(f"learning_rate must be > 0, got {learning_rate}.")
    if weight_decay is not None and weight_decay < 0:
        raise ModelConfigError(f"weight_decay must be >= 0 (or None), got {weight_decay}.")
    decay = {} if weight_decay is None else {"weight_decay": weight_decay}
    factories: dict[str, Callable[[], keras.optimizers.Optimizer]] = {
        "adam": lambda: keras.optimizers.Adam(learning_rate, **decay),
        "adamw": lambda: keras.optimizers.AdamW(learning_rate, **decay),
        "nadam": lambda: keras.optimizers.Nadam(learning_rate, **decay),
        "adamax": lambda: keras.optimizers.Adamax(learning_rate, **decay),
        "rmsprop": lambda: keras.optimizers.RMSprop(learning_rate, **decay),
        "sgd": lambda: keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True, **decay),
        "adagrad": lambda: keras.optimizers.Adagrad(learning_rate, **decay),
    }
    return factories[name]()


def compile_classifier(
    model: keras.Model,
    *,
    optimizer: str = "adam",
    learning_rate: LearningRate = 1e-3,
    weight_decay: float | None = None,
    loss: str | keras.losses.Loss = "sparse_categorical_crossentropy",
    label_smoothing: float = 0.0,
    focal_gamma: float = 2.0,
) -> keras.Model:
    """Compiles a softmax classifier for integer labels with accuracy and top-5 accuracy."""
    num_classes = int(model.output_shape[-1])
    loss_fn = loss if isinstance(loss, keras.losses.Loss) else make_loss(loss, label_smoothing, focal_gamma)
    model.compile(
        optimizer=make_optimizer(optimizer, learning_rate, weight_decay),
        loss=loss_fn,
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
            keras.metrics.SparseTopKCategoricalAccuracy(k=min(5, num_classes), name=TOP_K_METRIC),
        ],
    )
    return model


def _check_choice(setting: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ModelConfigError(f"Unknown {setting} {value!r}; choose one of {', '.join(choices)}.")


def _check_loss_options(loss: str, label_smoothing: float, focal_gamma: float) -> None:
    if not 0.0 <= label_smoothing < 1.0:
        raise ModelConfigError(f"label_smoothing must be in [0, 1), got {label_smoothing}.")
    if label_smoothing and loss not in _SMOOTHABLE_LOSSES:
        raise ModelConfigError(
            f"label_smoothing needs one-hot targets: use loss 'categorical_crossentropy' or 'focal', not {loss!r}."
        )
    if focal_gamma < 0:
        raise ModelConfigError(f"focal_gamma must be >= 0, got {focal_gamma}.")
