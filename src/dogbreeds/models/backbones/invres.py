"""Inverted-residual networks (MobileNetV2, EfficientNet-Lite0/1/2) as Keras graphs matching the PyTorch models.

Layer names follow ``keras.applications.MobileNetV2``; padding and BatchNorm epsilon follow the
weights' origin (torchvision: symmetric padding, epsilon 1e-5; TF-ported Lite: 'same', 1e-3).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

import keras

from dogbreeds.models.backbones.imagenet import IMAGENET_CLASSES

Pooling = Literal["avg", "max"] | None


@dataclass(frozen=True)
class StageSpec:
    """A stage of inverted-residual blocks: expansion, output channels, repeats, first stride, kernel."""

    expansion: int
    channels: int
    repeats: int
    stride: int
    kernel_size: int = 3


@dataclass(frozen=True)
class InvertedResidualNetSpec:
    """An inverted-residual network (MobileNetV2 family) as PyTorch trained it.

    ``padding`` is how strided convolutions pad: ``"symmetric"`` (PyTorch ``padding=k//2``)
    or ``"tf_same"`` (TensorFlow 'same': the extra row/column goes bottom/right).
    """

    stem_channels: int
    stages: tuple[StageSpec, ...]
    head_channels: int
    padding: Literal["symmetric", "tf_same"]
    batchnorm_epsilon: float


MOBILENET_V2_NET = InvertedResidualNetSpec(
    stem_channels=32,
    stages=(
        StageSpec(1, 16, 1, 1),
        StageSpec(6, 24, 2, 2),
        StageSpec(6, 32, 3, 2),
        StageSpec(6, 64, 4, 2),
        StageSpec(6, 96, 3, 1),
        StageSpec(6, 160, 3, 2),
        StageSpec(6, 320, 1, 1),
    ),
    head_channels=1280,
    padding="symmetric",
    batchnorm_epsilon=1e-5,
)

# EfficientNet-B0's stages without squeeze-excite, with ReLU6; TF-ported weights ('same' padding).
EFFICIENTNET_LITE0_NET = InvertedResidualNetSpec(
    stem_channels=32,
    stages=(
        StageSpec(1, 16, 1, 1, 3),
        StageSpec(6, 24, 2, 2, 3),
        StageSpec(6, 40, 2, 2, 5),
        StageSpec(6, 80, 3, 2, 3),
        StageSpec(6, 112, 3, 1, 5),
        StageSpec(6, 192, 4, 2, 5),
        StageSpec(6, 320, 1, 1, 3),
    ),
    head_channels=1280,
    padding="tf_same",
    batchnorm_epsilon=1e-3,
)


def _round_filters(channels: int, width: float, divisor: int = 8) -> int:
    """TF EfficientNet ``round_filters``: ``channels * width`` to a multiple of 8, never under 90 % of it."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def scale_efficientnet_lite(width: float, depth: float) -> InvertedResidualNetSpec:
    """Lite0 compound-scaled as TF's EfficientNet-Lite builder does.

    Stage channels scale with ``width`` (:func:`_round_filters`), repeats with ``depth`` (rounded up);
    the stem, the head and the repeats of the first and last stages stay fixed (``fix_head_stem``).
    """
    last = len(EFFICIENTNET_LITE0_NET.stages) - 1
    stages = tuple(
        dataclasses.replace(
            stage,
            channels=_round_filters(stage.channels, width),
            repeats=stage.repeats if i in (0, last) else math.ceil(depth * stage.repeats),
        )
        for i, stage in enumerate(EFFICIENTNET_LITE0_NET.stages)
    )
    return dataclasses.replace(EFFICIENTNET_LITE0_NET, stages=stages)


EFFICIENTNET_LITE1_NET = scale_efficientnet_lite(width=1.0, depth=1.1)
EFFICIENTNET_LITE2_NET = scale_efficientnet_lite(width=1.1, depth=1.2)


def block_prefix(block_id: int) -> str:
    """Layer-name prefix of a block, as in ``keras.applications.MobileNetV2``."""
    return "expanded_conv_" if block_id == 0 else f"block_{block_id}_"


def _strided_conv_padding(x: Any, kernel_size: int, stride: int, padding: str, name: str) -> tuple[Any, str]:
    """Explicit symmetric zero padding before a strided conv, or TF 'same' padding in the conv."""
    if stride == 1 or padding == "tf_same":
        return x, "same"
    return keras.layers.ZeroPadding2D(kernel_size // 2, name=name)(x), "valid"


def _batchnorm(x: Any, epsilon: float, name: str) -> Any:
    return keras.layers.BatchNormalization(epsilon=epsilon, name=name)(x)


def _inverted_residual_block(
    x: Any, net: InvertedResidualNetSpec, expansion: int, channels: int, stride: int, kernel_size: int, block_id: int
) -> Any:
    """1x1 expand + ReLU6, kxk depthwise + ReLU6, 1x1 linear projection, residual when shapes match."""
    prefix = block_prefix(block_id)
    inputs = x
    in_channels = x.shape[-1]
    if expansion != 1:
        x = keras.layers.Conv2D(in_channels * expansion, 1, use_bias=False, name=f"{prefix}expand")(x)
        x = _batchnorm(x, net.batchnorm_epsilon, f"{prefix}expand_BN")
        x = keras.layers.ReLU(6.0, name=f"{prefix}expand_relu")(x)
    x, conv_padding = _strided_conv_padding(x, kernel_size, stride, net.padding, f"{prefix}pad")
    x = keras.layers.DepthwiseConv2D(
        kernel_size, strides=stride, padding=conv_padding, use_bias=False, name=f"{prefix}depthwise"
    )(x)
    x = _batchnorm(x, net.batchnorm_epsilon, f"{prefix}depthwise_BN")
    x = keras.layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
    x = keras.layers.Conv2D(channels, 1, use_bias=False, name=f"{prefix}project")(x)
    x = _batchnorm(x, net.batchnorm_epsilon, f"{prefix}project_BN")
    if stride == 1 and in_channels == channels:
        x = keras.layers.Add(name=f"{prefix}add")([inputs, x])
    return x


def build_inverted_residual_net(
    net: InvertedResidualNetSpec, name: str, include_top: bool, pooling: Pooling, input_shape: tuple[int, int, int]
) -> keras.Model:
    """The Keras graph of ``net`` (random weights), with ``keras.applications.MobileNetV2`` layer names."""
    inputs = keras.Input(shape=input_shape, name="input_layer")
    x, conv_padding = _strided_conv_padding(inputs, 3, 2, net.padding, "Conv1_pad")
    x = keras.layers.Conv2D(net.stem_channels, 3, strides=2, padding=conv_padding, use_bias=False, name="Conv1")(x)
    x = _batchnorm(x, net.batchnorm_epsilon, "bn_Conv1")
    x = keras.layers.ReLU(6.0, name="Conv1_relu")(x)
    block_id = 0
    for stage in net.stages:
        for repeat in range(stage.repeats):
            stride = stage.stride if repeat == 0 else 1
            x = _inverted_residual_block(x, net, stage.expansion, stage.channels, stride, stage.kernel_size, block_id)
            block_id += 1
    x = keras.layers.Conv2D(net.head_channels, 1, use_bias=False, name="Conv_1")(x)
    x = _batchnorm(x, net.batchnorm_epsilon, "Conv_1_bn")
    x = keras.layers.ReLU(6.0, name="out_relu")(x)
    x = _pooling_and_head(x, include_top, pooling)
    return keras.Model(inputs, x, name=name)


def _pooling_and_head(x: Any, include_top: bool, pooling: Pooling) -> Any:
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        return keras.layers.Dense(IMAGENET_CLASSES, activation="softmax", name="predictions")(x)
    if pooling == "avg":
        return keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x
