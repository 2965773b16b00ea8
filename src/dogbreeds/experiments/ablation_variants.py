"""The ablation study's design: arms that each change one thing in the scratch recipe, and their inputs.

A :class:`Variant` is data: the ``CNNConfig`` settings it changes from the recipe's
(:data:`~dogbreeds.models.recipes.SCRATCH_CONFIG`), the image preprocessing it applies,
whether it trains on augmented crops (the recipe does), whether it whitens the photos.
:data:`VARIANTS` is the study notebooks 02 and 03 use; :class:`VariantInputs` derives each
variant's photos once. :mod:`dogbreeds.experiments.ablation` trains them.

Whitening is a fixed layer in front of the CNN, fitted on the training photos only, so
it sees the augmented crops and whitening is the only change. ZCA needs the pixel
covariance, a D x D matrix with D = side x side x 3: the arm exists when the photos are
at most 64 px a side.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dogbreeds.core.errors import DogbreedsError
from dogbreeds.inputs.arrays import SplitArrays
from dogbreeds.inputs.preprocessing import PreprocessingError, apply_named, named_preprocessor
from dogbreeds.inputs.whitening import MAX_DIMENSIONS, Whitener
from dogbreeds.models.builders import CNNConfig
from dogbreeds.models.compiling import ModelConfigError
from dogbreeds.models.recipes import SCRATCH_CONFIG


class AblationError(DogbreedsError, ValueError):
    """A variant or an ablation study that cannot be run as described."""


@dataclass(frozen=True)
class Variant:
    """One arm of the ablation study, described by what differs from the baseline recipe.

    ``config``: ``CNNConfig`` settings that differ from the base config.
    ``preprocessing``: a :mod:`dogbreeds.inputs.preprocessing` name applied to every split.
    ``augmentation``: train on random resized crops with flips and colour jitter (the recipe's).
    ``whitening``: ZCA whitening fitted on the training photos, a fixed layer in front of the CNN.
    ``control``: the variant this one is compared with (None for the baseline itself).
    """

    name: str
    config: Mapping[str, Any] = field(default_factory=dict, hash=False)
    preprocessing: str = "none"
    augmentation: bool = True
    whitening: bool = False
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
        except (ModelConfigError, PreprocessingError) as error:
            raise AblationError(f"Variant {self.name!r}: {error}") from error
        if self.control == self.name:
            raise AblationError(f"Variant {self.name!r} cannot be its own control; use control=None.")

    def cnn_config(self, base: CNNConfig | None = None) -> CNNConfig:
        """The CNN settings of this variant: ``base`` (the recipe's when None) with ``config``."""
        return dataclasses.replace(base or SCRATCH_CONFIG, **self.config)

    def settings(self, image_size: int, base: CNNConfig | None = None) -> dict[str, Any]:
        """Everything that defines this arm, as plain values: CNN settings, inputs, image size."""
        return {
            **self.cnn_config(base).to_dict(),
            "preprocessing": self.preprocessing,
            "augmentation": "random crops" if self.augmentation else "none",
            "whitening": "zca" if self.whitening else "none",
            "image_size": image_size,
        }


def variant_for(name: str, config: CNNConfig, base: CNNConfig | None = None) -> Variant:
    """The arm that trains ``config`` with the recipe, described by the settings where it differs from ``base``."""
    base_values, values = (base or SCRATCH_CONFIG).to_dict(), config.to_dict()
    return Variant(name, config={key: value for key, value in values.items() if base_values[key] != value})


BASELINE = Variant("baseline", control=None)

VARIANTS: tuple[Variant, ...] = (
    BASELINE,
    Variant("equalized", preprocessing="equalize_luma"),
    Variant("clahe", preprocessing="clahe"),
    Variant("zca", whitening=True),
    Variant("no_augmentation", augmentation=False),
    Variant("sgd", config={"optimizer": "sgd", "learning_rate": 2e-2, "weight_decay": None}),  # SGD's usual rate
    Variant("no_label_smoothing", config={"label_smoothing": 0.0}),
    Variant("elu", config={"activation": "elu"}),
    Variant("no_dropout", config={"dropout": 0.0}),
    Variant("no_batch_norm", config={"batch_norm": False}),
    Variant("flatten", config={"pooling": "flatten"}),
    Variant("wider", config={"filters": (64, 128, 256, 512)}),
    Variant("deeper", config={"filters": (32, 64, 128, 256, 256)}),
)
"""The study: the baseline recipe and twelve arms, each compared with it."""

PREPROCESSING_ARMS = ("equalized", "clahe", "zca", "no_augmentation")
"""The arms of :data:`VARIANTS` that change the photos the CNN sees rather than the CNN or its optimizer."""


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
    """The photos each variant trains on, derived once from the loaded arrays and shared between variants."""

    def __init__(self, arrays: SplitArrays, *, progress: bool = True) -> None:
        self.arrays = arrays
        self.progress = progress
        self._derived: dict[str, SplitArrays] = {}
        self._whitener: Whitener | None = None

    @property
    def image_size(self) -> int:
        """The side, in pixels, of the photos every variant trains on."""
        return self.arrays.input_shape[0]

    def for_variant(self, variant: Variant) -> SplitArrays:
        """The train, validation and test arrays for ``variant`` (computed on first use)."""
        if variant.preprocessing == "none":
            return self.arrays
        if variant.preprocessing not in self._derived:
            self._derived[variant.preprocessing] = self.arrays.map_images(
                lambda images: apply_named(images, variant.preprocessing, progress=self.progress)
            )
        return self._derived[variant.preprocessing]

    def whitener(self) -> Whitener:
        """ZCA whitening fitted on the training photos (once), for a variant's front layer."""
        side = self.image_size
        if side * side * 3 > MAX_DIMENSIONS:
            raise AblationError(f"ZCA whitening of {side}-pixel photos is too large; whiten at 64 px or less.")
        if self._whitener is None:
            self._whitener = Whitener("zca", image_size=side).fit(self.arrays.train.images, progress=self.progress)
        return self._whitener
