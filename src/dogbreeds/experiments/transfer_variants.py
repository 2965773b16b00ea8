"""The transfer experiments as data: recipes on frozen backbones and fine-tuning recipes.

A :class:`TransferVariant` declares heads on cached features (one backbone or an ensemble),
a :class:`FineTuneVariant` the expensive path (the backbone's last layers trained too); both
give their settings for a results record (``params()``) and are run by
:class:`~dogbreeds.experiments.transfer_experiment.TransferExperiment`. :func:`head_variants`
and :func:`fine_tune_variants` are notebook 04's rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from dogbreeds.core.errors import DogbreedsError
from dogbreeds.models.backbones import get_backbone


class ExperimentError(DogbreedsError, ValueError):
    """A transfer variant or split that the engine cannot run."""


@dataclass(frozen=True)
class TransferVariant:
    """One transfer-learning recipe on frozen backbones.

    ``backbones``: one, or several for an ensemble (``ensemble="concat"`` joins their
    features under one head, ``"average"`` averages the probabilities of one head per
    backbone). ``head``: "logreg", "keras", or "imagenet" (the backbone's own ImageNet
    classifier over the breeds, untrained). ``flip_train`` adds mirrored training images,
    ``flip_tta`` averages predictions on original and mirrored images;
    ``imagenet_start`` starts a keras head from the ImageNet classifier's weights;
    ``refit`` retrains a keras head on train + validation rows for its early-stopped epoch count.
    """

    name: str
    backbones: tuple[str, ...]
    head: Literal["logreg", "keras", "imagenet"]
    ensemble: Literal["concat", "average"] = "concat"
    flip_train: bool = False
    flip_tta: bool = False
    imagenet_start: bool = False
    refit: bool = False
    label: str = ""  # how a report names it; default: the name

    def __post_init__(self) -> None:
        if not self.backbones:
            raise ExperimentError(f"Variant {self.name!r} names no backbone.")
        if self.head not in ("logreg", "keras", "imagenet"):
            raise ExperimentError(f"Variant {self.name!r}: unknown head {self.head!r} (logreg, keras or imagenet).")
        if (self.imagenet_start or self.refit) and self.head != "keras":
            raise ExperimentError(f"Variant {self.name!r}: imagenet_start and refit need a keras head.")
        if (self.head == "imagenet" or self.imagenet_start) and self.ensemble == "concat" and len(self.backbones) > 1:
            raise ExperimentError(f"Variant {self.name!r}: ImageNet heads of several backbones can only be averaged.")

    @property
    def optimistic(self) -> bool:
        """True when the variant leans on ImageNet's own dog classes (ImageNet holds the Stanford Dogs photos)."""
        return self.head == "imagenet" or self.imagenet_start

    def params(self) -> dict[str, Any]:
        """The variant's settings, for a results record."""
        return {
            "variant": self.name,
            "model": self.label or self.name,
            "backbones": list(self.backbones),
            "backbone": self.backbones[0] if len(self.backbones) == 1 else None,
            "head": self.head,
            "ensemble": self.ensemble if len(self.backbones) > 1 else None,
            "flip_train": self.flip_train,
            "flip_tta": self.flip_tta,
            "imagenet_start": self.imagenet_start,
            "refit": self.refit,
            "optimistic": self.optimistic,
        }


@dataclass(frozen=True)
class FineTuneVariant:
    """Fine-tuning: the last ``depth`` weight layers of ``backbone`` trained with a head started from a trained one.

    ``per_breed`` training photos of each breed are used (None: all), for ``epochs`` at most
    (early stopping on the validation loss) at ``learning_rate``.
    """

    name: str
    backbone: str
    depth: int
    epochs: int = 2
    learning_rate: float = 1e-5
    per_breed: int | None = None
    label: str = ""

    optimistic = False  # the head starts from one trained on the breeds, never from ImageNet's
    flip_tta = False

    @property
    def backbones(self) -> tuple[str, ...]:
        return (self.backbone,)

    def params(self) -> dict[str, Any]:
        """The variant's settings, for a results record."""
        return {
            "variant": self.name,
            "model": self.label or self.name,
            "backbones": [self.backbone],
            "backbone": self.backbone,
            "head": "keras",
            "fine_tuned_layers": self.depth,
            "fine_tune_epochs": self.epochs,
            "fine_tune_learning_rate": self.learning_rate,
            "fine_tune_per_breed": self.per_breed,
            "flip_tta": False,
            "optimistic": False,
        }


def tta_head_variant(backbone: str) -> TransferVariant:
    """A softmax head on the crops' features of ``backbone``, each photo classified with its mirror image.

    The one definition of the recipe that notebook 04 ranks first on the 120 breeds (EfficientNet-Lite2)
    and that ``dogbreeds train`` ships.
    """
    title = get_backbone(backbone).title
    return TransferVariant(
        f"{backbone}/keras+tta", (backbone,), "keras", flip_tta=True, label=f"{title} + head, flip TTA"
    )


def head_variants(backbones: Sequence[str]) -> list[TransferVariant]:
    """Notebook 04's rows on cached features: each backbone with a softmax head, alone and with flip TTA."""
    variants = []
    for name in backbones:
        title = get_backbone(name).title
        variants += [
            TransferVariant(f"{name}/keras", (name,), "keras", label=f"{title} + head"),
            tta_head_variant(name),
        ]
    return variants


def fine_tune_variants(
    backbone: str, depths: Sequence[int], *, epochs: int, learning_rate: float, per_breed: int | None
) -> list[FineTuneVariant]:
    """Notebook 04's fine-tuning rows: ``backbone`` with its last ``depth`` weight layers trained, per depth."""
    return [
        FineTuneVariant(
            f"{backbone}/finetune-{depth}",
            backbone,
            depth,
            epochs,
            learning_rate,
            per_breed,
            label=f"{get_backbone(backbone).title} fine-tuned (last {depth} layers)",
        )
        for depth in depths
    ]
