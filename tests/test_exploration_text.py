"""Tests of dogbreeds.data.exploration_text (notebook 01's sentences) and dogbreeds.core.words, on handmade numbers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dogbreeds.core.words import counted
from dogbreeds.data.exploration import class_balance, describe_boxes
from dogbreeds.data.exploration_text import (
    balance_markdown,
    boxes_markdown,
    examples_markdown,
    exploration_conclusions,
    folders_markdown,
    quality_markdown,
    sizes_markdown,
    split_markdown,
)
from dogbreeds.data.folder import ImageRecord, Problem
from dogbreeds.data.quality import ScanReport

MEDIAN = pd.Series(
    {"width": 500.0, "height": 375.0, "short_side": 375.0, "aspect_ratio": 1.333, "square_crop_loss": 0.25}
)
BALANCE = class_balance(pd.Series({"Chihuahua": 1200, "Shih-Tzu": 30, "Pug": 20}))
NO_BOXES = describe_boxes(pd.DataFrame(), images=90)  # what a folder without Annotation/ gives


def test_counted_is_singular_only_for_one():
    assert counted(1, "photo") == "1 photo" and counted(0, "photo") == "0 photos"
    assert counted(1200, "photo") == "1,200 photos" and counted(2, "is", "are") == "2 are"


def test_folders_name_the_profile_and_the_breeds_setting():
    text = folders_markdown("quick", 3)
    assert "a short trial run" in text and "(3 breeds)" in text and "`" not in text
    assert "(every breed)" in folders_markdown("cpu", "all") and "the real study" in folders_markdown("cpu", "all")


def test_balance_states_the_ratio_and_the_counts():
    assert "**60.00** (1,200 against 20)" in balance_markdown(BALANCE)


def test_sizes_state_the_median_photo_and_the_input_sizes():
    text = sizes_markdown(MEDIAN, enlarged=0.0, image_size=32, backbone_side=160)
    assert "**500 x 375 px** (short side 375 px)" in text and "reads 32 x 32 px" in text
    assert "backbones 160 x 160 px: 0% of the photos" in text
    assert "**1.33**" in text and "would cut **25%**" in text


def test_boxes_without_annotations_say_so():
    text = boxes_markdown(NO_BOXES)
    assert "no annotation folder" in text and "%" not in text and "`" not in text


def test_boxes_state_the_annotated_share_and_the_median_box():
    summary = {
        "annotated_share": 1.0,
        "several_boxes_share": 1.0,
        "median_first_box_fraction": 396 / 1920,
        "median_largest_box_fraction": 952 / 1920,
    }
    text = boxes_markdown(summary)
    assert "**100%** of the photos have an annotation" in text and "**21%** of its photo" in text
    assert "(the largest box: 50%)" in text and "about 4.8 times in area" in text


def test_examples_give_the_photos_breeds_and_size_ranges():
    records = [
        ImageRecord(Path(f"/d/{name}.jpg"), label) for name, label in (("a", "n1-A"), ("b", "n1-A"), ("c", "n2-B"))
    ]
    sizes = pd.DataFrame(
        {
            "path": ["/d/a.jpg", "/d/b.jpg", "/d/c.jpg", "/d/other.jpg"],
            "width": [300, 500, 400, 9999],
            "height": [200, 250, 600, 1],
        }
    )
    text = examples_markdown(records, sizes)
    assert text.startswith("3 photos of 2 breeds, from 300 to 500 px wide and 200 to 600 px high")
    assert examples_markdown(records[:1], sizes).startswith("1 photo of 1 breed, from 300 to 300 px wide")


def test_split_states_its_source_and_what_is_left_out():
    text = split_markdown("official lists", 0.2, excluded=1234)
    assert "Split source: **official lists**" in text and "20% of each breed's" in text and "left out: 1,234." in text
    assert "last breeds" not in text and "last breeds" in split_markdown("seeded", 0.2, 0, truncated=True)


def test_quality_counts_photos_annotations_errors_and_warnings_in_words():
    problem = Problem(Path("/d/x.jpg"), "unreadable", "broken", "error")
    warning = Problem(Path("/d/y.jpg"), "grayscale", "converted", "warning")
    clean = ScanReport(Path("/d"), images_checked=150, annotations_checked=0, problems=())
    assert "150 photos and 0 annotations checked in 1 folder: **0 errors**" in quality_markdown([clean])
    text = quality_markdown([clean, ScanReport(Path("/e"), 1, 1, (problem, warning))])
    assert "151 photos and 1 annotation checked in 2 folders: **1 error**" in text and "**1 warning**" in text


@pytest.mark.parametrize(
    "errors, quality", [(0, "No unreadable file"), (1, "1 unreadable file to skip"), (3, "3 unreadable files")]
)
def test_conclusions_state_the_sizes_shape_balance_and_quality(errors, quality):
    text = exploration_conclusions(MEDIAN, NO_BOXES, BALANCE, errors, image_size=32, backbone_side=160)
    assert "32 px for the CNNs" in text and "160 px for the ImageNet" in text and "short side, 375 px" in text
    assert "aspect ratio of 1.33" in text and "would lose\n  25%" in text and "here 0%" in text
    assert "imbalance ratio of 60.00" in text and quality in text
