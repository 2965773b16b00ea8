"""Grad-CAM heat maps: which part of the photo made a Keras classifier choose a breed.

Grad-CAM (Selvaraju et al., 2017) weights each channel of a convolutional feature
map by the mean gradient of the class score over it, sums the channels, keeps the
positive part and scales it to 0..1. The feature layer may sit inside a nested
backbone (transfer models wrap a ``keras.Model``): :class:`GradCam` re-calls the
classifier's own layers on new inputs so that one model returns both that inner
feature map and the predictions. Weights are shared, never copied.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from dogbreeds.core.errors import DogbreedsError

CONV_LAYER_TYPES = (
    keras.layers.Conv2D,
    keras.layers.SeparableConv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.Conv2DTranspose,
)
PATH_SEPARATOR = "/"
_TINY_PROBABILITY = 1e-30


class GradCamError(DogbreedsError, ValueError):
    """A model, layer or image that Grad-CAM cannot work with."""


@dataclass(frozen=True)
class GradCamResult:
    """Heat maps for a batch of images and what they explain.

    heatmaps: (N, H, W) float32 in 0..1 at the input image size.
    class_indices: (N,) the class each heat map explains.
    probabilities: (N, C) the model's outputs for the images.
    """

    heatmaps: np.ndarray
    class_indices: np.ndarray
    probabilities: np.ndarray


class GradCam:
    """Grad-CAM for one classifier and one feature layer; build once, explain many images.

    ``layer_name`` picks the feature layer: a layer name found anywhere in the model
    (nested models included) or a path such as ``"mobilenetv2_1.00_224/out_relu"``.
    By default it is the last convolution, followed through the batch-norm and
    activation layers that directly consume it (e.g. ``out_relu`` in MobileNetV2).
    With ``outputs_probabilities`` (a softmax output, the default) the class score is
    the class logit minus the mean logit, recovered as log p_c - mean(log p), so
    confident predictions do not saturate the gradients; set it to False for a model
    that outputs logits.
    """

    def __init__(self, model: keras.Model, layer_name: str | None = None, outputs_probabilities: bool = True):
        if keras.backend.backend() != "tensorflow":
            raise GradCamError(f"Grad-CAM here needs the TensorFlow backend, Keras uses {keras.backend.backend()!r}.")
        self.layer_path = find_feature_layer(model, layer_name)
        if len(model.inputs) != 1:
            raise GradCamError(f"Model {model.name!r} has {len(model.inputs)} inputs; Grad-CAM needs one image input.")
        self.model = model
        self.outputs_probabilities = outputs_probabilities
        self._feature_model = _feature_and_output_model(model, self.layer_path)

    @property
    def layer_name(self) -> str:
        """The feature layer as a path from the classifier, e.g. ``"backbone/out_relu"``."""
        return PATH_SEPARATOR.join(self.layer_path)

    def explain(
        self,
        images: np.ndarray,
        class_indices: Sequence[int] | np.ndarray | None = None,
        batch_size: int = 16,
    ) -> GradCamResult:
        """Heat maps for a batch of model-ready images (N, H, W, C); default class: the predicted one."""
        batch = self._check_images(images)
        if batch_size < 1:
            raise GradCamError(f"batch_size must be at least 1, got {batch_size}.")
        wanted = None if class_indices is None else self._check_classes(class_indices, len(batch))
        heatmaps, chosen, probabilities = [], [], []
        starts = range(0, len(batch), batch_size)
        for start in tqdm(starts, desc="Grad-CAM", unit="batch", disable=len(starts) < 2):
            part = None if wanted is None else wanted[start : start + batch_size]
            maps, classes, probs = self._explain_batch(batch[start : start + batch_size], part)
            heatmaps.append(maps)
            chosen.append(classes)
            probabilities.append(probs)
        return GradCamResult(
            heatmaps=np.concatenate(heatmaps),
            class_indices=np.concatenate(chosen),
            probabilities=np.concatenate(probabilities),
        )

    def heatmap(self, image: np.ndarray, class_index: int | None = None) -> np.ndarray:
        """The (H, W) heat map in 0..1 for one model-ready image (H, W, C)."""
        classes = None if class_index is None else [class_index]
        return self.explain(np.asarray(image)[None], classes).heatmaps[0]

    def _check_images(self, images: np.ndarray) -> np.ndarray:
        batch = np.asarray(images, dtype=np.float32)
        expected = tuple(self.model.inputs[0].shape[1:])
        if batch.ndim != 4:
            raise GradCamError(
                f"images must be a batch shaped (N, height, width, channels), got {batch.shape}; "
                "for one image use GradCam.heatmap or add a batch axis."
            )
        if len(batch) == 0:
            raise GradCamError("images is empty.")
        for got, want in zip(batch.shape[1:], expected):
            if want is not None and got != want:
                raise GradCamError(f"images are {batch.shape[1:]} but the model expects {expected}; resize them first.")
        return batch

    def _check_classes(self, class_indices: Sequence[int] | np.ndarray, count: int) -> np.ndarray:
        wanted = np.asarray(class_indices, dtype=np.int64)
        if wanted.shape != (count,):
            raise GradCamError(f"class_indices needs one class per image ({count}), got shape {wanted.shape}.")
        num_classes = self._feature_model.outputs[1].shape[-1]
        if wanted.min() < 0 or wanted.max() >= num_classes:
            raise GradCamError(f"class_indices must lie in 0..{num_classes - 1}, got {wanted.tolist()}.")
        return wanted

    def _explain_batch(
        self, images: np.ndarray, class_indices: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        inputs = tf.convert_to_tensor(images)
        with tf.GradientTape() as tape:
            features, predictions = self._feature_model(inputs, training=False)
            features = tf.cast(features, tf.float32)
            predictions = tf.cast(predictions, tf.float32)
            if class_indices is None:
                chosen = tf.argmax(predictions, axis=1, output_type=tf.int64)
            else:
                chosen = tf.constant(class_indices, dtype=tf.int64)
            scores = self._class_scores(predictions, chosen)
        gradients = tape.gradient(scores, features)
        channel_weights = tf.reduce_mean(gradients, axis=(1, 2))
        cams = tf.nn.relu(tf.einsum("nhwk,nk->nhw", features, channel_weights)).numpy()
        height, width = images.shape[1:3]
        heatmaps = np.stack([_normalise_and_resize(cam, height, width) for cam in cams])
        return heatmaps, chosen.numpy(), predictions.numpy()

    def _class_scores(self, predictions: tf.Tensor, chosen: tf.Tensor) -> tf.Tensor:
        if self.outputs_probabilities:
            log_probs = tf.math.log(tf.maximum(predictions, _TINY_PROBABILITY))
            relative = log_probs - tf.reduce_mean(log_probs, axis=1, keepdims=True)
            return tf.gather(relative, chosen, batch_dims=1)
        return tf.gather(predictions, chosen, batch_dims=1)


def _normalise_and_resize(cam: np.ndarray, height: int, width: int) -> np.ndarray:
    """Scale a class activation map to 0..1 (all zeros stays zeros) and resize it bilinearly."""
    peak = float(cam.max())
    scaled = (cam / peak if peak > 0 else np.zeros_like(cam)).astype(np.float32)
    resized = cv2.resize(scaled, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(resized, 0.0, 1.0)


def find_feature_layer(model: keras.Model, layer_name: str | None = None) -> tuple[str, ...]:
    """Path of layer names from the classifier to its Grad-CAM feature layer (see :class:`GradCam`)."""
    if not isinstance(model, keras.Model) or not hasattr(model, "inputs") or not model.inputs:
        raise GradCamError(
            "Grad-CAM needs a built Functional or Sequential keras.Model "
            "(subclassed models do not expose their layer graph)."
        )
    path = _last_conv_path(model) if layer_name is None else _named_layer_path(model, layer_name)
    layer = _layer_at(model, path)
    shape = _output_shape(layer)
    if shape is None or len(shape) != 4:
        raise GradCamError(
            f"Layer {PATH_SEPARATOR.join(path)!r} outputs shape {shape}; Grad-CAM needs a "
            "(batch, height, width, channels) feature map, e.g. the last convolution's activation."
        )
    return path


def _walk(model: keras.Model, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], keras.layers.Layer]]:
    """Every layer in graph order as (path, layer), nested models expanded in place."""
    for layer in model.layers:
        path = (*prefix, layer.name)
        if isinstance(layer, keras.Model):
            yield from _walk(layer, path)
        yield path, layer


def _last_conv_path(model: keras.Model) -> tuple[str, ...]:
    conv_paths = [path for path, layer in _walk(model) if isinstance(layer, CONV_LAYER_TYPES)]
    if not conv_paths:
        raise GradCamError(
            f"Model {model.name!r} has no convolution layer; pass layer_name= with a layer "
            "that outputs a (batch, height, width, channels) feature map."
        )
    path = conv_paths[-1]
    owner = _layer_at(model, path[:-1]) if len(path) > 1 else model
    layer = _follow_shape_preserving(owner, _layer_at(model, path))
    return (*path[:-1], layer.name)


def _follow_shape_preserving(owner: keras.Model, layer: keras.layers.Layer) -> keras.layers.Layer:
    """Step from a convolution to the batch-norm/activation layers that directly consume it."""
    current = layer
    while True:
        tensor = current.output
        consumer = next(
            (
                candidate
                for candidate in owner.layers
                if not isinstance(candidate, keras.Model)
                and any(t is tensor for t in keras.tree.flatten(_input_of(candidate)))
            ),
            None,
        )
        if consumer is None or _output_shape(consumer) != _output_shape(current):
            return current
        current = consumer


def _named_layer_path(model: keras.Model, layer_name: str) -> tuple[str, ...]:
    if PATH_SEPARATOR in layer_name:
        path = tuple(layer_name.split(PATH_SEPARATOR))
        _layer_at(model, path)
        return path
    matches = [path for path, _ in _walk(model) if path[-1] == layer_name]
    if len(matches) == 1:
        return matches[0]
    if matches:
        options = ", ".join(PATH_SEPARATOR.join(path) for path in matches)
        raise GradCamError(f"Layer name {layer_name!r} is ambiguous; use one of the paths: {options}.")
    spatial = [PATH_SEPARATOR.join(path) for path, layer in _walk(model) if len(_output_shape(layer) or ()) == 4]
    raise GradCamError(
        f"No layer named {layer_name!r} in model {model.name!r}. "
        f"Layers with a spatial feature map (last ones): {spatial[-8:]}."
    )


def _layer_at(model: keras.Model, path: Sequence[str]) -> keras.layers.Layer:
    layer: keras.layers.Layer = model
    for depth, name in enumerate(path):
        if not isinstance(layer, keras.Model):
            raise GradCamError(f"{PATH_SEPARATOR.join(path[:depth])!r} is not a model; it has no layer {name!r}.")
        found = [child for child in layer.layers if child.name == name]
        if not found:
            raise GradCamError(f"Model {layer.name!r} has no layer {name!r} (path {PATH_SEPARATOR.join(path)!r}).")
        layer = found[0]
    return layer


def _input_of(layer: keras.layers.Layer):
    try:
        return layer.input
    except (AttributeError, ValueError):
        return []


def _output_shape(layer: keras.layers.Layer) -> tuple | None:
    try:
        return tuple(layer.output.shape)
    except (AttributeError, ValueError):
        return None


def _feature_and_output_model(model: keras.Model, path: Sequence[str]) -> keras.Model:
    """A model on the classifier's inputs returning [feature map at path, predictions].

    The classifier's layers are re-called (not copied); a nested model on the path
    is replaced by its own two-output version, recursively.
    """
    target = _layer_at(model, path[:1])
    inner = _feature_and_output_model(target, path[1:]) if len(path) > 1 else None
    captured: list = []

    def call(layer, *args, **kwargs):
        if layer is not target:
            return layer(*args, **kwargs)
        if inner is None:
            output = layer(*args, **kwargs)
            captured.append(output)
            return output
        feature, output = inner(*args, **kwargs)
        captured.append(feature)
        return output

    if isinstance(model, keras.Sequential):
        inputs = keras.Input(shape=model.inputs[0].shape[1:], dtype=model.inputs[0].dtype)
        outputs = inputs
        for layer in model.layers:
            outputs = call(layer, outputs)
        outputs = [outputs]
    else:
        rebuilt = keras.models.clone_model(model, clone_function=lambda layer: layer, call_function=call)
        inputs, outputs = rebuilt.inputs, rebuilt.outputs
    if len(outputs) != 1:
        raise GradCamError(
            f"Model {model.name!r} has {len(outputs)} outputs; Grad-CAM needs a single-output classifier."
        )
    if len(captured) != 1:
        raise GradCamError(
            f"Layer {target.name!r} is called {len(captured)} times in {model.name!r}; pick a layer that is used once."
        )
    return keras.Model(inputs, [captured[0], outputs[0]], name=f"{model.name}_gradcam")
