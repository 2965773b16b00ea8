"""PyTorch state dicts into the Keras graphs of ``invres``: layer-name maps and a checked, layer-by-layer copy."""

from __future__ import annotations

from collections.abc import Mapping

import keras
import numpy as np

from dogbreeds.models.backbones.errors import WeightPortError
from dogbreeds.models.backbones.invres import (
    EFFICIENTNET_LITE0_NET,
    MOBILENET_V2_NET,
    InvertedResidualNetSpec,
    block_prefix,
)


def mobilenet_v2_torch_names(net: InvertedResidualNetSpec = MOBILENET_V2_NET) -> dict[str, str]:
    """Keras layer name -> torchvision ``mobilenet_v2`` state-dict prefix."""
    names = {"Conv1": "features.0.0", "bn_Conv1": "features.0.1"}
    block_id = 0
    for stage in net.stages:
        for _ in range(stage.repeats):
            prefix, torch = block_prefix(block_id), f"features.{block_id + 1}.conv"
            if stage.expansion == 1:
                names |= {
                    f"{prefix}depthwise": f"{torch}.0.0",
                    f"{prefix}depthwise_BN": f"{torch}.0.1",
                    f"{prefix}project": f"{torch}.1",
                    f"{prefix}project_BN": f"{torch}.2",
                }
            else:
                names |= {
                    f"{prefix}expand": f"{torch}.0.0",
                    f"{prefix}expand_BN": f"{torch}.0.1",
                    f"{prefix}depthwise": f"{torch}.1.0",
                    f"{prefix}depthwise_BN": f"{torch}.1.1",
                    f"{prefix}project": f"{torch}.2",
                    f"{prefix}project_BN": f"{torch}.3",
                }
            block_id += 1
    head = f"features.{block_id + 1}"
    return names | {"Conv_1": f"{head}.0", "Conv_1_bn": f"{head}.1", "predictions": "classifier.1"}


def efficientnet_lite_torch_names(net: InvertedResidualNetSpec = EFFICIENTNET_LITE0_NET) -> dict[str, str]:
    """Keras layer name -> EfficientNet-PyTorch (``_blocks.N._expand_conv`` style) state-dict prefix."""
    names = {"Conv1": "_conv_stem", "bn_Conv1": "_bn0"}
    block_id = 0
    for stage in net.stages:
        for _ in range(stage.repeats):
            prefix, torch = block_prefix(block_id), f"_blocks.{block_id}"
            if stage.expansion != 1:
                names |= {f"{prefix}expand": f"{torch}._expand_conv", f"{prefix}expand_BN": f"{torch}._bn0"}
            names |= {
                f"{prefix}depthwise": f"{torch}._depthwise_conv",
                f"{prefix}depthwise_BN": f"{torch}._bn1",
                f"{prefix}project": f"{torch}._project_conv",
                f"{prefix}project_BN": f"{torch}._bn2",
            }
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
            raise WeightPortError(
                f"Layer '{layer.name}' expects shapes {expected}, "
                f"the state dict under '{prefix}' gives {[v.shape for v in values]}."
            )
        layer.set_weights(values)
        used |= {key for key in state if key.startswith(prefix + ".")}
    mapped_prefixes = tuple(prefix + "." for name, prefix in torch_names.items() if name not in _layer_names(model))
    leftover = [
        key
        for key in state
        if key not in used and not key.endswith("num_batches_tracked") and not key.startswith(mapped_prefixes)
    ]
    if leftover:
        raise WeightPortError(f"{len(leftover)} PyTorch tensors have no Keras layer, e.g. {leftover[:3]}.")


def _layer_names(model: keras.Model) -> set[str]:
    return {layer.name for layer in model.layers}
