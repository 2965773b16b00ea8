"""Keras Tuner search: a 2-trial search, explicit reuse rules, failure detection, space checks."""

from __future__ import annotations

import keras_tuner as kt
import numpy as np
import pytest
import tensorflow as tf

from dogbreeds.models.builders import CNNConfig, build_scratch_cnn
from dogbreeds.models.recipes import SCRATCH_CONFIG
from dogbreeds.models.training import set_seed
from dogbreeds.models.tuning import (
    DEFAULT_SPACE,
    SCRATCH_SPACE,
    CNNHyperModel,
    ExistingSearchError,
    SearchError,
    SearchFailedError,
    TrialSchedule,
    best_config,
    make_tuner,
    run_search,
    search_project_name,
    space_table,
    trials_dataframe,
)

SMALL_SPACE = {"filters": [(4,), (4, 8)], "dense_units": [0, 8], "activation": ["relu"]}


def tiny_split(size: int = 16) -> tf.data.Dataset:
    rng = np.random.default_rng(0)
    labels = np.arange(16, dtype=np.int32) % 2
    images = rng.uniform(0, 60, (16, size, size, 3)).astype(np.float32)
    images[labels == 1] += 150.0  # bright versus dark images
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)


def small_search(directory, **tuner_options) -> kt.Tuner:
    hypermodel = CNNHyperModel(2, (16, 16, 3), SMALL_SPACE, base=CNNConfig(dropout=0.0))
    return make_tuner("random", hypermodel, directory, "search", max_trials=2, seed=1, **tuner_options)


@pytest.fixture(scope="module")
def finished_search(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tuning")
    set_seed(0)
    tuner = small_search(directory)
    table = run_search(tuner, tiny_split(), tiny_split(), epochs=2, verbose=0)
    return directory, tuner, table


def test_two_trial_search_writes_two_trials_and_a_buildable_best_model(finished_search):
    directory, tuner, table = finished_search
    assert sorted(p.name for p in (directory / "search").glob("trial_*")) == ["trial_0", "trial_1"]
    assert len(table) == 2 and set(table["status"]) == {"COMPLETED"}
    assert {"trial_id", "score", "best_step", "filters", "dense_units", "activation"} <= set(table.columns)
    assert table["score"].iloc[0] >= table["score"].iloc[1]  # best first
    config = best_config(tuner)
    assert config.filters in {(4,), (4, 8)} and config.dense_units in {0, 8} and config.dropout == 0.0
    best_row = table.iloc[0]
    assert "-".join(map(str, config.filters)) == best_row["filters"] and config.dense_units == best_row["dense_units"]
    model = build_scratch_cnn(config, 2, (16, 16, 3))
    assert model.predict_on_batch(np.zeros((1, 16, 16, 3), np.float32)).shape == (1, 2)


def test_existing_search_is_never_reused_silently(finished_search):
    directory, _, _ = finished_search
    with pytest.raises(ExistingSearchError, match="resume=True"):
        small_search(directory)
    resumed = small_search(directory, resume=True)
    assert len(resumed.oracle.trials) == 2  # the finished trials are loaded, not rerun
    with pytest.raises(SearchError, match="not both"):
        small_search(directory, resume=True, overwrite=True)


def test_search_project_names_differ_exactly_when_the_search_settings_do():
    name = search_project_name("03_scratch_cnn", kind="bayesian", space={"dropout": [0.0, 0.5]}, trials=10)
    assert name.startswith("03_scratch_cnn-") and len(name) == len("03_scratch_cnn-") + 12
    assert name == search_project_name("03_scratch_cnn", kind="bayesian", space={"dropout": [0.0, 0.5]}, trials=10)
    assert name != search_project_name("03_scratch_cnn", kind="bayesian", space={"dropout": [0.0, 0.5]}, trials=20)
    assert name != search_project_name("03_scratch_cnn", kind="bayesian", space={"dropout": [0.0, 0.3]}, trials=10)


def test_overwrite_starts_a_fresh_search(tmp_path):
    small_search(tmp_path)
    (tmp_path / "search" / "marker.txt").write_text("old search")
    fresh = small_search(tmp_path, overwrite=True)
    assert not (tmp_path / "search" / "marker.txt").exists()
    assert len(fresh.oracle.trials) == 0
    with pytest.raises(SearchFailedError, match="ran no trial"):
        trials_dataframe(fresh)


def test_search_where_every_trial_fails_raises(tmp_path):
    # The model expects 16x16 images but the data has 8x8: every trial fails inside fit.
    tuner = small_search(tmp_path)
    with pytest.raises(SearchFailedError, match="All 2 trials"):
        run_search(tuner, tiny_split(size=8), tiny_split(size=8), epochs=1, verbose=0)
    with pytest.raises(SearchFailedError):
        best_config(tuner)


def test_single_choices_are_fixed_and_filters_round_trip():
    hypermodel = CNNHyperModel(3, (32, 32, 3), SMALL_SPACE)
    hp = kt.HyperParameters()
    hypermodel.build(hp)
    assert isinstance(hp._hps["activation"][0], kt.engine.hyperparameters.Fixed)
    assert hp.get("filters") in {"4", "4-8"}
    config = hypermodel.config_from({"filters": "4-8", "dense_units": 8, "activation": "relu"})
    assert config.filters == (4, 8) and config.dense_units == 8 and config.kernel_size == CNNConfig().kernel_size


@pytest.mark.parametrize(
    "space, message",
    [
        ({"filterz": [(8,)]}, "Unknown search settings"),
        ({"activation": ["relu", "softsign"]}, "invalid"),
        ({"dropout": []}, "no values"),
        ({"loss": ["sparse_categorical_crossentropy", "focal"], "label_smoothing": [0.0, 0.1]}, "cannot work together"),
    ],
)
def test_bad_search_spaces_are_refused(space, message):
    with pytest.raises(SearchError, match=message):
        CNNHyperModel(3, (32, 32, 3), space)


@pytest.mark.parametrize("space", [DEFAULT_SPACE, SCRATCH_SPACE])
def test_bundled_spaces_are_valid(space):
    hypermodel = CNNHyperModel(120, (64, 64, 3), space, base=SCRATCH_CONFIG)
    assert set(hypermodel.space) == set(space)


def test_space_table_lists_every_searched_setting_with_its_values_and_the_recipes():
    table = space_table(SCRATCH_SPACE, SCRATCH_CONFIG).set_index("setting")
    assert list(table.index) == [name.replace("_", " ") for name in SCRATCH_SPACE]
    assert table.loc["filters", "values tried"] == "32-64-128-256, 48-96-192-384, 32-64-128-256-256"
    assert table.loc["filters", "recipe"] == "32-64-128-256" and table.loc["learning rate", "recipe"] == "0.002"
    assert table.loc["dropout", "values tried"] == "0.1, 0.3, 0.5"


def test_trials_follow_the_recipes_fixed_schedule_and_train_every_epoch(tmp_path):
    schedule = TrialSchedule(steps_per_epoch=2, epochs=3, warmup_epochs=1)
    hypermodel = CNNHyperModel(2, (16, 16, 3), SMALL_SPACE, base=CNNConfig(dropout=0.0), schedule=schedule)
    model = hypermodel.build(kt.HyperParameters())
    assert float(model.optimizer.learning_rate) == 0.0  # step 0 of the warm-up (the plain rate would be 1e-3)
    rate = schedule.learning_rate(1e-3)
    assert float(rate(2)) == pytest.approx(1e-3) and float(rate(6)) == pytest.approx(1e-5)
    tuner = make_tuner("random", hypermodel, tmp_path, "fixed", max_trials=1, seed=1)
    table = run_search(tuner, tiny_split(), tiny_split(), epochs=3, patience=None, verbose=0)
    assert table["best_step"].iloc[0] <= 2 and len(table) == 1 and table["status"].iloc[0] == "COMPLETED"


def test_loss_settings_are_checked_together():
    space = {"loss": ["categorical_crossentropy", "focal"], "label_smoothing": [0.0, 0.1]}
    hypermodel = CNNHyperModel(3, (32, 32, 3), space)  # the base loss (sparse) is never combined with 0.1
    assert hypermodel.config_from({"loss": "focal", "label_smoothing": 0.1}).label_smoothing == 0.1


def test_tuner_kinds_and_bad_kind(tmp_path):
    hypermodel = CNNHyperModel(2, (16, 16, 3), SMALL_SPACE)
    hyperband = make_tuner("hyperband", hypermodel, tmp_path, "hb", max_epochs=3, seed=5)
    bayesian = make_tuner("bayesian", hypermodel, tmp_path, "bo", max_trials=3, seed=5)
    assert isinstance(hyperband.oracle, kt.oracles.HyperbandOracle) and hyperband.oracle.seed == 5
    assert isinstance(bayesian.oracle, kt.oracles.BayesianOptimizationOracle) and bayesian.oracle.max_trials == 3
    assert hyperband.oracle.objective.direction == "max"
    with pytest.raises(SearchError, match="hyperband, bayesian, random"):
        make_tuner("grid", hypermodel, tmp_path, "grid")
