"""Fine-tuning on cached activations: the cut and tail of a backbone, the activation cache, training."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import trainable_layer_names

from dogbreeds.data.folder import discover
from dogbreeds.data.labels import LabelMap
from dogbreeds.models.backbones import build_backbone
from dogbreeds.models.backbones.invres import InvertedResidualNetSpec, StageSpec, build_inverted_residual_net
from dogbreeds.models.block_cache import (
    BlockCacheError,
    block_activations,
    block_ids,
    cut_layer,
    front_model,
    tail_model,
)
from dogbreeds.models.features import backbone_features
from dogbreeds.models.fine_tuning import FineTuneSchedule, MirrorBatches, fine_tune_blocks
from dogbreeds.models.transfer import FeatureSet, TransferError, train_head

TINY_NET = InvertedResidualNetSpec(
    stem_channels=8,
    stages=(StageSpec(1, 8, 1, 1), StageSpec(2, 8, 2, 2), StageSpec(2, 16, 1, 1)),
    head_channels=16,
    padding="tf_same",
    batchnorm_epsilon=1e-3,
)


def tiny_backbone(seed: int = 0) -> keras.Model:
    """A 4-block inverted-residual net (32 px), random weights and batch-norm statistics."""
    keras.utils.set_random_seed(seed)
    model = build_inverted_residual_net(TINY_NET, "tiny", include_top=False, pooling="avg", input_shape=(32, 32, 3))
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([gamma, beta, rng.normal(0, 0.5, mean.shape), rng.uniform(0.5, 2, variance.shape)])
    return model


def images(count: int = 12, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (count, 32, 32, 3)).astype(np.float32)


def test_the_tail_on_activations_at_the_cut_gives_the_whole_backbones_output():
    backbone = tiny_backbone()
    assert block_ids(backbone) == [0, 1, 2, 3]
    assert [cut_layer(backbone, blocks) for blocks in (0, 1, 3)] == ["Conv_1", "block_3_expand", "block_1_expand"]
    x = images()
    whole = backbone.predict(x, verbose=0)
    cuts = front_model(backbone, [0, 1, 2, 4]).predict(x, verbose=0)
    for blocks, activations in zip((0, 1, 2, 4), cuts):
        np.testing.assert_allclose(tail_model(backbone, blocks).predict(activations, verbose=0), whole, atol=1e-4)
    assert cuts[0].shape == (12, 8, 8, 16) and cuts[1].shape == (12, 8, 8, 8)
    assert np.abs(whole).max() > 0.1  # not a trivially zero output


def test_cut_layer_refuses_impossible_cuts():
    with pytest.raises(BlockCacheError, match="between 0 and 4"):
        cut_layer(tiny_backbone(), 5)
    inputs = keras.Input((8, 8, 3))
    plain = keras.Model(inputs, keras.layers.Conv2D(2, 3, name="conv")(inputs), name="plain")
    with pytest.raises(BlockCacheError, match="inverted-residual"):
        cut_layer(plain, 1)


def test_mirror_batches_show_each_photo_once_per_epoch_as_itself_or_its_mirror():
    original = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1)
    batches = MirrorBatches(original, -original - 100, np.arange(10), batch_size=4, seed=0)
    assert len(batches) == 3
    for _ in range(2):
        values, labels = (np.concatenate(parts) for parts in zip(*(batches[i] for i in range(len(batches)))))
        assert sorted(labels) == list(range(10))
        shown = values.reshape(-1)
        assert np.all((shown == labels) | (shown == -labels - 100.0))
        batches.on_epoch_end()
    many = MirrorBatches(np.zeros((1000, 1)), np.ones((1000, 1)), np.zeros(1000), batch_size=1000, seed=1)
    assert 400 < many[0][0].sum() < 600
    with pytest.raises(TransferError, match="must match"):
        MirrorBatches(original, original[:5], np.arange(10), batch_size=4, seed=0)


def test_fine_tune_blocks_trains_the_tail_and_keeps_the_best_validation_epoch():
    backbone = tiny_backbone(1)
    x, labels = images(48, seed=1), np.arange(48) % 3
    x[labels == 1, :, :, 0] += 1.5  # a learnable colour cue
    pooled = backbone.predict(x, verbose=0)
    head = train_head(FeatureSet(pooled, labels), kind="keras", num_classes=3, epochs=3, progress=False)
    front = front_model(backbone, [1])
    activations, mirrored = front.predict(x, verbose=0), front.predict(x[:, :, ::-1], verbose=0)
    # Before training, the fine-tuning model is the head on the backbone.
    start = fine_tune_blocks(
        tiny_backbone(1),
        head,
        1,
        (activations, mirrored, labels),
        None,
        schedule=FineTuneSchedule(1e-12, 1, 0),
        progress=False,
    )
    np.testing.assert_allclose(start.predict(activations), head.predict_proba(pooled), atol=1e-4)

    schedule = FineTuneSchedule(learning_rate=1e-2, epochs=4, warmup_epochs=1)
    result = fine_tune_blocks(
        backbone,
        head,
        1,
        (activations[:36], mirrored[:36], labels[:36]),
        (activations[36:], labels[36:]),
        schedule=schedule,
        batch_size=12,
        progress=False,
    )
    assert result.trained_layers == ["block_3_expand", "block_3_depthwise", "block_3_project", "Conv_1"]
    assert set(trainable_layer_names(result.model)) == {*result.trained_layers, "predictions"}
    assert result.fit.epochs_run == 4 and len(result.fit.history["val_loss"]) == 4
    kept = result.fit.best_epoch
    assert kept == int(np.argmin(result.fit.history["val_loss"])) + 1
    # The weights kept are those of the best validation epoch: the validation loss is that epoch's.
    probabilities = result.predict(activations[36:])
    loss = -np.mean(np.log(probabilities[np.arange(12), labels[36:]]))
    assert loss == pytest.approx(result.fit.history["val_loss"][kept - 1], rel=1e-3)
    # The image model and the classifier of cached activations are one model.
    np.testing.assert_allclose(result.model.predict(x, verbose=0), result.predict(activations), atol=1e-4)
    assert "cosine" in schedule.text() and "0.01" in schedule.text()


def test_fine_tune_schedule_and_head_are_checked():
    with pytest.raises(TransferError, match="warmup_epochs"):
        FineTuneSchedule(epochs=2, warmup_epochs=2)
    logreg = train_head(FeatureSet(np.eye(4), np.arange(4) % 2), kind="logreg")
    empty = np.zeros((4, 8, 8, 8), dtype=np.float32)
    with pytest.raises(TransferError, match="keras head"):
        fine_tune_blocks(tiny_backbone(), logreg, 1, (empty, empty, np.arange(4) % 2), None)


def test_block_activations_are_cached_and_the_tail_reproduces_the_cached_features(sample_dir, tmp_path):
    """MobileNetV2 at 32 px on 8 real photos: the activations at two cuts, cached in one pass."""
    index = discover(sample_dir)
    label_map = LabelMap.from_records(index.records)
    records = index.records[:8]
    size = (32, 32)
    first = block_activations("mobilenet_v2", records, label_map, depths=[1, 0], image_size=size, cache_dir=tmp_path)
    again = block_activations("mobilenet_v2", records, label_map, depths=[0, 1], image_size=size, cache_dir=tmp_path)
    flipped = block_activations(
        "mobilenet_v2", records, label_map, depths=[1], image_size=size, flip=True, cache_dir=tmp_path
    )
    assert sorted(first) == [0, 1] and not first[0].from_cache and again[0].from_cache and again[1].from_cache
    assert first[1].values.shape == (8, 1, 1, 160) and first[0].values.shape == (8, 1, 1, 320)
    for blocks in (0, 1):
        np.testing.assert_array_equal(first[blocks].values, again[blocks].values)
        assert list(first[blocks].labels) == [label_map.encode(record.label_id) for record in records]
    assert not flipped[1].from_cache and flipped[1].path != first[1].path
    assert len(list(tmp_path.glob("*.npz"))) == 3

    features = backbone_features("mobilenet_v2", records, label_map, image_size=size, cache_dir=tmp_path)
    backbone = build_backbone("mobilenet_v2", include_top=False, pooling="avg", input_shape=(*size, 3))
    for blocks in (0, 1):
        tail = tail_model(backbone, blocks).predict(first[blocks].values, verbose=0)
        np.testing.assert_allclose(tail, features.features, atol=1e-4)
