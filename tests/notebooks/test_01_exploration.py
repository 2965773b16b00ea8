"""Notebook 01 (exploration) on the bundled sample, and on a synthetic folder with bounding boxes."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from dogbreeds.study import runner

from .conftest import TEST_PARAMETERS, load_results, notebook_errors

NOTEBOOK = "01_exploration"
FIGURES = ("images_per_breed", "image_sizes", "examples")


def the_record(run_dir: Path) -> dict:
    [record] = load_results(run_dir, NOTEBOOK)
    assert record["kind"] == "exploration" and record["run_name"] == "exploration"
    return record


@pytest.mark.notebook
def test_exploration_on_the_bundled_sample(executed):
    run_dir = executed(NOTEBOOK)
    assert notebook_errors(run_dir, NOTEBOOK) == []
    metrics = the_record(run_dir)["metrics"]
    # The sample: 5 breeds x 30 photos with a 256 px short side; the run keeps 3 breeds (90 photos).
    assert (metrics["breeds_in_folder"], metrics["images_in_folder"], metrics["images_sized"]) == (5, 150, 90)
    assert metrics["imbalance_ratio"] == 1.0 and metrics["fewest_per_breed"] == metrics["most_per_breed"] == 30
    assert metrics["median_short_side"] == 256 and metrics["enlarged_share_transfer"] == 0.0
    assert min(metrics["median_width"], metrics["median_height"]) == 256
    assert metrics["median_aspect_ratio"] == pytest.approx(metrics["median_width"] / metrics["median_height"], abs=0.15)
    assert 0 <= metrics["median_square_crop_loss"] < 0.5
    assert metrics["boxes_annotated_share"] == 0 and metrics["boxes_median_first_box_fraction"] is None
    assert metrics["scan_errors"] == metrics["scan_warnings"] == 0
    record = the_record(run_dir)
    assert record["params"]["profile"] == "quick" and record["params"]["breeds"] == 3
    assert record["params"]["split_source"].startswith("official lists")
    assert record["params"]["problem_counts"] == [{}]  # one folder scanned (data and photos alike), no problem
    assert record["data"]["num_classes"] == 3 and sum(record["data"]["counts"].values()) == 90
    assert record["data"]["counts"]["test"] == 36  # the official test list: 12 photos a breed
    figures = run_dir / "figures" / NOTEBOOK
    for name in FIGURES:
        assert (figures / f"{name}.png").stat().st_size > 5_000, name
    assert not (figures / "bounding_boxes.png").exists()  # no annotations: no empty panels
    split = pd.read_csv(figures / "split.csv", index_col="breed")
    assert split.loc["all breeds", ["train", "val", "test"]].to_dict() == record["data"]["counts"]
    assert len(split) == 4 and (split.drop(index="all breeds")["total"] == 30).all()
    sizes = pd.read_csv(figures / "image_sizes.csv", index_col=0)
    assert sizes.loc["short_side", "median"] == metrics["median_short_side"]
    executed_notebook = nbformat.read(run_dir / "notebooks" / f"{NOTEBOOK}.ipynb", as_version=4)
    tables = [
        output["data"].get("text/html", "")
        for cell in executed_notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if "data" in output
    ]
    folders = next(table for table in tables if "used by" in table)
    assert "sample" in folders and ">150</td>" in folders and ">90</td>" in folders  # in folder, studied
    assert any("20,580" in table for table in tables)  # the published totals of the full set, labelled as such
    assert json.loads((run_dir / "settings" / f"{NOTEBOOK}.json").read_text())["breeds"] == 3


@pytest.mark.notebook
def test_exploration_with_bounding_boxes(make_dogs_dir, tmp_path):
    # 3 breeds x 9 images of 48 x 40 px, each annotated with boxes covering 396 and 952 of its 1,920 px.
    data_dir = make_dogs_dir(
        {"n02085620-Chihuahua": 9, "n02086240-Shih-Tzu": 9, "n02106662-German_shepherd": 9}, annotations=True
    )
    run_dir = tmp_path / "run"
    runner.run_notebooks(run_dir, {**TEST_PARAMETERS, "data_dir": str(data_dir)}, until=NOTEBOOK)
    assert notebook_errors(run_dir, NOTEBOOK) == []
    metrics = the_record(run_dir)["metrics"]
    assert metrics["boxes_annotated_share"] == 1.0 and metrics["boxes_several_boxes_share"] == 1.0
    assert metrics["boxes_median_first_box_fraction"] == pytest.approx(396 / 1920)
    assert metrics["boxes_median_largest_box_fraction"] == pytest.approx(952 / 1920)
    assert metrics["median_aspect_ratio"] == 1.2 and metrics["enlarged_share_transfer"] == 1.0
    assert (run_dir / "figures" / NOTEBOOK / "bounding_boxes.png").stat().st_size > 5_000
