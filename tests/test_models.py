"""Scratch CNN, transfer models, feature heads and fine-tuning helpers (tiny models, CPU)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import trainable_layer_names

from dogbreeds.models.builders import (
    ACTIVATIONS,
    CNNConfig,
    build_feature_head,
    build_scratch_cnn,
    build_transfer_model,
    copy_matching_weights,
    count_params,
    find_backbone,
    unfreeze_last,
)
from dogbreeds.models.compiling import LOSSES, OPTIMIZERS, ModelConfigError, OneHotLoss, make_loss
from dogbreeds.models.training import set_seed

TINY = CNNConfig(filters=(4,), dense_units=4, dropout=0.0)


def pattern_images(per_class: int = 5, size: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """4 clearly different classes (red, green, blue, black/white checkerboard) with noise, in 0..255."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    checker = (np.indices((size, size)).sum(axis=0) // 4 % 2)[..., None] * 255.0
    bases = [
        np.broadcast_to([220.0, 30.0, 30.0], (size, size, 3)),
        np.broadcast_to([30.0, 220.0, 30.0], (size, size, 3)),
        np.broadcast_to([30.0, 30.0, 220.0], (size, size, 3)),
        np.broadcast_to(checker, (size, size, 3)),
    ]
    for label, base in enumerate(bases):
        for _ in range(per_class):
            noisy = base + rng.normal(0.0, 20.0, (size, size, 3))
            images.append(np.clip(noisy, 0, 255))
            labels.append(label)
    return np.asarray(images, dtype=np.float32), np.asarray(labels, dtype=np.int32)


def tiny_backbone(pooled: bool = False) -> keras.Model:
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU(name="relu1")(x)
    x = keras.layers.Conv2D(8, 3, name="conv2")(x)
    x = keras.layers.BatchNormalization(name="bn2")(x)
    x = keras.layers.Conv2D(8, 3, name="conv3")(x)
    if pooled:
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, x, name="tiny_backbone")


def one_step_loss(model: keras.Model, size: int = 8, classes: int = 3) -> float:
    """Loss of one training step on random images (run eagerly: tracing costs more than the step)."""
    model.run_eagerly = True
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 255, (6, size, size, 3)).astype(np.float32)
    y = np.arange(6, dtype=np.int32) % classes
    logs = model.train_on_batch(x, y, return_dict=True)
    return float(logs["loss"])


def test_scratch_cnn_overfits_twenty_images():
    set_seed(0)
    images, labels = pattern_images(per_class=5)
    config = CNNConfig(filters=(8, 16), dense_units=32, dropout=0.0, learning_rate=3e-3)
    model = build_scratch_cnn(config, num_classes=4, input_shape=(32, 32, 3))
    model.fit(images, labels, epochs=30, batch_size=10, verbose=0)
    results = model.evaluate(images, labels, verbose=0, return_dict=True)
    assert results["accuracy"] >= 0.95
    assert results["top5_accuracy"] == 1.0  # k = min(5, 4 classes): every label is in the top 4


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_trains_one_step(activation):
    model = build_scratch_cnn(CNNConfig(filters=(4,), dense_units=4, activation=activation), 3, (8, 8, 3))
    assert np.isfinite(one_step_loss(model))
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_trains_one_step(optimizer):
    model = build_scratch_cnn(CNNConfig(filters=(4,), dense_units=4, optimizer=optimizer), 3, (8, 8, 3))
    before = [w.copy() for w in model.get_weights()]
    assert np.isfinite(one_step_loss(model))
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights(), strict=True))


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_trains_one_step(loss):
    smoothing = 0.1 if loss in ("categorical_crossentropy", "focal") else 0.0
    model = build_scratch_cnn(
        CNNConfig(filters=(4,), dense_units=4, loss=loss, label_smoothing=smoothing), 3, (8, 8, 3)
    )
    assert np.isfinite(one_step_loss(model))


def test_smoothed_categorical_loss_matches_hand_computation():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], dtype=np.float32)
    labels = np.array([0, 1], dtype=np.int32)
    smoothing = 0.3
    targets = np.eye(3)[labels] * (1 - smoothing) + smoothing / 3
    expected = float(np.mean(-(targets * np.log(probabilities)).sum(axis=1)))
    loss = make_loss("categorical_crossentropy", label_smoothing=smoothing)
    assert float(loss(labels, probabilities)) == pytest.approx(expected, rel=1e-5)


def test_one_hot_loss_survives_model_save_and_load(tmp_path):
    model = build_scratch_cnn(
        CNNConfig(filters=(4,), dense_units=0, loss="focal", label_smoothing=0.05, focal_gamma=1.5), 3, (8, 8, 3)
    )
    one_step_loss(model)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert isinstance(loaded.loss, OneHotLoss)
    assert loaded.loss.inner.gamma == 1.5
    x = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict_on_batch(x), model.predict_on_batch(x), rtol=1e-6)


def test_flatten_versus_global_average_pooling_parameter_count():
    num_classes, size = 5, 32
    common = dict(filters=(8, 16), dense_units=0)
    gap = build_scratch_cnn(CNNConfig(pooling="gap", **common), num_classes, (size, size, 3))
    flatten = build_scratch_cnn(CNNConfig(pooling="flatten", **common), num_classes, (size, size, 3))
    # Two 2x2 poolings leave an 8x8x16 map: Flatten feeds 8*8*16 values to the output layer, GAP 16.
    assert count_params(flatten).total - count_params(gap).total == (8 * 8 * 16 - 16) * num_classes
    assert count_params(gap).trainable == (3 * 3 * 3 * 8 + 2 * 8) + (3 * 3 * 8 * 16 + 2 * 16) + (16 * 5 + 5)
    assert count_params(gap).non_trainable == 2 * 8 + 2 * 16  # batch norm moving mean and variance


def test_scratch_cnn_layers_follow_the_config():
    model = build_scratch_cnn(
        CNNConfig(filters=(4, 8, 8), batch_norm=False, dropout=0.0, dense_units=0, kernel_size=5), 3, (16, 16, 3)
    )
    names = [layer.name for layer in model.layers]
    assert names[1] == "rescale" and model.get_layer("rescale").scale == pytest.approx(1 / 255)
    assert [n for n in names if n.endswith("_conv")] == ["block1_conv", "block2_conv", "block3_conv"]
    assert not any("bn" in n or "dropout" in n or "hidden" in n for n in names)
    assert model.get_layer("block1_conv").use_bias and model.get_layer("block1_conv").kernel_size == (5, 5)


def test_copy_matching_weights_keeps_the_new_classifier():
    config = CNNConfig(filters=(4, 8), dense_units=6)
    set_seed(1)
    source = build_scratch_cnn(config, 5, (16, 16, 3))
    target = build_scratch_cnn(config, 3, (16, 16, 3))
    fresh_classifier = target.get_layer("predictions").get_weights()
    copied = copy_matching_weights(source, target)
    assert copied == ["block1_conv", "block1_bn", "block2_conv", "block2_bn", "hidden"]
    for name in copied:
        for mine, theirs in zip(target.get_layer(name).get_weights(), source.get_layer(name).get_weights()):
            np.testing.assert_array_equal(mine, theirs)
    for mine, fresh in zip(target.get_layer("predictions").get_weights(), fresh_classifier):
        np.testing.assert_array_equal(mine, fresh)
    wider = build_scratch_cnn(CNNConfig(filters=(4, 16), dense_units=6), 3, (16, 16, 3))
    with pytest.raises(ModelConfigError, match="block2_conv"):
        copy_matching_weights(source, wider)


def test_augmentation_runs_on_raw_pixels_before_rescaling():
    flip = keras.layers.RandomFlip("horizontal", seed=0)
    model = build_scratch_cnn(TINY, 3, (8, 8, 3), augmentation=flip)
    assert model.layers[1] is flip and model.layers[2].name == "rescale"


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(activation="softsign"), "activation"),
        (dict(optimizer="lbfgs"), "optimizer"),
        (dict(loss="hinge"), "loss"),
        (dict(pooling="max"), "pooling"),
        (dict(dropout=1.0), "dropout"),
        (dict(filters=()), "filters"),
        (dict(label_smoothing=0.1), "categorical_crossentropy"),
    ],
)
def test_config_rejects_bad_settings(settings, message):
    with pytest.raises(ModelConfigError, match=message):
        CNNConfig(**settings)


def test_config_dict_round_trip_and_unknown_keys():
    config = CNNConfig(filters=[16, 32], activation="elu", loss="focal", label_smoothing=0.1)
    assert config.filters == (16, 32)
    assert CNNConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ModelConfigError, match="Unknown CNNConfig settings"):
        CNNConfig.from_dict({"filterz": [8]})


def test_too_many_blocks_for_the_image_size_is_refused():
    with pytest.raises(ModelConfigError, match="fewer blocks"):
        build_scratch_cnn(CNNConfig(filters=(4, 4, 4, 4)), 3, (8, 8, 3))


def test_transfer_model_freezes_backbone_and_adds_pooling():
    backbone = tiny_backbone()
    model = build_transfer_model(backbone, num_classes=3, dropout=0.2, preprocess=lambda x: x / 127.5 - 1.0)
    assert [layer.name for layer in model.layers] == [
        "image",
        "preprocess",
        "tiny_backbone",
        "gap",
        "dropout",
        "predictions",
    ]
    params = count_params(model)
    assert params.trainable == 8 * 3 + 3
    assert params.non_trainable == count_params(backbone).total
    assert np.isfinite(one_step_loss(model, size=16))


def test_transfer_model_on_pooled_backbone_needs_no_extra_pooling():
    model = build_transfer_model(tiny_backbone(pooled=True), num_classes=3, dropout=0.0)
    assert [layer.name for layer in model.layers] == ["image", "tiny_backbone", "predictions"]


def test_unfreeze_last_trains_n_layers_and_keeps_batch_norm_in_inference_mode():
    model = build_transfer_model(tiny_backbone(), num_classes=3, learning_rate=1e-3)
    model = unfreeze_last(model, 2, learning_rate=1e-2)
    backbone = find_backbone(model)
    assert trainable_layer_names(backbone) == ["conv2", "conv3"]
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-2)
    before = {name: [w.copy() for w in backbone.get_layer(name).get_weights()] for name in ("conv1", "conv3", "bn2")}
    one_step_loss(model, size=16)
    after = {name: backbone.get_layer(name).get_weights() for name in before}
    np.testing.assert_array_equal(after["conv1"][0], before["conv1"][0])
    assert not np.allclose(after["conv3"][0], before["conv3"][0])
    for old, new in zip(before["bn2"], after["bn2"], strict=True):  # gamma, beta, moving mean, moving variance
        np.testing.assert_array_equal(new, old)


def test_unfreeze_last_counts_only_weight_layers_and_checks_range():
    model = build_transfer_model(tiny_backbone(), num_classes=3)
    assert trainable_layer_names(find_backbone(unfreeze_last(model, 3))) == ["conv1", "conv2", "conv3"]
    assert trainable_layer_names(find_backbone(unfreeze_last(model, 0))) == []
    with pytest.raises(ModelConfigError, match="between 0 and 3"):
        unfreeze_last(model, 4)


def test_feature_head_shapes_and_hidden_layer():
    head = build_feature_head(feature_dim=10, num_classes=4, dropout=0.1, hidden=6)
    assert head.output_shape == (None, 4)
    assert count_params(head).total == (10 * 6 + 6) + (6 * 4 + 4)
    plain = build_feature_head(feature_dim=10, num_classes=4, dropout=0.0)
    assert count_params(plain).total == 10 * 4 + 4
