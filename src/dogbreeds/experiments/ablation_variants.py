"""The ablation study's design: variants that each change one thing against a control, and their inputs.

A :class:`Variant` is data: the ``CNNConfig`` settings it changes, the image
preprocessing it applies, its augmentation preset, whether it whitens the images.
:data:`VARIANTS` is the study notebooks 02 and 03 use; :class:`VariantInputs` derives each
variant's images once. :mod:`dogbreeds.experiments.ablation` trains them.

Whitening arms run at the whitening size: ZCA needs the pixel covariance, a D x D
matrix with D = side x side x 3, which is practical at 32 px, not at the CNN's usual
size. So the ZCA arm and its control (the baseline at that size) both train at
``whitening_size``, and whitening is the only difference between them. The whitener
is fitted on the train split only and applied to every split.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dogbreeds.core.errors import DogbreedsError
from dogbreeds.inputs.arrays import SplitArrays
from dogbreeds.inputs.augmentation import AugmentationError, resolve_config
from dogbreeds.inputs.preprocessing import PreprocessingError, apply_named, named_preprocessor
from dogbreeds.inputs.whitening import Whitener
from dogbreeds.models.builders import CNNConfig
from dogbreeds.models.compiling import ModelConfigError


class AblationError(DogbreedsError, ValueError):
    """A variant or an ablation study that cannot be run as described."""


@dataclass(frozen=True)
class Variant:
    """One arm of the ablation study, described by what differs from the baseline.

    ``config``: ``CNNConfig`` settings that differ from the base config.
    ``preprocessing``: a :mod:`dogbreeds.inputs.preprocessing` name applied to every split.
    ``augmentation``: a :mod:`dogbreeds.inputs.augmentation` preset, active during training only.
    ``whitening``: ZCA whitening fitted on the train split (needs ``at_whitening_size``).
    ``at_whitening_size``: train at the whitening size instead of the arrays' size.
    ``control``: the variant this one is compared with (None for the baseline itself).
    """

    name: str
    config: Mapping[str, Any] = field(default_factory=dict, hash=False)
    preprocessing: str = "none"
    augmentation: str = "none"
    whitening: bool = False
    at_whitening_size: bool = False
    control: str | None = "baseline"

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise AblationError("A variant needs a non-empty name.")
        object.__setattr__(self, "config", dict(self.config))
        known = {setting.name for setting in dataclasses.fields(CNNConfig)}
        unknown = sorted(set(self.config) - known)
        if unknown:
            raise AblationError(
                f"Variant {self.name!r}: unknown CNNConfig setting(s) {unknown}; valid ones are {sorted(known)}."
            )
        try:
            self.cnn_config()
            named_preprocessor(self.preprocessing)
            resolve_config(self.augmentation)
        except (ModelConfigError, PreprocessingError, AugmentationError) as error:
            raise AblationError(f"Variant {self.name!r}: {error}") from error
        if self.whitening and not self.at_whitening_size:
            raise AblationError(
                f"Variant {self.name!r}: whitening is fitted at the whitening size; set at_whitening_size=True."
            )
        if self.control == self.name:
            raise AblationError(f"Variant {self.name!r} cannot be its own control; use control=None.")

    def cnn_config(self, base: CNNConfig | None = None) -> CNNConfig:
        """The CNN settings of this variant: ``base`` (the baseline ``CNNConfig()`` when None) with ``config``."""
        return dataclasses.replace(base or CNNConfig(), **self.config)

    def settings(self, image_size: int, base: CNNConfig | None = None) -> dict[str, Any]:
        """Everything that defines this arm, as plain values: CNN settings, inputs, image size."""
        return {
            **self.cnn_config(base).to_dict(),
            "preprocessing": self.preprocessing,
            "augmentation": self.augmentation,
            "whitening": "zca" if self.whitening else "none",
            "image_size": image_size,
        }


BASELINE = Variant("baseline", control=None)

VARIANTS: tuple[Variant, ...] = (
    BASELINE,
    Variant("equalized", preprocessing="equalize_luma"),
    Variant("augmented", augmentation="standard"),
    Variant("sgd", config={"optimizer": "sgd", "learning_rate": 1e-2}),  # SGD's usual rate, 10x Adam's
    Variant("label_smoothing", config={"loss": "categorical_crossentropy", "label_smoothing": 0.1}),
    Variant("elu", config={"activation": "elu"}),
    Variant("no_dropout", config={"dropout": 0.0}),
    Variant("no_batch_norm", config={"batch_norm": False}),
    Variant("flatten", config={"pooling": "flatten"}),
    Variant("wider", config={"filters": (64, 128, 256)}),
    Variant("deeper", config={"filters": (32, 64, 128, 256)}),
    Variant("baseline_small", at_whitening_size=True),
    Variant("zca", whitening=True, at_whitening_size=True, control="baseline_small"),
)
"""The study: the baseline, one arm per change, and the whitening pair at the whitening size."""


def describe_change(settings: Mapping[str, Any], control_settings: Mapping[str, Any] | None) -> str:
    """What differs from the control, e.g. ``"dropout: 0.3 -> 0.0"`` (``"reference"`` without a control)."""
    if control_settings is None:
        return "reference"
    changes = [
        f"{key}: {_shown(control_settings.get(key))} -> {_shown(value)}"
        for key, value in settings.items()
        if control_settings.get(key) != value
    ]
    return ", ".join(changes) or "no change"


def _shown(value: Any) -> str:
    return "-".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


class VariantInputs:
    """The images each variant trains on, derived once from the loaded arrays and shared between variants.

    Order of the steps: preprocessing (at the arrays' size), resizing to the whitening
    size, ZCA whitening. Whitened values are multiplied by 255 because the CNN divides
    its input by 255 (it expects pixels), so the network sees the whitened values themselves.
    """

    def __init__(self, arrays: SplitArrays, whitening_size: int, *, progress: bool = True) -> None:
        if whitening_size < 1:
            raise AblationError(f"whitening_size must be >= 1, got {whitening_size}.")
        self.arrays = arrays
        self.whitening_size = whitening_size
        self.progress = progress
        self._derived: dict[tuple[str, bool, bool], SplitArrays] = {}

    def image_size(self, variant: Variant) -> int:
        """The side, in pixels, of the images ``variant`` trains on."""
        return self.whitening_size if variant.at_whitening_size else self.arrays.input_shape[0]

    def for_variant(self, variant: Variant) -> SplitArrays:
        """The train, validation and test arrays for ``variant`` (computed on first use)."""
        key = (variant.preprocessing, variant.at_whitening_size, variant.whitening)
        if key not in self._derived:
            data = self.arrays
            if variant.preprocessing != "none":
                data = data.map_images(
                    lambda images: apply_named(images, variant.preprocessing, progress=self.progress)
                )
            if variant.at_whitening_size and data.input_shape[:2] != (self.whitening_size, self.whitening_size):
                data = data.resized(self.whitening_size, progress=self.progress)
            if variant.whitening:
                whitener = Whitener("zca", image_size=self.whitening_size).fit(
                    data.train.images, progress=self.progress
                )
                data = data.map_images(lambda images: whitener.transform(images) * 255.0)
            self._derived[key] = data
        return self._derived[key]
