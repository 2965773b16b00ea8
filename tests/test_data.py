"""Tests of dogbreeds.data.folder: discovery, lists, breed names and selection, splits, boxes, summary."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest
from conftest import SYNTHETIC_BREEDS, write_image, write_mat_list, write_voc
from PIL import Image

from dogbreeds.data.boxes import Box, annotation_for, choose_box, crop_boxes, crop_to_box, read_boxes
from dogbreeds.data.folder import (
    AnnotationError,
    BreedSelectionError,
    DataDirError,
    ImageRecord,
    Problem,
    ProblemLog,
    SplitListError,
    breed_name,
    discover,
    select_breeds,
)
from dogbreeds.data.splits import SplitError, split_records
from dogbreeds.data.summary import summarize


@pytest.mark.parametrize(
    ("label_id", "name"),
    [
        ("n02085620-Chihuahua", "Chihuahua"),
        ("n02096051-Airedale", "Airedale"),
        ("n02106662-German_shepherd", "German shepherd"),
        ("n02086240-Shih-Tzu", "Shih-Tzu"),
        ("n02089078-black-and-tan_coonhound", "black-and-tan coonhound"),
        ("my_own-breed", "my own-breed"),
    ],
)
def test_breed_name(label_id, name):
    assert breed_name(label_id) == name


def test_image_record_properties(tmp_path):
    record = ImageRecord(tmp_path / "n02106662-German_shepherd" / "n02106662_1.jpg", "n02106662-German_shepherd")
    assert record.breed == "German shepherd"
    assert record.relative_path == "n02106662-German_shepherd/n02106662_1.jpg"
    assert record.official_split is None and record.annotation_path is None


def test_discover_reads_layout_and_txt_lists(make_dogs_dir):
    index = discover(make_dogs_dir())
    assert index.label_ids == tuple(sorted(SYNTHETIC_BREEDS))
    assert len(index.records) == 18
    assert Counter(record.official_split for record in index.records) == {"train": 12, "test": 6}
    assert index.has_official_split and [path.name for path in index.list_files] == ["train_list.txt", "test_list.txt"]
    assert index.annotations_dir is None and index.problems == () and index.unlisted == ()
    first = index.records[0]
    assert first.path.is_absolute() and first.path.is_file()
    assert (first.label_id, first.path.name, first.official_split) == (
        "n02085620-Chihuahua",
        "n02085620_0.jpg",
        "train",
    )


def test_discover_reads_mat_lists(make_dogs_dir):
    index = discover(make_dogs_dir(lists="mat"))
    assert [path.name for path in index.list_files] == ["train_list.mat", "test_list.mat"]
    assert Counter(record.official_split for record in index.records) == {"train": 12, "test": 6}


def test_discover_prefers_txt_over_mat(make_dogs_dir):
    root = make_dogs_dir(lists="both")
    every_file = [f"{record.label_id}/{record.path.name}" for record in discover(root).records]
    write_mat_list(root / "lists" / "test_list.mat", every_file)  # disagrees with test_list.txt
    index = discover(root)
    assert [path.name for path in index.list_files] == ["train_list.txt", "test_list.txt"]
    assert sum(record.official_split == "test" for record in index.records) == 6


def test_mat_list_without_file_list_is_a_clear_error(make_dogs_dir):
    from scipy.io import savemat

    root = make_dogs_dir(lists=None)
    (root / "lists").mkdir()
    savemat(root / "lists" / "train_list.mat", {"labels": [[1]]})
    with pytest.raises(SplitListError, match="no 'file_list'.*found: labels"):
        discover(root)


def test_damaged_mat_list_is_a_clear_error(make_dogs_dir):
    root = make_dogs_dir(lists=None)
    (root / "lists").mkdir()
    (root / "lists" / "test_list.mat").write_bytes(b"not a MATLAB file at all")
    with pytest.raises(SplitListError, match="cannot read the MATLAB split list"):
        discover(root)


def test_no_lists_means_no_official_split(make_dogs_dir):
    index = discover(make_dogs_dir(lists=None))
    assert not index.has_official_split and index.list_files == ()
    assert {record.official_split for record in index.records} == {None}
    assert index.unlisted == ()


def test_unlisted_and_missing_listed_files_are_reported(make_dogs_dir):
    root = make_dogs_dir()
    write_image(root / "Images" / "n02085620-Chihuahua" / "n02085620_extra.jpg")
    (root / "Images" / "n02086240-Shih-Tzu" / "n02086240_0.jpg").unlink()
    index = discover(root)
    assert [record.path.name for record in index.unlisted] == ["n02085620_extra.jpg"]
    missing = [problem for problem in index.problems if problem.kind == "missing_listed_file"]
    assert [problem.path.name for problem in missing] == ["n02086240_0.jpg"]
    assert "train list" in missing[0].detail
    split = split_records(index)
    assert [record.path.name for record in split.excluded] == ["n02085620_extra.jpg"]
    assert sum(split.counts().values()) == 17
    summary = summarize(index)
    assert summary.unlisted == 1 and summary.problems == {"missing_listed_file": 1}
    assert "In no list       1 (not used in splits)" in summary.to_text()


def test_file_in_both_lists_stays_in_test(make_dogs_dir):
    root = make_dogs_dir()
    with (root / "lists" / "train_list.txt").open("a") as listing:
        listing.write("n02085620-Chihuahua/n02085620_2.jpg\n")  # also in the test list
    index = discover(root)
    record = next(r for r in index.records if r.path.name == "n02085620_2.jpg")
    assert record.official_split == "test"
    assert [(problem.kind, problem.path) for problem in index.problems] == [("listed_twice", record.path)]


def test_list_entries_are_normalized(make_dogs_dir):
    root = make_dogs_dir(lists=None)
    (root / "lists").mkdir()
    (root / "lists" / "test_list.txt").write_text(
        "# comment\n\n./n02085620-Chihuahua/n02085620_0.jpg\nImages\\n02086240-Shih-Tzu\\n02086240_0.jpg\n"
    )
    tests = {record.relative_path for record in discover(root).records if record.official_split == "test"}
    assert tests == {"n02085620-Chihuahua/n02085620_0.jpg", "n02086240-Shih-Tzu/n02086240_0.jpg"}


def test_empty_breed_folder_and_stray_files_are_reported(make_dogs_dir):
    root = make_dogs_dir()
    (root / "Images" / "n02096051-Airedale").mkdir()
    (root / "Images" / "notes.txt").write_text("hello")
    (root / "Images" / "n02085620-Chihuahua" / "Thumbs.db").write_bytes(b"\0")
    index = discover(root)
    assert "n02096051-Airedale" not in index.label_ids and len(index.records) == 18
    kinds = sorted((problem.kind, problem.path.name) for problem in index.problems)
    assert kinds == [
        ("empty_breed_folder", "n02096051-Airedale"),
        ("unexpected_file", "Thumbs.db"),
        ("unexpected_file", "notes.txt"),
    ]
    assert all(problem.severity == "warning" for problem in index.problems)


@pytest.mark.parametrize(
    ("make_bad", "message"),
    [
        (lambda root: root / "nowhere", "does not exist"),
        (lambda root: (root / "file.txt", (root / "file.txt").write_text("x"))[0], "is not a folder"),
        (lambda root: root, "has no Images/ folder"),
        (lambda root: (root / "Images").mkdir() or root / "Images", "is the Images/ folder itself"),
        (lambda root: (root / "n02085620-Chihuahua").mkdir() or root, "holds breed folders directly"),
        (lambda root: (root / "Images" / "n02085620-Chihuahua").mkdir(parents=True) or root, "no breed folder with"),
    ],
)
def test_wrong_data_dir_is_a_clear_error(tmp_path, make_bad, message):
    with pytest.raises(DataDirError, match=message):
        discover(make_bad(tmp_path))


def test_discover_finds_annotations(make_dogs_dir):
    root = make_dogs_dir(annotations=True)
    (root / "Annotation" / "n02085620-Chihuahua" / "n02085620_0").unlink()
    index = discover(root)
    assert index.annotations_dir == root / "Annotation"
    assert sum(record.annotation_path is not None for record in index.records) == 17
    missing = [problem for problem in index.problems if problem.kind == "missing_annotation"]
    assert [problem.path.name for problem in missing] == ["n02085620_0.jpg"]
    assert summarize(index).annotated == 17


def test_select_breeds_all_top_n_and_explicit(make_dogs_dir):
    root = make_dogs_dir(
        {"n02085620-Chihuahua": 4, "n02086240-Shih-Tzu": 6, "n02106662-German_shepherd": 4, "n02096051-Airedale": 4},
        lists=None,
    )
    records = discover(root).records
    assert select_breeds(records) == list(records)
    assert {r.label_id for r in select_breeds(records, 1)} == {"n02086240-Shih-Tzu"}
    # Ties (4 images each) are broken by readable name: Airedale before Chihuahua before German shepherd.
    assert {r.label_id for r in select_breeds(records, 3)} == {
        "n02086240-Shih-Tzu",
        "n02096051-Airedale",
        "n02085620-Chihuahua",
    }
    chosen = select_breeds(records, ["german_shepherd", "n02085620-Chihuahua", "N02086240", "shih-tzu"])
    assert {r.label_id for r in chosen} == {"n02106662-German_shepherd", "n02085620-Chihuahua", "n02086240-Shih-Tzu"}
    assert len(chosen) == 14
    assert {r.label_id for r in select_breeds(records, "Airedale")} == {"n02096051-Airedale"}


def test_select_breeds_errors(make_dogs_dir):
    records = discover(make_dogs_dir(lists=None)).records
    with pytest.raises(BreedSelectionError, match="unknown breed 'Chihuaha'; did you mean: Chihuahua"):
        select_breeds(records, ["Chihuaha"])
    with pytest.raises(BreedSelectionError, match="known breeds: Chihuahua, German shepherd, Shih-Tzu"):
        select_breeds(records, ["poodle"])
    for count in (0, 4):
        with pytest.raises(BreedSelectionError, match="between 1 and 3"):
            select_breeds(records, count)


def test_split_with_official_lists(make_dogs_dir):
    index = discover(make_dogs_dir({"n02085620-Chihuahua": 15, "n02086240-Shih-Tzu": 15}))
    split = split_records(index, val_fraction=0.2, seed=1)
    assert split.counts() == {"train": 16, "val": 4, "test": 10}
    assert {record.official_split for record in split.test} == {"test"}
    assert {record.official_split for record in split.train + split.val} == {"train"}
    assert Counter(record.label_id for record in split.val) == {"n02085620-Chihuahua": 2, "n02086240-Shih-Tzu": 2}
    assert "official" in split.source and split.excluded == ()
    assert split_records(index, seed=1) == split_records(list(reversed(index.records)), seed=1)
    assert split_records(index, seed=1).val != split_records(index, seed=2).val


def test_split_without_lists_is_seeded_and_stratified(make_dogs_dir):
    index = discover(make_dogs_dir({"n02085620-Chihuahua": 20, "n02086240-Shih-Tzu": 20}, lists=None))
    split = split_records(index, val_fraction=0.25, test_fraction=0.2, seed=7)
    assert split.counts() == {"train": 24, "val": 8, "test": 8}
    for part in (split.train, split.val, split.test):
        counts = Counter(record.label_id for record in part)
        assert counts["n02085620-Chihuahua"] == counts["n02086240-Shih-Tzu"]
    paths = [record.path for record in split.train + split.val + split.test]
    assert len(set(paths)) == 40
    assert split.source == "seeded stratified split"
    assert split_records(index, val_fraction=0, test_fraction=0).counts() == {"train": 40, "val": 0, "test": 0}


def test_split_with_only_a_train_list_carves_test(make_dogs_dir):
    root = make_dogs_dir({"n02085620-Chihuahua": 10, "n02086240-Shih-Tzu": 10})
    (root / "lists" / "test_list.txt").unlink()
    split = split_records(discover(root), val_fraction=0.25, test_fraction=0.25)
    assert split.counts() == {"train": 7, "val": 3, "test": 4}  # 14 listed train images (sklearn rounds up)
    assert len(split.excluded) == 6


def test_split_errors(make_dogs_dir):
    index = discover(make_dogs_dir({"n02085620-Chihuahua": 5, "n02086240-Shih-Tzu": 1}, lists=None))
    with pytest.raises(SplitError, match="breed n02086240-Shih-Tzu has only 1 image"):
        split_records(index)
    with pytest.raises(SplitError, match="val_fraction must be in"):
        split_records(index, val_fraction=1.0)
    with pytest.raises(SplitError, match="no records"):
        split_records([])


def test_read_boxes_two_boxes(tmp_path):
    path = write_voc(tmp_path / "n02085620_0", [(1, 2, 30, 20), (5, 5, 45, 38)], size=(48, 40), name="Chihuahua")
    boxes = read_boxes(path)
    assert boxes == [Box(1, 2, 30, 20, (48, 40), "Chihuahua"), Box(5, 5, 45, 38, (48, 40), "Chihuahua")]
    assert boxes[1].area == 40 * 33


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("<annotation><object><bndbox><xmin>1", "malformed XML"),
        ("<annotation><size><width>9</width></size></annotation>", "<size><height> is None"),
        ("<annotation><object><bndbox><xmin>a</xmin></bndbox></object></annotation>", "<bndbox><xmin> is 'a'"),
        ("<annotation><size><width>9</width><height>9</height></size></annotation>", "no <object><bndbox>"),
        (
            "<annotation><object><bndbox><xmin>5</xmin><ymin>1</ymin><xmax>5</xmax><ymax>4</ymax></bndbox></object>"
            "</annotation>",
            "empty box",
        ),
    ],
)
def test_read_boxes_malformed(tmp_path, xml, message):
    path = tmp_path / "n02085620_0"
    path.write_text(xml)
    with pytest.raises(AnnotationError, match=message) as caught:
        read_boxes(path)
    assert caught.value.path == path and str(caught.value).startswith(f"{path}: ")


def test_read_boxes_missing_file(tmp_path):
    with pytest.raises(AnnotationError, match="cannot read"):
        read_boxes(tmp_path / "absent")


def test_annotation_for_and_choose_box(tmp_path):
    annotation = write_voc(tmp_path / "a", [(0, 0, 10, 10), (0, 0, 30, 20)])
    record = ImageRecord(tmp_path / "a.jpg", "n02085620-Chihuahua", annotation_path=annotation)
    boxes = annotation_for(record)
    assert choose_box(boxes, "first").xmax == 10
    assert choose_box(boxes, "largest").xmax == 30
    assert annotation_for(dataclasses.replace(record, annotation_path=None)) is None
    with pytest.raises(ValueError, match="crop must be one of"):
        choose_box(boxes, "middle")
    with pytest.raises(ValueError, match="no box"):
        choose_box([], "first")


def test_crop_boxes_leaves_unreadable_annotations_uncropped(tmp_path):
    good = write_voc(tmp_path / "good", [(0, 0, 10, 10)])
    bad = tmp_path / "bad"
    bad.write_text("<annotation><object>")
    records = [
        ImageRecord(tmp_path / "good.jpg", "b", annotation_path=good),
        ImageRecord(tmp_path / "bad.jpg", "b", annotation_path=bad),
        ImageRecord(tmp_path / "none.jpg", "b"),
    ]
    boxes, problems = crop_boxes(records, "first")
    assert boxes[0].xmax == 10 and boxes[1] is None and boxes[2] is None
    assert [(problem.path, problem.kind) for problem in problems] == [(bad, "bad_annotation")]
    assert "used uncropped" in problems[0].detail
    assert crop_boxes(records, None) == ([None, None, None], [])


def test_crop_to_box_margin_clipping_and_scaling():
    image = Image.new("RGB", (100, 80))
    assert crop_to_box(image, Box(10, 20, 50, 60)).size == (40, 40)
    assert crop_to_box(image, Box(10, 20, 50, 60), margin=0.25).size == (60, 60)  # 10 px more on each side
    assert crop_to_box(image, Box(10, 20, 50, 60), margin=1.0).size == (90, 80)  # clipped to the image
    # A box drawn on a 200 x 160 original is scaled to this 100 x 80 copy.
    assert crop_to_box(image, Box(20, 40, 100, 120, frame=(200, 160))).size == (40, 40)
    with pytest.raises(AnnotationError, match="outside the 100x80 image"):
        crop_to_box(image, Box(120, 90, 150, 120))
    with pytest.raises(ValueError, match="margin"):
        crop_to_box(image, Box(10, 20, 50, 60), margin=-0.1)


def test_problem_log_deduplicates_and_counts(tmp_path):
    log = ProblemLog()
    assert log.add(Problem(tmp_path / "a", "corrupt", "bad", "error"))
    assert not log.add(Problem(tmp_path / "a", "corrupt", "bad again", "error"))
    assert log.add(Problem(tmp_path / "b", "bad_annotation", "uncropped"))
    assert len(log) == 2 and log.counts() == {"corrupt": 1, "bad_annotation": 1}
    assert [problem.path.name for problem in log.skipped] == ["a"]
    assert log.problems[1].to_dict()["severity"] == "warning"


def test_summary_of_synthetic_folder(make_dogs_dir):
    summary = summarize(discover(make_dogs_dir({"n02085620-Chihuahua": 3, "n02086240-Shih-Tzu": 6})))
    assert (summary.breeds, summary.images, summary.official_split) == (2, 9, {"train": 6, "test": 3})
    assert [(b.name, b.images, b.train, b.test) for b in summary.per_breed] == [
        ("Chihuahua", 3, 2, 1),
        ("Shih-Tzu", 6, 4, 2),
    ]
    assert summary.to_dict()["per_breed"][1]["label_id"] == "n02086240-Shih-Tzu"
    text = summary.to_text()
    assert "Images a breed   min 3 (Chihuahua), median 4.5, max 6 (Shih-Tzu)" in text
    assert "Annotations      none" in text


def test_summary_without_lists(make_dogs_dir):
    summary = summarize(discover(make_dogs_dir(lists=None)))
    assert summary.official_split is None and summary.list_files == ()
    assert "Official split   none" in summary.to_text()
    assert "Images a breed   6 each" in summary.to_text()


def test_bundled_sample(sample_dir):
    index = discover(sample_dir)
    summary = summarize(index)
    assert (summary.breeds, summary.images, summary.official_split) == (5, 150, {"train": 90, "test": 60})
    assert summary.list_files == ("lists/train_list.txt", "lists/test_list.txt")
    assert summary.unlisted == 0 and summary.problems == {} and not summary.has_annotations
    split = split_records(index)
    assert split.counts() == {"train": 72, "val": 18, "test": 60}
    assert set(Counter(record.label_id for record in split.val).values()) <= {3, 4}
    assert all(record.path.is_file() for record in index.records)


@pytest.mark.shared_data
def test_shared_photos10(photos10_dir):
    index = discover(photos10_dir)
    summary = summarize(index)
    assert (summary.breeds, summary.images) == (10, 600)
    assert summary.official_split == {"train": 347, "test": 253}
    assert {breed.images for breed in summary.per_breed} == {60}
    assert "Shih-Tzu" in {breed.name for breed in summary.per_breed}
    split = split_records(index)
    assert split.counts()["test"] == 253 and split.counts()["train"] + split.counts()["val"] == 347
