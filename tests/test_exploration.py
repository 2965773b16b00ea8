"""Tests of dogbreeds.data.exploration: sizes from headers, box statistics, balance, split and problem tables."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from conftest import write_image, write_voc

from dogbreeds.data.exploration import (
    ALL_BREEDS_ROW,
    BOX_COLUMNS,
    ExplorationError,
    box_statistics,
    class_balance,
    describe_boxes,
    describe_sizes,
    enlarged_share,
    image_sizes,
    images_per_breed,
    orientation_shares,
    pick_examples,
    problem_table,
    split_table,
)
from dogbreeds.data.folder import Problem, ProblemLog, discover
from dogbreeds.data.splits import split_records

CHIHUAHUA = "n02085620-Chihuahua"
SHIH_TZU = "n02086240-Shih-Tzu"


def test_image_sizes_reads_headers_and_logs_unreadable_files(make_dogs_dir):
    root = make_dogs_dir({CHIHUAHUA: 3, SHIH_TZU: 2})
    write_image(root / "Images" / SHIH_TZU / "portrait.jpg", size=(30, 60))
    (root / "Images" / SHIH_TZU / "broken.jpg").write_bytes(b"not an image")
    problems = ProblemLog()
    sizes = image_sizes(discover(root).records, problems=problems, workers=2, progress=False)
    assert len(sizes) == 6
    portrait = sizes[sizes["path"].str.endswith("portrait.jpg")].iloc[0]
    assert (portrait["width"], portrait["height"], portrait["aspect_ratio"]) == (30, 60, 0.5)
    assert portrait["breed"] == "Shih-Tzu" and portrait["format"] == "JPEG" and portrait["mode"] == "RGB"
    others = sizes[~sizes["path"].str.endswith("portrait.jpg")]
    assert set(others["aspect_ratio"]) == {1.2} and set(others["official_split"]) == {"train", "test"}
    [problem] = problems.problems
    assert problem.path.name == "broken.jpg" and problem.kind == "not_an_image" and problem.severity == "error"


def test_describe_sizes_and_orientation_on_known_sizes():
    sizes = pd.DataFrame({"width": [400, 300, 200, 100], "height": [200, 300, 400, 98]})
    sizes["aspect_ratio"] = sizes["width"] / sizes["height"]
    table = describe_sizes(sizes)
    assert table.loc["short_side", "min"] == 98 and table.loc["short_side", "max"] == 300
    assert table.loc["width", "median"] == 250 and table.loc["height", "mean"] == 249.5
    assert table.loc["square_crop_loss", "max"] == 0.5 and table.loc["square_crop_loss", "min"] == 0
    assert table.loc["aspect_ratio", "max"] == 2.0
    shares = orientation_shares(sizes)
    assert list(shares.index) == ["landscape", "square", "portrait"]
    assert shares.to_dict() == {"landscape": 0.25, "square": 0.5, "portrait": 0.25}
    assert [enlarged_share(sizes, side) for side in (98, 99, 201, 301)] == [0.0, 0.25, 0.75, 1.0]
    with pytest.raises(ExplorationError, match="side"):
        enlarged_share(sizes, 0)


def test_describe_sizes_refuses_an_empty_table():
    with pytest.raises(ExplorationError, match="found no readable image"):
        describe_sizes(pd.DataFrame(columns=["width", "height"]))
    with pytest.raises(ExplorationError, match=r"lacks columns \['aspect_ratio'\]"):
        orientation_shares(pd.DataFrame({"width": [1]}))


def test_box_statistics_on_an_annotated_folder(make_dogs_dir):
    # Each image is 48 x 40 with boxes (2, 2, 24, 20) and (12, 10, 46, 38): 396 and 952 of 1,920 px.
    root = make_dogs_dir({CHIHUAHUA: 3, SHIH_TZU: 3}, annotations=True)
    records = discover(root).records
    boxes = box_statistics(records, progress=False)
    assert list(boxes.columns) == list(BOX_COLUMNS) and len(boxes) == 6
    assert set(boxes["boxes"]) == {2}
    assert boxes["first_box_fraction"].tolist() == pytest.approx([396 / 1920] * 6)
    assert boxes["largest_box_fraction"].tolist() == pytest.approx([952 / 1920] * 6)
    assert set(zip(boxes["image_width"], boxes["image_height"])) == {(48, 40)}
    summary = describe_boxes(boxes, images=len(records))
    assert summary["annotated_share"] == 1.0 and summary["several_boxes_share"] == 1.0
    assert summary["median_boxes"] == 2 and summary["median_largest_box_fraction"] == pytest.approx(952 / 1920)


def test_box_statistics_clips_boxes_reads_size_from_header_and_logs_bad_files(make_dogs_dir):
    root = make_dogs_dir({CHIHUAHUA: 2}, annotations=True)
    annotations = root / "Annotation" / CHIHUAHUA
    # A box running past the right edge, in an annotation without <size>: the header gives 48 x 40.
    (annotations / "n02085620_0").write_text(
        "<annotation><object><bndbox><xmin>24</xmin><ymin>0</ymin><xmax>60</xmax><ymax>40</ymax>"
        "</bndbox></object></annotation>"
    )
    (annotations / "n02085620_1").write_text("<annotation><object>")
    # An annotation without <size> whose image is broken: the size cannot be read.
    (root / "Images" / CHIHUAHUA / "n02085620_9.jpg").write_bytes(b"broken")
    (annotations / "n02085620_9").write_text(
        "<annotation><object><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax>"
        "</bndbox></object></annotation>"
    )
    problems = ProblemLog()
    boxes = box_statistics(discover(root).records, problems=problems, progress=False)
    [row] = boxes.to_dict("records")
    assert row["boxes"] == 1 and (row["image_width"], row["image_height"]) == (48, 40)
    assert row["first_box_fraction"] == pytest.approx(0.5) == row["largest_box_fraction"]
    bad_annotation, broken_image = problems.problems
    assert bad_annotation.kind == "bad_annotation" and bad_annotation.path.name == "n02085620_1"
    assert bad_annotation.detail.startswith("malformed XML") and bad_annotation.severity == "warning"
    assert broken_image.path.name == "n02085620_9.jpg" and broken_image.severity == "error"


def test_box_statistics_without_annotations_is_an_empty_table(sample_dir):
    records = discover(sample_dir).records
    boxes = box_statistics(records, progress=False)
    assert boxes.empty and list(boxes.columns) == list(BOX_COLUMNS)
    summary = describe_boxes(boxes, images=len(records))
    assert summary["annotated_share"] == 0 and math.isnan(summary["median_first_box_fraction"])


def test_box_statistics_of_a_multi_box_image(make_dogs_dir):
    root = make_dogs_dir({CHIHUAHUA: 2}, annotations=True)
    write_voc(root / "Annotation" / CHIHUAHUA / "n02085620_0", [(0, 0, 48, 40)])
    boxes = box_statistics(discover(root).records, progress=False).set_index("boxes")
    assert boxes.loc[1, "first_box_fraction"] == pytest.approx(1.0)
    assert describe_boxes(boxes.reset_index(), images=4)["annotated_share"] == 0.5
    with pytest.raises(ExplorationError, match="at least 1"):
        describe_boxes(boxes, images=0)


def test_images_per_breed_and_class_balance(make_dogs_dir):
    root = make_dogs_dir({CHIHUAHUA: 2, SHIH_TZU: 5, "n02106662-German_shepherd": 3})
    counts = images_per_breed(discover(root).records)
    assert counts.to_dict() == {"Shih-Tzu": 5, "German shepherd": 3, "Chihuahua": 2}
    assert list(counts.index) == ["Shih-Tzu", "German shepherd", "Chihuahua"]
    balance = class_balance(counts)
    assert balance.to_dict() == {
        "breeds": 3,
        "images": 10,
        "fewest": 2,
        "median": 3.0,
        "most": 5,
        "imbalance_ratio": 2.5,
    }
    assert isinstance(balance["images"], int) and isinstance(balance["imbalance_ratio"], float)
    with pytest.raises(ExplorationError, match="no records"):
        images_per_breed([])


def test_split_table_counts_every_record_once(sample_dir):
    split = split_records(discover(sample_dir), seed=3)
    table = split_table(split)
    assert list(table.columns) == ["train", "val", "test", "total"] and table.index[-1] == ALL_BREEDS_ROW
    assert table.loc[ALL_BREEDS_ROW].to_dict() == {**split.counts(), "total": 150}
    assert (table.drop(index=ALL_BREEDS_ROW)["test"] == 12).all()  # the official test list: 12 a breed
    assert (table.drop(index=ALL_BREEDS_ROW)["total"] == 30).all()
    assert list(table.index[:-1]) == sorted(table.index[:-1], key=str.casefold)


def test_problem_table_groups_by_kind(tmp_path):
    problems = [
        Problem(tmp_path / "b" / "2.jpg", "corrupt", "truncated", "error"),
        Problem(tmp_path / "a" / "1.jpg", "corrupt", "bad header", "error"),
        Problem(tmp_path / "a" / "3.jpg", "color_mode", "grayscale: converted", "warning"),
        Problem(tmp_path / "a" / "1.jpg", "corrupt", "bad header", "error"),  # the same file twice
    ]
    table = problem_table(problems, root=tmp_path)
    assert table.to_dict("records") == [
        {"kind": "corrupt", "severity": "error", "files": 2, "example": "a/1.jpg", "detail": "bad header"},
        {
            "kind": "color_mode",
            "severity": "warning",
            "files": 1,
            "example": "a/3.jpg",
            "detail": "grayscale: converted",
        },
    ]
    assert problem_table([]).empty


def test_pick_examples_is_seeded_and_balanced(sample_dir):
    records = discover(sample_dir).records
    picked = pick_examples(records, per_breed=3, seed=1)
    assert len(picked) == 15 and len({record.path for record in picked}) == 15
    assert [record.label_id for record in picked] == sorted(record.label_id for record in picked)
    assert pick_examples(records, 3, seed=1) == picked != pick_examples(records, 3, seed=2)
    assert len(pick_examples(records[:2], per_breed=5, seed=0)) == 2
    with pytest.raises(ExplorationError, match="per_breed"):
        pick_examples(records, 0, seed=0)


def test_pick_examples_can_draw_fewer_breeds(sample_dir):
    records = discover(sample_dir).records
    picked = pick_examples(records, per_breed=2, seed=4, max_breeds=2)
    label_ids = [record.label_id for record in picked]
    assert len(picked) == 4 and len(set(label_ids)) == 2 and label_ids == sorted(label_ids)
    assert len({record.label_id for record in pick_examples(records, 1, seed=4, max_breeds=9)}) == 5
    draws = {tuple(sorted({r.label_id for r in pick_examples(records, 1, seed=s, max_breeds=2)})) for s in range(8)}
    assert len(draws) > 1, "the breeds shown depend on the seed"
    with pytest.raises(ExplorationError, match="max_breeds"):
        pick_examples(records, 1, seed=0, max_breeds=0)
