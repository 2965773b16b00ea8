"""Seeding and the fit loop: early stopping, best weights, LR schedule, checkpoints, timings."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from dogbreeds.models.builders import CNNConfig, build_feature_head, build_scratch_cnn
from dogbreeds.models.training import BEST_INFO_NAME, BEST_WEIGHTS_NAME, TrainingError, cosine_schedule, fit, set_seed


def toy_split(flip_labels: bool = False, seed: int = 0) -> tf.data.Dataset:
    """32 separable 4-d points (label = sign of the first coordinate), optionally with the labels swapped."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(32, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    if flip_labels:
        y = 1 - y
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(8)


def tiny_images() -> tf.data.Dataset:
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 255, (16, 8, 8, 3)).astype(np.float32)
    y = np.arange(16, dtype=np.int32) % 2
    return tf.data.Dataset.from_tensor_slices((x, y)).shuffle(16).batch(4)


def train_tiny_cnn(seed: int) -> list[np.ndarray]:
    set_seed(seed)
    model = build_scratch_cnn(CNNConfig(filters=(4,), dense_units=4, dropout=0.5), 2, (8, 8, 3))
    fit(model, tiny_images(), epochs=2, patience=5, progress=False)
    return model.get_weights()


def test_set_seed_makes_trainings_identical():
    first, second, other = train_tiny_cnn(7), train_tiny_cnn(7), train_tiny_cnn(8)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, c) for a, c in zip(first, other, strict=True))


def test_early_stopping_restores_the_best_epoch_and_reduces_lr(tmp_path):
    # Validation labels are the opposite of the training labels: validation loss is best
    # after the first epoch and gets worse as the model learns.
    set_seed(0)
    model = build_feature_head(4, 2, dropout=0.0, learning_rate=0.05)
    val = toy_split(flip_labels=True)
    result = fit(model, toy_split(), val, epochs=20, patience=3, reduce_lr_patience=1, progress=False)
    assert result.monitor == "val_loss"
    assert result.best_epoch == 1
    assert result.epochs_run == 4 and result.stopped_early
    assert result.best_value == pytest.approx(result.history["val_loss"][0])
    assert model.evaluate(val, verbose=0, return_dict=True)["loss"] == pytest.approx(result.best_value, rel=1e-5)
    assert result.history["learning_rate"][-1] < result.history["learning_rate"][0]
    assert result.timings["epochs_run"] == 4 and result.timings["best_epoch"] == 1
    assert result.timings["wall_time_s"] > 0
    assert result.checkpoint is None


def test_checkpoint_keeps_the_best_weights_on_disk(tmp_path):
    set_seed(0)
    model = build_feature_head(4, 2, dropout=0.0, learning_rate=0.05)
    train, val = toy_split(), toy_split(seed=1)
    result = fit(
        model, train, val, epochs=6, patience=6, monitor="val_accuracy", checkpoint_dir=tmp_path, progress=False
    )
    assert result.checkpoint == tmp_path / BEST_WEIGHTS_NAME
    info = json.loads((tmp_path / BEST_INFO_NAME).read_text())
    assert info == {"epoch": result.best_epoch, "monitor": "val_accuracy", "value": pytest.approx(result.best_value)}
    assert sorted(p.name for p in tmp_path.iterdir()) == [BEST_INFO_NAME, BEST_WEIGHTS_NAME]
    fresh = build_feature_head(4, 2, dropout=0.0)
    fresh.optimizer.build(fresh.trainable_variables)  # the file also holds the optimizer state
    fresh.load_weights(result.checkpoint)
    for a, b in zip(fresh.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert fresh.evaluate(val, verbose=0, return_dict=True)["accuracy"] == pytest.approx(result.best_value)


def test_training_without_validation_monitors_training_loss_and_shows_progress(capsys):
    model = build_feature_head(4, 2, dropout=0.0, learning_rate=0.05)
    result = fit(model, toy_split(), epochs=3, patience=2)
    assert result.monitor == "loss" and result.epochs_run == 3
    assert "3/3" in capsys.readouterr().err  # the tqdm bar over epochs


def test_bad_settings_are_refused():
    model = build_feature_head(4, 2)
    with pytest.raises(TrainingError, match="needs validation data"):
        fit(model, toy_split(), epochs=2, monitor="val_accuracy", progress=False)
    with pytest.raises(TrainingError, match="epochs and patience"):
        fit(model, toy_split(), toy_split(), epochs=0, progress=False)


def test_cosine_schedule_warms_up_then_decays_to_its_floor():
    schedule = cosine_schedule(1e-2, total_steps=100, warmup_steps=10, final_fraction=0.01)
    rates = [float(schedule(step)) for step in (0, 5, 10, 55, 100, 500)]
    assert rates[0] == 0.0 and rates[1] == pytest.approx(5e-3) and rates[2] == pytest.approx(1e-2)
    assert rates[3] == pytest.approx(1e-2 * (0.01 + 0.99 * 0.5), rel=1e-3)  # half-way down the cosine
    assert rates[4] == pytest.approx(1e-4) and rates[5] == pytest.approx(1e-4)
    assert float(cosine_schedule(1e-3, 10)(0)) == pytest.approx(1e-3)  # no warm-up: starts at the peak
    with pytest.raises(TrainingError, match="warmup_steps"):
        cosine_schedule(1e-3, total_steps=10, warmup_steps=10)


def test_fixed_schedule_runs_every_epoch_keeps_the_last_weights_and_logs_the_rate():
    set_seed(0)
    model = build_feature_head(4, 2, dropout=0.0)
    model.compile(
        optimizer=keras.optimizers.Adam(cosine_schedule(0.1, total_steps=4 * 12, warmup_steps=4)),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    # validation labels are the opposite of training's: early stopping would end at epoch 1 or 2
    result = fit(
        model,
        toy_split(),
        toy_split(flip_labels=True),
        epochs=12,
        patience=None,
        monitor="val_accuracy",
        progress=False,
    )
    assert result.epochs_run == 12 and not result.stopped_early
    rates = result.history["learning_rate"]
    assert rates[0] == pytest.approx(0.1) and rates == sorted(rates, reverse=True)
    assert result.history["accuracy"][-1] > 0.9
    # the model keeps the last epoch's weights, not the best validation ones
    _, val_accuracy = model.evaluate(toy_split(flip_labels=True), verbose=0)
    assert val_accuracy == pytest.approx(result.history["val_accuracy"][-1])
    assert val_accuracy < max(result.history["val_accuracy"])
    assert result.best_epoch == int(np.argmax(result.history["val_accuracy"])) + 1
