"""Scratch against transfer: the central table, its paired comparison and the data-size curve, from tiny records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dogbreeds.core.recordfile import make_record, write_record
from dogbreeds.data.folder import ImageRecord
from dogbreeds.experiments.head_to_head import (
    best_pair,
    central_table,
    data_size_curve,
    head_to_head_table,
    load_contenders,
    per_breed_rows,
    predictions_path,
    readable_head_to_head,
)
from dogbreeds.experiments.head_to_head_text import (
    central_markdown,
    data_size_markdown,
    head_to_head_markdown,
    missing_markdown,
    pair_markdown,
)
from dogbreeds.experiments.predictions import SplitPredictions, save_predictions
from dogbreeds.experiments.records import load_records
from dogbreeds.judge import plots
from dogbreeds.judge.intervals import seeded_interval

PHOTOS = 40
LABELS = np.arange(PHOTOS) % 2


def probabilities(hits: np.ndarray) -> np.ndarray:
    """Two-breed probabilities right exactly where ``hits`` is True."""
    labels = LABELS[: len(hits)]
    predicted = np.where(hits, labels, 1 - labels)
    return np.eye(2)[predicted] * 0.8 + 0.1


def save(output_dir: Path, name: str, hits: np.ndarray, root: str) -> str:
    paths = tuple(Path(root) / f"breed{label}" / f"photo{i}.jpg" for i, label in enumerate(LABELS))
    test = SplitPredictions(LABELS, probabilities(hits), paths)
    val = SplitPredictions(LABELS[:2], probabilities(hits[:2]), paths[:2])
    return save_predictions(predictions_path(output_dir, name), val=val, test=test).relative_to(output_dir).as_posix()


def record(output_dir: Path, name: str, kind: str, top1: float, **params) -> None:
    model = {"parameters": params.pop("parameters", 10), "model": params.pop("model", name)}
    written = make_record(
        name,
        kind,
        params={**model, **params},
        metrics={"top1": top1, "top5": 1.0, "macro_f1": top1, "kappa": 0.0, "val_top1": top1, "n": PHOTOS},
        timings={"train_seconds": 12.0, "inference_ms_per_image": 1.0},
        data_counts={"train": 20, "val": 2, "test": PHOTOS},
    )
    write_record(written, output_dir / "results")


def hits_at(accuracy: float, seed: int) -> np.ndarray:
    hits = np.zeros(PHOTOS, dtype=bool)
    hits[np.random.default_rng(seed).permutation(PHOTOS)[: round(accuracy * PHOTOS)]] = True
    return hits


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """A run with a three-seed scratch baseline (its files found by name), a pre-trained one, two heads."""
    for seed, accuracy in enumerate((0.25, 0.3, 0.35)):
        save(tmp_path, f"scratch_baseline-seed{seed}", hits_at(accuracy, seed), "/data/a")
    record(tmp_path, "scratch_baseline", "scratch", 0.3)
    pretrained = save(tmp_path, "scratch_pretrained", hits_at(0.5, 5), "/data/a")
    record(tmp_path, "scratch_pretrained", "scratch", 0.5, predictions=pretrained)
    for name, accuracy in (("photos_mobilenet_v2", 0.9), ("photos_efficientnet_lite0", 0.95)):
        rel = save(tmp_path, name, hits_at(accuracy, 9), "/elsewhere/b")  # another folder: matched by breed/file
        size = 20 if "mobilenet" in name else 30
        record(tmp_path, name, "transfer", accuracy, predictions=rel, model=f"{name} + head", parameters=size)
    record(tmp_path, "transfer_size_mobilenet_v2_10", "data_size", 0.6, per_breed=10, model="MobileNetV2 + head")
    record(tmp_path, "transfer_size_mobilenet_v2_25", "data_size", 0.8, per_breed=25, model="MobileNetV2 + head")
    record(tmp_path, "scratch_size_10-seed1", "scratch", 0.25, model="CNN")  # its size read from its name
    record(tmp_path, "scratch_size_10-seed2", "scratch", 0.15, model="CNN")  # two seeds: one point, their mean
    record(tmp_path, "scratch_size_25", "scratch", 0.3, model="CNN, 25 photos a breed")  # its own name: one curve
    record(tmp_path, "photos_other", "comparison", 0.1)  # another kind: not a contender
    return tmp_path


def test_the_table_reads_records_and_predictions_seeds_averaged(run: Path) -> None:
    contenders = load_contenders(load_records(run / "results"), run)
    names = [c.run_name for c in contenders]
    assert names == ["scratch_baseline", "scratch_pretrained", "photos_mobilenet_v2", "photos_efficientnet_lite0"]
    table = head_to_head_table(contenders)
    assert table["runs"].tolist() == [3, 1, 1, 1]
    expected = {"scratch_baseline": 0.3, "scratch_pretrained": 0.5, "photos_mobilenet_v2": 0.9}
    expected["photos_efficientnet_lite0"] = 0.95
    assert table["test top-1"].tolist() == pytest.approx([expected[name] for name in names])
    assert (table["low"] < table["test top-1"]).all() and (table["test top-1"] < table["high"]).all()
    assert table["training photos"].tolist() == [20] * 4 and table["test photos"].tolist() == [PHOTOS] * 4
    text = readable_head_to_head(table)
    assert text.loc[1, "test top-1 (95 % interval)"].startswith("50.0 % (")
    assert list(central_table(run)["model"]) == list(text["model"])


def test_best_of_each_family_compared_photo_by_photo(run: Path) -> None:
    scratch, transfer, comparison = best_pair(load_contenders(load_records(run / "results"), run))
    assert (scratch.run_name, transfer.run_name) == ("scratch_pretrained", "photos_efficientnet_lite0")
    assert comparison.photos == PHOTOS and comparison.difference.value == pytest.approx(0.45)
    assert comparison.verdict == "better"
    words = pair_markdown(scratch.model, transfer.model, comparison)
    assert "+45.0 points" in words and "McNemar" in words and "transfer is measurably better" in words
    contenders = load_contenders(load_records(run / "results"), run)
    everything = central_markdown(head_to_head_table(contenders), (scratch, transfer, comparison), pd.DataFrame(), 2)
    assert "Not measured" not in everything and words in everything and "Chance with 2 breeds is 50.0%" in everything


def test_seeded_interval_is_wider_than_one_seed() -> None:
    runs = np.stack([hits_at(a, s) for s, a in enumerate((0.2, 0.5, 0.8))])
    spread = seeded_interval(runs)
    single = seeded_interval(runs[1:2])
    assert spread.value == pytest.approx(0.5) and single.value == pytest.approx(0.5)
    assert spread.high - spread.low > single.high - single.low


def test_missing_scratch_says_what_to_run(tmp_path: Path) -> None:
    record(tmp_path, "photos_mobilenet_v2", "transfer", 0.9, model="MobileNetV2 + head")
    contenders = load_contenders(load_records(tmp_path / "results"), tmp_path)
    table = head_to_head_table(contenders)
    assert table["runs"].tolist() == [1] and best_pair(contenders) is None  # no predictions file: no comparison
    assert "scratch notebook" in missing_markdown(table) and "transfer notebook" not in missing_markdown(table)
    assert missing_markdown(head_to_head_table([])).count("run the") == 2
    assert "90.0 %" in head_to_head_markdown(table, breeds=10)
    words = central_markdown(table, None, data_size_curve(load_records(tmp_path / "results")), breeds=10)
    assert words.startswith("**Not measured in this run:**") and "No point of the data-size curve" in words


def test_data_size_curve_and_its_figure(run: Path) -> None:
    curve = data_size_curve(load_records(run / "results"))
    assert curve[["family", "per breed"]].values.tolist() == [
        ["from scratch", 10],
        ["from scratch", 25],
        ["transfer", 10],
        ["transfer", 25],
    ]
    assert curve["test top-1"].tolist() == pytest.approx([0.2, 0.3, 0.6, 0.8])
    # the scratch sizes are one recipe, one curve, named as the central table names it
    assert set(curve[curve["family"] == "from scratch"]["model"]) == {"CNN from scratch, random weights"}
    assert "60.0 %" in data_size_markdown(curve) and "80.0 %" in data_size_markdown(curve)
    figure = plots.plot_data_size_curve(curve, chance=0.5)
    assert figure.axes[0].get_xscale() == "log"
    assert data_size_markdown(pd.DataFrame()).startswith("No point")


def test_per_breed_rows_are_seeded_nested_and_capped() -> None:
    records = [ImageRecord(Path(f"b{i % 3}/{i}.jpg"), f"b{i % 3}") for i in range(30)]
    small, large = per_breed_rows(records, 2, seed=1), per_breed_rows(records, 5, seed=1)
    assert len(small) == 6 and len(large) == 15 and set(small) <= set(large)
    assert len(per_breed_rows(records, 100, seed=1)) == 30
    assert np.array_equal(per_breed_rows(records, 2, seed=1), small)


def test_the_title_page_puts_the_central_table_in_the_summary(run: Path) -> None:
    from dogbreeds.study.title_page import central_lines

    lines = central_lines(run)
    assert lines[0] == "### Scratch against transfer, on the same photos"
    header, rule, *rows = [line for line in lines[2:] if line]
    assert header.startswith("| model |") and rule.startswith("|---|")
    assert (
        len(rows) == 4
        and rows[1].startswith("| CNN from scratch, pre-trained on the 120-breed crops |")
        and "50.0 % (" in rows[1]
    )
    assert central_lines(run / "nowhere") == []
