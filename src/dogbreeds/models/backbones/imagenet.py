"""The ImageNet-1k classes: names, WordNet ids and the dog classes."""

from __future__ import annotations

import functools
import importlib.resources
import json

import numpy as np

IMAGENET_CLASSES = 1000
IMAGENET_DOG_CLASSES = range(151, 269)
"""The 118 classes under WordNet's "domestic dog" (151 Chihuahua .. 268 Mexican hairless)."""
IMAGENET_CANINE_CLASSES = range(151, 276)
"""The dogs, then the wild canines that follow them: timber, white and red wolf, coyote (269..272) and
dingo, dhole, African hunting dog (273..275, three Stanford Dogs breeds). The shelter's dog probability
sums them: a husky's or a malamute's probability often goes partly to the wolves."""


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
