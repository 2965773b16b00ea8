"""Transfer workflow: feature sets, heads, flip TTA, ensembles and ImageNet heads (fine-tuning: test_fine_tuning)."""

from __future__ import annotations

import numpy as np
import pytest

from dogbreeds.data.folder import discover
from dogbreeds.data.labels import LabelMap
from dogbreeds.data.splits import split_records
from dogbreeds.models.backbones import build_imagenet_classifier, imagenet_wnids
from dogbreeds.models.transfer import (
    FeatureSet,
    TransferError,
    average_probabilities,
    concat_features,
    imagenet_head_weights,
    imagenet_zero_shot_head,
    predict_with_flip,
    set_softmax_weights,
    split_features,
    stack_features,
    train_head,
)


def clusters(per_class: int = 30, classes: int = 4, dim: int = 16, noise: float = 0.8, seed: int = 0) -> FeatureSet:
    """Gaussian clusters: one centre per class, rows ordered by class."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 2
    labels = np.repeat(np.arange(classes), per_class)
    return FeatureSet(centres[labels] + rng.normal(scale=noise, size=(len(labels), dim)), labels)


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(probabilities.argmax(axis=1) == labels))


# --------------------------------------------------------------------------- feature sets


def test_feature_set_checks_shapes_and_subsets_rows():
    with pytest.raises(TransferError, match="one to one"):
        FeatureSet(np.zeros((3, 2)), [0, 1])
    with pytest.raises(TransferError, match="2-D"):
        FeatureSet(np.zeros(3), [0, 1, 2])
    data = FeatureSet(np.arange(12).reshape(6, 2), [0, 0, 1, 1, 2, 2], seconds=1.5, sources=("a",))
    part = data.subset([5, 0])
    assert part.features.tolist() == [[10, 11], [0, 1]] and part.labels.tolist() == [2, 0]
    assert (part.seconds, part.sources, part.dim, len(part)) == (1.5, ("a",), 2, 2)


def test_concat_joins_columns_of_the_same_images_and_stack_joins_rows():
    a = FeatureSet(np.ones((3, 2)), [0, 1, 2], seconds=1.0, from_cache=True, sources=("a",))
    b = FeatureSet(np.zeros((3, 4)), [0, 1, 2], seconds=2.0, from_cache=False, sources=("b",))
    joined = concat_features([a, b])
    assert joined.features.shape == (3, 6) and joined.features[0].tolist() == [1, 1, 0, 0, 0, 0]
    assert (joined.seconds, joined.from_cache, joined.sources) == (3.0, False, ("a", "b"))
    with pytest.raises(TransferError, match="same images"):
        concat_features([a, FeatureSet(np.ones((3, 2)), [2, 1, 0])])
    stacked = stack_features([a, FeatureSet(np.zeros((2, 2)), [1, 1], sources=("a",))])
    assert stacked.features.shape == (5, 2) and stacked.labels.tolist() == [0, 1, 2, 1, 1]
    assert stacked.sources == ("a",)
    with pytest.raises(TransferError, match="same dimension"):
        stack_features([a, b])


def test_average_probabilities_weights_and_shape_checks():
    p = np.array([[1.0, 0.0], [0.5, 0.5]])
    q = np.array([[0.0, 1.0], [0.1, 0.9]])
    np.testing.assert_allclose(average_probabilities([p, q]), [[0.5, 0.5], [0.3, 0.7]])
    np.testing.assert_allclose(average_probabilities([p, q], weights=[3, 1]), [[0.75, 0.25], [0.4, 0.6]])
    with pytest.raises(TransferError, match="same shape"):
        average_probabilities([p, q[:1]])
    with pytest.raises(TransferError, match="non-negative"):
        average_probabilities([p, q], weights=[1, -1])


# --------------------------------------------------------------------------- heads


def test_logreg_head_learns_clusters_and_keeps_a_column_per_class():
    train, test = clusters(seed=0), clusters(seed=0, per_class=10, noise=0.8)
    head = train_head(train, kind="logreg", num_classes=6, c=1.0)
    probabilities = head.predict_proba(test)
    assert probabilities.shape == (40, 6)
    assert np.all(probabilities[:, 4:] == 0)  # classes never seen in training
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    assert accuracy(probabilities, test.labels) > 0.9
    assert head.kind == "logreg" and head.train_seconds > 0 and head.params["iterations"] >= 1


def test_keras_head_stops_early_on_validation_loss_and_learns():
    train, val = clusters(per_class=40, seed=1), clusters(per_class=10, seed=1)
    head = train_head(
        train, val, kind="keras", epochs=300, patience=3, learning_rate=1e-2, batch_size=32, progress=False
    )
    assert head.params["epochs_run"] < 300 and head.best_epoch <= head.params["epochs_run"]
    assert {"loss", "val_loss", "val_accuracy"} <= set(head.history)
    assert accuracy(head.predict_proba(val), val.labels) > 0.9
    with pytest.raises(TransferError, match="16 features"):
        head.predict_proba(np.zeros((2, 5)))


def test_refit_trains_a_fresh_head_on_train_and_validation_rows_for_the_best_epoch_count():
    train, val = clusters(per_class=20, seed=2), clusters(per_class=5, seed=2)
    settings = dict(kind="keras", epochs=60, patience=3, learning_rate=1e-2, batch_size=16, progress=False)
    plain = train_head(train, val, **settings)
    refit = train_head(train, val, refit_on=val, **settings)
    assert refit.best_epoch == plain.best_epoch and refit.history == plain.history
    assert refit.params["max_epochs"] == plain.best_epoch and refit.params["refit_rows"] == 100
    assert refit.params["early_stopping_epochs_run"] == plain.params["epochs_run"]
    assert refit.train_seconds > plain.train_seconds * 0.5
    assert accuracy(refit.predict_proba(val), val.labels) > 0.9
    with pytest.raises(TransferError, match="refit_on needs val"):
        train_head(train, kind="keras", refit_on=val, progress=False)


def test_train_head_rejects_bad_requests():
    train = clusters()
    with pytest.raises(TransferError, match="Unknown head kind"):
        train_head(train, kind="svm")
    with pytest.raises(TransferError, match="single class"):
        train_head(FeatureSet(np.zeros((4, 2)), [1, 1, 1, 1]), kind="logreg")
    with pytest.raises(TransferError, match=r"0\.\.1"):
        train_head(train, kind="logreg", num_classes=2)
    with pytest.raises(TransferError, match="val has 3"):
        train_head(train, FeatureSet(np.zeros((2, 3)), [0, 1]))


def test_keras_head_starts_from_given_weights():
    train = clusters(classes=3, dim=4)
    kernel, bias = np.eye(4, 3) * 5, np.array([0.0, 1.0, 2.0])
    head = train_head(
        train, kind="keras", epochs=1, learning_rate=1e-9, dropout=0.0, initial_weights=(kernel, bias), progress=False
    )
    start_kernel, start_bias = head.model.get_layer("predictions").get_weights()
    np.testing.assert_allclose(start_kernel, kernel, atol=1e-6)
    np.testing.assert_allclose(start_bias, bias, atol=1e-6)
    with pytest.raises(TransferError, match="shapes"):
        set_softmax_weights(head.model, np.zeros((5, 3)), bias)


def test_flip_tta_is_the_mean_of_both_predictions():
    train = clusters(classes=3)
    head = train_head(train, kind="logreg")
    shifted = FeatureSet(train.features + 1.0, train.labels)
    expected = (head.predict_proba(train) + head.predict_proba(shifted)) / 2
    np.testing.assert_allclose(predict_with_flip(head, train, shifted), expected)
    with pytest.raises(TransferError, match="same images"):
        predict_with_flip(head, train, train.subset([0, 1]))


# --------------------------------------------------------------------------- real backbones


@pytest.fixture(scope="module")
def mobilenet_imagenet_head():
    return build_imagenet_classifier("mobilenet_v2").get_layer("predictions").get_weights()


def test_imagenet_head_weights_are_the_classifier_columns_of_the_breeds(mobilenet_imagenet_head):
    label_map = LabelMap(("n02086240-Shih-Tzu", "n02085620-Chihuahua"))
    kernel, bias = imagenet_head_weights("mobilenet_v2", label_map)
    full_kernel, full_bias = mobilenet_imagenet_head
    columns = [imagenet_wnids().index("n02086240"), imagenet_wnids().index("n02085620")]
    np.testing.assert_array_equal(kernel, full_kernel[:, columns])
    np.testing.assert_array_equal(bias, full_bias[columns])
    with pytest.raises(TransferError, match="WordNet id"):
        imagenet_head_weights("mobilenet_v2", LabelMap(("beagle", "n02085620-Chihuahua")))


def test_split_features_caches_per_split_and_zero_shot_head_knows_real_breeds(sample_dir, tmp_path):
    """MobileNetV2 features of 4 real photos a breed of the bundled sample; the ImageNet head names most breeds."""
    index = discover(sample_dir)
    label_map = LabelMap.from_records(index.records)
    split = split_records(index, val_fraction=0.0)
    chosen = {
        "test": [
            record for label in label_map.label_ids for record in [r for r in split.test if r.label_id == label][:4]
        ]
    }
    first = split_features("mobilenet_v2", chosen, label_map, cache_dir=tmp_path)
    again = split_features("mobilenet_v2", chosen, label_map, cache_dir=tmp_path)
    flipped = split_features("mobilenet_v2", chosen, label_map, cache_dir=tmp_path, flip=True)
    assert set(first) == {"test"} and first["test"].features.shape == (20, 1280)
    assert not first["test"].from_cache and again["test"].from_cache
    np.testing.assert_array_equal(first["test"].features, again["test"].features)
    assert not np.allclose(first["test"].features, flipped["test"].features)
    assert first["test"].sources == ("mobilenet_v2",) and flipped["test"].sources == ("mobilenet_v2+flip",)
    head = imagenet_zero_shot_head("mobilenet_v2", label_map)
    probabilities = predict_with_flip(head, first["test"], flipped["test"])
    assert accuracy(probabilities, first["test"].labels) >= 0.75


def test_split_features_rejects_empty_splits(sample_dir):
    label_map = LabelMap(("n02085620-Chihuahua",))
    with pytest.raises(TransferError, match="empty"):
        split_features("mobilenet_v2", {"train": [], "test": []}, label_map)
