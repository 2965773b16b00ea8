"""Errors of the backbone registry: unknown names, missing weight files, weights that do not fit a graph."""

from __future__ import annotations

from dogbreeds.core.errors import DogbreedsError


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
