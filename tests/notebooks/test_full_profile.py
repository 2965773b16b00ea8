"""The GPU profile's code path, exercised on the CPU: the five notebooks with ``profile="full"`` on the
bundled sample, every size and count overridden down to seconds, so a GPU user is not the first to run it."""

from __future__ import annotations

import json

import pytest

from dogbreeds.study import runner

from .conftest import load_results

FULL_BUT_TINY = {
    "profile": "full",
    "breeds": 3,
    "image_size": 32,
    "epochs": 1,
    "tuner_trials": 1,
    "seed": 7,
    "overrides": {
        "transfer_image_size": 96,
        "batch_size": 16,
        "fine_tune_epochs": 1,
        "ablation_seeds": 1,
        "head_epochs": 2,
        "pets_sample": 4,  # notebook 05: the shelter's reporting photos, a seeded draw of 4 of each half
    },
}


@pytest.mark.notebook
def test_the_full_profile_runs_all_notebooks_with_tiny_overrides(tmp_path):
    results = runner.run_notebooks(tmp_path, FULL_BUT_TINY)

    assert [result.name for result in results] == list(runner.NOTEBOOKS)
    manifest = json.loads((tmp_path / runner.MANIFEST).read_text())
    assert manifest["parameters"]["profile"] == "full"
    assert {entry["status"] for entry in manifest["notebooks"].values()} == {"done"}
    for notebook in runner.NOTEBOOKS[2:4]:
        records = load_results(tmp_path, notebook)
        assert records and {record["params"]["profile"] for record in records} == {"full"}
        assert {record["params"]["epochs"] for record in records} == {1}
    kinds = {record["kind"] for record in load_results(tmp_path, "03_scratch_cnn")}
    kinds |= {record["kind"] for record in load_results(tmp_path, "04_transfer_learning")}
    assert {"scratch", "transfer"} <= kinds
