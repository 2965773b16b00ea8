"""Notebook 01's findings in words, from the numbers it measures and records.

Each function returns Markdown for one cell of the notebook:

    Markdown(balance_markdown(exploration.class_balance(counts)))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from dogbreeds.core.words import counted
from dogbreeds.data.folder import ImageRecord
from dogbreeds.data.quality import ScanReport


def folders_markdown(profile: str, breeds: Any) -> str:
    """How to read the folders table: the run's profile and its ``breeds`` setting."""
    return (
        f"The run reads the folders above ({_scope(profile)}). *studied* counts the photos of the breeds this "
        f"run keeps ({'every breed' if breeds == 'all' else counted(breeds, 'breed')}). The second table gives "
        "the totals of the full Stanford Dogs set as published; the folders here are subsets of it."
    )


def _scope(profile: str) -> str:
    """The run's kind in words: the real study, its GPU version, or a short trial on the bundled sample."""
    return {
        "cpu": "the real study, sized for a CPU",
        "full": "the real study at full size, for a GPU",
    }.get(profile, "a short trial run on the bundled sample photos")


def balance_markdown(balance: Mapping[str, Any]) -> str:
    """The imbalance ratio of :func:`class_balance`, with the counts behind it."""
    return (
        "Imbalance ratio (photos of the best represented breed / of the least represented): "
        f"**{balance['imbalance_ratio']:.2f}** ({balance['most']:,} against {balance['fewest']:,})."
    )


def sizes_markdown(median: Mapping[str, float], enlarged: float, image_size: int, backbone_side: int) -> str:
    """The median photo (a column of :func:`describe_sizes`) against the input sizes.

    ``enlarged`` is the share of photos smaller than the backbones' input (``backbone_side``).
    """
    return (
        f"The median photo is **{median['width']:.0f} x {median['height']:.0f} px** (short side "
        f"{median['short_side']:.0f} px). The scratch CNN reads {image_size} x {image_size} px and the ImageNet "
        f"backbones {backbone_side} x {backbone_side} px: {enlarged:.0%} of the photos have a shorter side than "
        "the backbones' input and are enlarged; the others only shrink (losing detail, inventing none). The "
        f"median aspect ratio is **{median['aspect_ratio']:.2f}**: squeezing a photo into a square, as the "
        "study's loaders do (like the 224 x 224 crops published with Stanford Dogs), distorts the median photo "
        f"by that factor; a centre square crop would cut **{median['square_crop_loss']:.0%}** of it (sometimes "
        "the head or the tail), and padding would spend as much of the input on bars. Notebook 02 shows the three."
    )


def boxes_markdown(box_summary: Mapping[str, float]) -> str:
    """What the bounding boxes (:func:`describe_boxes`) offer, or that there are none."""
    if not box_summary["annotated_share"]:
        return (
            "This data folder has **no annotation folder**, so there is nothing to draw and every photo is "
            "used whole. With the official annotations (downloaded with the data set), the same figure shows "
            "them, and the loaders can crop each photo to its first or its largest box; photos without a box "
            "stay whole."
        )
    first = box_summary["median_first_box_fraction"]
    return (
        f"**{box_summary['annotated_share']:.0%}** of the photos have an annotation; "
        f"{box_summary['several_boxes_share']:.0%} of those show several dogs. The median first box covers "
        f"**{first:.0%}** of its photo (the largest box: {box_summary['median_largest_box_fraction']:.0%}): "
        f"cropping to it enlarges the dog by about {1 / first:.1f} times in area at the same input size."
    )


def examples_markdown(examples: Sequence[ImageRecord], sizes: pd.DataFrame) -> str:
    """The photos shown, their breeds and their range of sizes (``sizes``: :func:`image_sizes`)."""
    shown = sizes.set_index("path").loc[[str(record.path) for record in examples]]
    return (
        f"{counted(len(examples), 'photo')} of {counted(len({record.label_id for record in examples}), 'breed')}, "
        f"from {shown['width'].min():.0f} to {shown['width'].max():.0f} px wide and {shown['height'].min():.0f} "
        f"to {shown['height'].max():.0f} px high, each scaled to fit its cell, keeping its own shape."
    )


def split_markdown(source: str, val_fraction: float, excluded: int, truncated: bool = False) -> str:
    """Where the split comes from, the validation share, the photos left out; ``truncated``: only last rows shown."""
    return (
        f"Split source: **{source}**; validation is {val_fraction:.0%} of each breed's training photos. "
        f"Photos in no official list, left out: {excluded:,}."
        + (
            " The first table shows its last breeds and the total; every breed has the same shares."
            if truncated
            else ""
        )
    )


def quality_markdown(reports: Sequence[ScanReport]) -> str:
    """What the quality scans (:func:`scan`, one per folder) checked and found."""
    errors, warnings = (sum(len(getattr(report, kind)) for report in reports) for kind in ("errors", "warnings"))
    return (
        f"{counted(sum(report.images_checked for report in reports), 'photo')} and "
        f"{counted(sum(report.annotations_checked for report in reports), 'annotation')} checked in "
        f"{counted(len(reports), 'folder')}: **{counted(errors, 'error')}** (files skipped when loading), "
        f"**{counted(warnings, 'warning')}** (files used). The command-line tool's data scan lists every file."
    )


def exploration_conclusions(
    median: Mapping[str, float],
    box_summary: Mapping[str, float],
    balance: Mapping[str, Any],
    errors: int,
    image_size: int,
    backbone_side: int,
) -> str:
    """What the exploration means for the next notebooks: input size, cropping, class balance, data quality."""
    quality = (
        f"{counted(errors, 'unreadable file')} to skip; the loaders skip and log {'it' if errors == 1 else 'them'}."
        if errors
        else "No unreadable file: the loaders skip none."
    )
    return f"""
- **Input size.** Photos are resized to one square size: {image_size} px for the CNNs trained
  from scratch (small enough to train quickly; the median short side, {median["short_side"]:.0f} px,
  leaves plenty of detail to shrink from) and {backbone_side} px for the ImageNet
  backbones (pre-trained on photos of that size; a short trial run feeds them less to save time).
- **Shape and cropping.** With a median aspect ratio of {median["aspect_ratio"]:.2f}, photos are stretched
  to the square rather than cut: a stretched dog is still whole, whereas a centre crop would lose
  {median["square_crop_loss"]:.0%} of the median photo. Where annotations exist, the loaders can
  crop each photo to the dog's box first; here {box_summary["annotated_share"]:.0%}
  of the photos have one.
- **Class balance.** An imbalance ratio of {balance["imbalance_ratio"]:.2f}: splits are stratified and
  every model is judged on macro-F1 as well as accuracy.
- **Data quality.** {quality}
"""
