"""The shelter's model where it lives, for a reader: its decisions on the *reporting* halves of the pet dogs
(photos that are not ImageNet's) and of the not-dogs, in a sentence, a table and a figure.

:func:`measure_reporting_half` runs the model's whole rule on those photos (all of them, or a
seeded draw), :func:`reporting_markdown` says "out of 1,000 photos like these ...",
:func:`reporting_table` lists the figures and :func:`plot_pets_coverage` draws coverage
against accuracy with the model's rule marked. Nothing is chosen on these photos.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dogbreeds.core.config import DEFAULT_SEED
from dogbreeds.data.pets import LABELS_FILE, REPORTING, part_of, read_not_dogs, read_pet_dogs
from dogbreeds.shelter.model import ShelterModel
from dogbreeds.shelter.pets import decision_summary, not_dog_summary, pet_scores


def missing_folders(dogs_dir: str | os.PathLike | None, not_dogs_dir: str | os.PathLike | None) -> list[str]:
    """What is missing to measure, in words: the pet dogs' folder, the not-dogs' folder (or their photo lists)."""
    return [
        name
        for folder, name in (
            (dogs_dir, "the Oxford-IIIT Pet dog photos"),
            (not_dogs_dir, "the photos of cats and objects"),
        )
        if not folder or not (Path(folder) / LABELS_FILE).is_file()
    ]


def _draw(photos: list, sample: int | None, seed: int) -> list:
    if sample is None or sample >= len(photos):
        return photos
    keep = np.sort(np.random.default_rng(seed).choice(len(photos), size=sample, replace=False))
    return [photos[i] for i in keep]


def measure_reporting_half(
    model: ShelterModel,
    dogs_dir: str | os.PathLike | None,
    not_dogs_dir: str | os.PathLike | None,
    *,
    sample: int | None = None,
    seed: int = DEFAULT_SEED,
    cache_dir: str | os.PathLike | None = None,
) -> dict[str, Any] | None:
    """The model's decisions on the reporting halves (``sample``: a seeded draw of that many photos of each).

    None when a folder is missing (:func:`missing_folders`). ``dogs`` is
    :func:`~dogbreeds.shelter.pets.decision_summary`, ``not_dogs``
    :func:`~dogbreeds.shelter.pets.not_dog_summary`.
    """
    if missing_folders(dogs_dir, not_dogs_dir):
        return None
    dogs = part_of(read_pet_dogs(dogs_dir), REPORTING)
    not_dogs = part_of(read_not_dogs(not_dogs_dir, seed=DEFAULT_SEED), REPORTING)  # the halves are fixed
    drawn_dogs, drawn_not_dogs = _draw(dogs, sample, seed), _draw(not_dogs, sample, seed + 1)
    return {
        "dogs": decision_summary(model, pet_scores(model, drawn_dogs, cache_dir=cache_dir)),
        "not_dogs": not_dog_summary(model, pet_scores(model, drawn_not_dogs, cache_dir=cache_dir)),
        "half": {"dogs": len(dogs), "not_dogs": len(not_dogs)},
        "sampled": len(drawn_dogs) < len(dogs) or len(drawn_not_dogs) < len(not_dogs),
        "sample_seed": seed,
    }


def per_1000_sentence(dogs: Mapping[str, Any]) -> str:
    """Out of 1,000 photos: how many are labelled automatically, with how many mistakes, and go to a person."""
    per = dogs["per_1000"]
    not_a_dog = f', and {per["not_a_dog"]} are called "not a dog"' if per["not_a_dog"] else ""
    return (
        f"Out of 1,000 photos like these, **{per['labelled']} are labelled automatically with "
        f"{per['labelled_wrong']} mistakes, {per['to_a_person']} go to a person**{not_a_dog}."
    )


def reporting_markdown(measure: Mapping[str, Any] | None, missing: list[str] | None = None, breeds: int = 120) -> str:
    """The shelter's figures on the reporting halves in words, or what is missing to measure them."""
    if measure is None:
        names = " and ".join(missing or ["the photos that are not ImageNet's"])
        return (
            f"**Not measured in this run:** {names} are not on this machine, beside the other data sets. "
            "The figures measured on them when the model was shipped are in the project's README."
        )
    dogs, not_dogs = measure["dogs"], measure["not_dogs"]
    drawn = (
        f"a seeded draw of {dogs['photos']} of its {measure['half']['dogs']} dog photos and {not_dogs['photos']} "
        f"of its {measure['half']['not_dogs']} other photos, so that this run stays short: these figures check "
        "the steps, the full half gives the figures to act on"
        if measure["sampled"]
        else f"all {dogs['photos']} dog photos and {not_dogs['photos']} photos of cats and objects"
    )
    unknown = dogs["unknown_breed_photos"]
    unknown_text = (
        f" Of the {unknown} dogs of breeds the model does not know, {dogs['unknown_labelled_wrong']:.0%} are "
        f'labelled with a wrong breed and {dogs["unknown_not_a_dog"]:.0%} are called "not a dog"; the others '
        "go to a person."
        if unknown
        else ""
    )
    not_a_dog = '"not a dog"'
    return (
        f"{per_1000_sentence(dogs)}\n\n"
        f"Measured on the reporting half ({drawn}). The model names the right breed first for "
        f"**{_share(dogs['top1_known'])}** of the dogs of its {breeds} breeds (among its three first answers for "
        f"{_share(dogs['top3_known'])}). It labels **{_share(dogs['labelled'])}** of the dogs without a person, "
        f"**{_share(dogs['labelled_accuracy'])}** of those labels right; {_share(dogs['known_not_a_dog'])} of the "
        f"dogs of known breeds are called {not_a_dog}.{unknown_text} Of the photos of cats and objects, "
        f"{_share(not_dogs['flagged_not_a_dog'])} are called {not_a_dog} and {_share(not_dogs['given_a_breed'])} "
        "are given a breed."
    )


def shipped_advice_markdown(measure: Mapping[str, Any] | None, model: ShelterModel) -> str:
    """The conclusion for the shelter: what the shipped model does on photos like a shelter's, and its rule."""
    config, official = model.config, model.record()["metrics"]
    breeds = len(config.label_ids)
    where = (
        f"**On photos like a shelter's** (dogs that are not ImageNet photos): {per_1000_sentence(measure['dogs'])}"
        if measure is not None
        else "The pet photos that are not ImageNet's were not on this machine: their figures are in the README."
    )
    return (
        "### What the shelter gets\n\n"
        f"{where}\n\n"
        f"**Its rule.** A photo is labelled without a person when the model gives its best breed at least "
        f"{config.confidence_threshold:.0%}, its best three breeds together at least "
        f"{config.unknown_breed_threshold:.1%} (otherwise the dog may be of a breed outside the {breeds}), and the "
        "photo is surely a dog; a photo that is clearly not a dog (for the ImageNet classifier, or for the "
        "dog detector that tells dogs from cats and objects) is called so, a doubtful one goes to a person "
        "with the reason. The breed head learnt from the Stanford crops and from the whole photos of the choosing "
        "half of the pet dogs; the detector and the thresholds were chosen on the choosing half of the pet photos "
        "and of the cats and objects (each photo judged by a head that had not seen it), never on the photos "
        f"measured above. On the official test list (ImageNet photos) the same model names the right breed first "
        f"for {official['top1']:.1%} of the dogs.\n\n"
        "**What a person does.** Check the photos sent to a person, with the model's three best guesses; mixed "
        f"breeds and breeds outside the {breeds} mostly land there."
    )


def _share(value: float) -> str:
    return "none drawn" if np.isnan(value) else f"{value:.1%}"


def reporting_table(measure: Mapping[str, Any]) -> pd.DataFrame:
    """The reporting half's figures, one row each, as the notebook shows them."""
    dogs, not_dogs = measure["dogs"], measure["not_dogs"]
    rows = {
        "dog photos measured": f"{dogs['photos']:,}",
        "right breed first (known breeds)": _share(dogs["top1_known"]),
        "right breed among the first three (known breeds)": _share(dogs["top3_known"]),
        "labelled without a person": _share(dogs["labelled"]),
        "accuracy of those labels": _share(dogs["labelled_accuracy"]),
        "sent to a person": _share(dogs["ask_a_human"]),
        'dogs of known breeds called "not a dog"': _share(dogs["known_not_a_dog"]),
        'dogs of unknown breeds called "not a dog"': _share(dogs["unknown_not_a_dog"]),
        "dogs of unknown breeds labelled with a wrong breed": _share(dogs["unknown_labelled_wrong"]),
        "photos of cats and objects measured": f"{not_dogs['photos']:,}",
        'cats and objects called "not a dog"': _share(not_dogs["flagged_not_a_dog"]),
        "cats and objects given a breed": _share(not_dogs["given_a_breed"]),
    }
    return pd.Series(rows, name="reporting half").to_frame()


def plot_pets_coverage(halves: Mapping[str, Mapping[str, Any]], title: str) -> Any:
    """Coverage against accuracy of each named half's dogs (:func:`~dogbreeds.shelter.pets.decision_summary`).

    Each line sweeps the confidence threshold alone (the dog rules kept); the dot is what
    the model's whole rule gives (its confidence and unknown-breed thresholds).
    """
    from dogbreeds.judge.plots import plot_coverage_accuracy

    curves = {name: pd.DataFrame(dogs["coverage_accuracy_curve"]) for name, dogs in halves.items()}
    chosen = {name: (dogs["labelled"], dogs["labelled_accuracy"]) for name, dogs in halves.items()}
    return plot_coverage_accuracy(curves, chosen, title=title)


def record_coverage_figure(record: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Draw a ``dogbreeds bench oxford`` record's two halves into a PNG."""
    from dogbreeds.judge.plots import save_figure

    names = {
        "reporting": "reporting half (only measured)",
        "choosing": "choosing half (the thresholds were chosen here)",
    }
    figure = plot_pets_coverage(
        {names[part]: record["metrics"][part]["dogs"] for part in names},
        "Oxford-IIIT Pet dogs (not ImageNet photos), labelled without a person\n"
        "line: the confidence threshold alone; dot: the shipped rule",
    )
    return save_figure(figure, path)
