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
from dogbreeds.models.fine_tuning import FineTuneSchedule


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
    """Fine-tuning: the last ``depth`` blocks of ``backbone`` and its final convolution trained with a head
    started from a trained one, on all the training photos and their mirror images (cached activations),
    following ``schedule`` (optimizer, learning rate, warm-up and decay, epoch budget).
    """

    name: str
    backbone: str
    depth: int
    schedule: FineTuneSchedule = FineTuneSchedule()
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
            "fine_tuned_blocks": self.depth,
            "fine_tune_epochs": self.schedule.epochs,
            "learning_rate": self.schedule.learning_rate,
            "warmup_epochs": self.schedule.warmup_epochs,
            "weight_decay": self.schedule.weight_decay,
            "schedule": self.schedule.text(),
            "flip_train": True,
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


def fine_tune_variants(backbone: str, depths: Sequence[int], schedule: FineTuneSchedule) -> list[FineTuneVariant]:
    """Notebook 04's fine-tuning rows: ``backbone`` with its last ``depth`` blocks and final convolution trained."""
    title = get_backbone(backbone).title
    return [
        FineTuneVariant(f"{backbone}/finetune-{depth}", backbone, depth, schedule, label=f"{title} {tuned_part(depth)}")
        for depth in depths
    ]


def tuned_part(depth: int) -> str:
    """What fine-tuning at ``depth`` trains, in words: "fine-tuned: last 2 blocks + final convolution"."""
    blocks = "" if depth == 0 else "last block + " if depth == 1 else f"last {depth} blocks + "
    return f"fine-tuned: {blocks}final convolution"
