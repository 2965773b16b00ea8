"""Results records: strict JSON, atomic unique files, table of runs."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dogbreeds.core.fileio import UnstorableValueError, safe_name, to_jsonable, write_json_atomic
from dogbreeds.core.recordfile import RecordError, library_versions, load_record, make_record, write_record
from dogbreeds.experiments.records import load_records
from dogbreeds.models.builders import CNNConfig


def sample_record(run_name: str = "scratch baseline", kind: str = "scratch", top1: float = 0.42) -> dict:
    return make_record(
        run_name,
        kind,
        params={
            "config": CNNConfig(),
            "image_size": np.int64(64),
            "lr": np.float32(0.001),
            "model": run_name,
            "parameters": np.int64(1234),
        },
        metrics={
            "top1": np.float64(top1),
            "top5": 0.8,
            "macro_f1": np.float32(0.4),
            "kappa": 0.3,
            "val_loss_min": math.nan,
        },
        history={"loss": np.array([1.5, 1.2, math.inf]), "accuracy": [0.2, 0.3, 0.35]},
        timings={
            "wall_time_s": 12.5,
            "epochs_run": 3,
            "best_epoch": np.int32(2),
            "train_seconds": 12.5,
            "inference_ms_per_image": 1.5,
        },
        data_counts={"train": 120, "val": 30, "test": 50},
        num_classes=5,
        seed=42,
        source="notebooks/03_scratch_cnn.ipynb",
    )


def test_record_round_trip_with_numpy_and_non_finite_values(tmp_path):
    record = sample_record()
    path = write_record(record, tmp_path / "results")
    loaded = load_record(path)
    assert loaded == record
    assert loaded["metrics"]["val_loss_min"] is None  # NaN is stored as null
    assert loaded["history"]["loss"] == [1.5, 1.2, None]  # so is infinity
    assert loaded["params"]["config"]["filters"] == [32, 64, 128]
    assert loaded["params"]["image_size"] == 64 and isinstance(loaded["params"]["image_size"], int)
    assert loaded["metrics"]["macro_f1"] == pytest.approx(0.4)
    assert loaded["data"] == {"counts": {"train": 120, "val": 30, "test": 50}, "num_classes": 5, "hash": None}
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    json.loads(text, parse_constant=lambda name: pytest.fail(f"non-standard JSON constant {name}"))


def test_record_holds_versions_timestamp_and_source():
    record = sample_record()
    versions = record["versions"]
    expected = {"python", "tensorflow", "keras", "numpy", "keras-tuner", "scikit-learn", "opencv", "pillow"}
    assert set(versions) >= expected
    assert versions["numpy"] == np.__version__
    assert library_versions()["keras"] == versions["keras"]
    assert record["timestamp"].endswith("+00:00")
    assert record["source"] == "notebooks/03_scratch_cnn.ipynb"
    assert make_record("x", "tuning")["source"]  # defaults to the running command


def test_file_names_are_unique_and_safe(tmp_path):
    record = sample_record(run_name="../../etc/passwd: scratch/ReLU?")
    first = write_record(record, tmp_path)
    second = write_record(record, tmp_path)
    assert first != second
    assert first.parent == tmp_path and second.parent == tmp_path
    assert first.name.endswith("-etc-passwd-scratch-ReLU.json")
    assert second.name.endswith("-etc-passwd-scratch-ReLU-2.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, second.name])  # no temp files left
    umask = os.umask(0)
    os.umask(umask)
    assert first.stat().st_mode & 0o777 == 0o666 & ~umask  # not the 0600 of a private temp file
    assert safe_name("...") == "run"


def test_load_records_builds_one_flat_row_per_run(tmp_path):
    write_record(sample_record("scratch baseline", "scratch", top1=0.42), tmp_path)
    write_record(sample_record("mobilenet head", "transfer", top1=0.81), tmp_path)
    (tmp_path / ".partial-abc.json").write_text("{")  # an interrupted write is ignored
    table = load_records(tmp_path)
    assert isinstance(table, pd.DataFrame) and len(table) == 2
    by_name = table.set_index("run_name")
    assert by_name.loc["mobilenet head", "metrics.top1"] == pytest.approx(0.81)
    assert by_name.loc["scratch baseline", "kind"] == "scratch"
    assert by_name.loc["scratch baseline", "params.config.activation"] == "relu"
    assert by_name.loc["scratch baseline", "data.counts.train"] == 120
    assert by_name.loc["scratch baseline", "timings.best_epoch"] == 2
    assert pd.isna(by_name.loc["scratch baseline", "metrics.val_loss_min"])
    assert not any(column.startswith("history") for column in table.columns)


def test_load_records_of_empty_folder_and_missing_folder(tmp_path):
    assert load_records(tmp_path).empty
    with pytest.raises(RecordError, match="does not exist"):
        load_records(tmp_path / "nope")


def test_bad_records_are_rejected_with_clear_errors(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(RecordError, match="Cannot read"):
        load_record(broken)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"hello": 1}))
    with pytest.raises(RecordError, match="missing"):
        load_record(other)
    with pytest.raises(RecordError, match="run_name"):
        make_record(" ", "scratch")
    with pytest.raises(UnstorableValueError, match="Cannot store a object"):
        to_jsonable({"model": object()})


def test_write_json_atomic_replaces_whole_file(tmp_path):
    target = tmp_path / "sub" / "state.json"
    write_json_atomic(target, {"epoch": np.int64(3), "value": np.float32(0.5)})
    write_json_atomic(target, {"epoch": 4, "path": Path("a/b")})
    assert json.loads(target.read_text()) == {"epoch": 4, "path": "a/b"}
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]


def test_records_carry_the_device_and_the_data_hash():
    record = make_record("run", "tuning", seed=7, data_hash="ab" * 32)
    assert record["seed"] == 7 and record["data"]["hash"] == "ab" * 32
    assert record["device"].startswith(("CPU: ", "GPU: "))
