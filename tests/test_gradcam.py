"""Grad-CAM on tiny hand-weighted classifiers whose decision depends on one bright patch."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from dogbreeds.judge.heatmaps import HeatmapError, overlay_heatmap
from dogbreeds.models.gradcam import GradCam, GradCamError, find_feature_layer

SIZE = 12


def patch_image(row: int, col: int, side: int = 4) -> np.ndarray:
    """A dark 12x12 grey image with one bright square patch."""
    image = np.full((SIZE, SIZE, 1), 0.1, dtype=np.float32)
    image[row : row + side, col : col + side] = 0.9
    return image


def detector_backbone() -> keras.Model:
    """Channel 0 fires on bright 2x2 cells, channel 1 on dark ones; output 6x6x2."""
    inputs = keras.Input((SIZE, SIZE, 1))
    features = keras.layers.Conv2D(2, 2, strides=2, name="detector")(inputs)
    features = keras.layers.Activation("relu", name="detector_relu")(features)
    backbone = keras.Model(inputs, features, name="backbone")
    kernel = np.zeros((2, 2, 1, 2), dtype=np.float32)
    kernel[..., 0, 0], kernel[..., 0, 1] = 0.25, -0.25
    backbone.get_layer("detector").set_weights([kernel, np.array([-0.5, 0.5], dtype=np.float32)])
    return backbone


def head_layers() -> list[keras.layers.Layer]:
    return [
        keras.layers.GlobalAveragePooling2D(name="pool"),
        keras.layers.Dense(2, activation="softmax", name="classes"),
    ]


def set_head_weights(model: keras.Model) -> None:
    """Class 1 ("bright patch") logit = 100 * mean(bright) - 10 * mean(dark) + 2; class 0 logit = 0."""
    kernel = np.array([[0.0, 100.0], [0.0, -10.0]], dtype=np.float32)
    model.get_layer("classes").set_weights([kernel, np.array([0.0, 2.0], dtype=np.float32)])


def functional_classifier(nesting: int = 1) -> keras.Model:
    """Input -> backbone (wrapped in `nesting - 1` more models) -> pooling -> softmax."""
    trunk = detector_backbone()
    for level in range(1, nesting):
        inputs = keras.Input((SIZE, SIZE, 1))
        trunk = keras.Model(inputs, trunk(inputs), name=f"wrapper_{level}")
    inputs = keras.Input((SIZE, SIZE, 1))
    outputs = trunk(inputs)
    for layer in head_layers():
        outputs = layer(outputs)
    model = keras.Model(inputs, outputs, name="classifier")
    set_head_weights(model)
    return model


def sequential_classifier() -> keras.Model:
    model = keras.Sequential([keras.Input((SIZE, SIZE, 1)), detector_backbone(), *head_layers()], name="sequential")
    set_head_weights(model)
    return model


@pytest.fixture(scope="module")
def classifier() -> keras.Model:
    return functional_classifier()


def assert_peaks_in_patch(heatmap: np.ndarray, row: int, col: int, side: int = 4) -> None:
    inside = np.zeros(heatmap.shape, dtype=bool)
    inside[row : row + side, col : col + side] = True
    assert heatmap.shape == (SIZE, SIZE)
    assert heatmap.min() >= 0.0 and heatmap.max() == pytest.approx(1.0)
    peak = np.unravel_index(np.argmax(heatmap), heatmap.shape)
    assert inside[peak], f"peak {peak} outside the patch"
    assert heatmap[inside].mean() > 5 * heatmap[~inside].mean()


def test_auto_layer_reaches_into_nested_backbone_past_the_activation(classifier):
    assert find_feature_layer(classifier) == ("backbone", "detector_relu")
    assert GradCam(classifier).layer_name == "backbone/detector_relu"


@pytest.mark.parametrize("row, col", [(2, 6), (8, 0)])
def test_heatmap_peaks_where_the_patch_is(classifier, row, col):
    image = patch_image(row, col)
    result = GradCam(classifier).explain(image[None])
    assert result.class_indices.tolist() == [1]
    assert_peaks_in_patch(result.heatmaps[0], row, col)


def test_heatmap_for_the_other_class_avoids_the_patch(classifier):
    heatmap = GradCam(classifier).heatmap(patch_image(2, 6), class_index=0)
    inside = np.zeros(heatmap.shape, dtype=bool)
    inside[2:6, 6:10] = True
    assert heatmap[3:5, 7:9].max() == 0.0  # the patch's core; its rim is blurred by the upsampling
    assert heatmap[inside].mean() < 0.5 * heatmap[~inside].mean()
    assert heatmap.max() == pytest.approx(1.0)


def test_explain_batches_and_returns_model_probabilities(classifier):
    images = np.stack([patch_image(0, 0), patch_image(8, 8), np.full((SIZE, SIZE, 1), 0.1, np.float32)])
    result = GradCam(classifier).explain(images, batch_size=2)
    np.testing.assert_allclose(result.probabilities, classifier.predict(images, verbose=0), rtol=1e-5, atol=1e-6)
    assert result.class_indices.tolist() == [1, 1, 0]
    assert result.heatmaps.shape == (3, SIZE, SIZE)
    assert_peaks_in_patch(result.heatmaps[1], 8, 8)


@pytest.mark.parametrize("build", [sequential_classifier, lambda: functional_classifier(nesting=2)])
def test_sequential_and_doubly_nested_models(build):
    model = build()
    cam = GradCam(model)
    assert cam.layer_path[-1] == "detector_relu"
    assert len(cam.layer_path) == (2 if isinstance(model, keras.Sequential) else 3)
    assert_peaks_in_patch(cam.heatmap(patch_image(4, 2)), 4, 2)


def test_named_layer_and_path(classifier):
    assert find_feature_layer(classifier, "detector") == ("backbone", "detector")
    assert find_feature_layer(classifier, "backbone/detector") == ("backbone", "detector")
    assert_peaks_in_patch(GradCam(classifier, layer_name="detector").heatmap(patch_image(6, 6)), 6, 6)


def test_weights_are_shared_with_the_classifier():
    model = functional_classifier()
    cam = GradCam(model)
    kernel, bias = model.get_layer("classes").get_weights()
    model.get_layer("classes").set_weights([-kernel, -bias])
    result = cam.explain(patch_image(2, 2)[None])
    np.testing.assert_allclose(result.probabilities, model.predict(patch_image(2, 2)[None], verbose=0), atol=1e-6)
    assert result.class_indices.tolist() == [0]


def test_logit_output_models():
    inputs = keras.Input((SIZE, SIZE, 1))
    features = detector_backbone()(inputs)
    logits = keras.layers.Dense(2, name="classes")(keras.layers.GlobalAveragePooling2D()(features))
    model = keras.Model(inputs, logits)
    set_head_weights(model)
    heatmap = GradCam(model, outputs_probabilities=False).heatmap(patch_image(0, 8), class_index=1)
    assert_peaks_in_patch(heatmap, 0, 8)


def test_real_backbone_architecture_picks_its_final_activation():
    backbone = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None)
    inputs = keras.Input((32, 32, 3))
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(backbone(inputs)))
    cam = GradCam(keras.Model(inputs, outputs))
    assert cam.layer_path == (backbone.name, "out_relu")
    heatmap = cam.heatmap(np.random.default_rng(0).uniform(0, 255, (32, 32, 3)))
    assert heatmap.shape == (32, 32) and 0.0 <= heatmap.min() <= heatmap.max() <= 1.0


def test_clear_errors(classifier):
    with pytest.raises(GradCamError, match="No layer named 'nope'"):
        GradCam(classifier, "nope")
    with pytest.raises(GradCamError, match="feature map"):
        GradCam(classifier, "classes")
    with pytest.raises(GradCamError, match="resize"):
        GradCam(classifier).explain(np.zeros((1, 8, 8, 1)))
    with pytest.raises(GradCamError, match="batch"):
        GradCam(classifier).explain(np.zeros((SIZE, SIZE, 1)))
    with pytest.raises(GradCamError, match=r"0\.\.1"):
        GradCam(classifier).explain(patch_image(0, 0)[None], class_indices=[5])
    dense_only = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    with pytest.raises(GradCamError, match="no convolution layer"):
        GradCam(dense_only)


def test_overlay_blends_colour_map_over_photo():
    photo = np.full((20, 30, 3), 100, dtype=np.uint8)
    heatmap = np.zeros((5, 5), dtype=np.float32)
    heatmap[0, 0] = 1.0
    overlay = overlay_heatmap(photo, heatmap, alpha=0.5)
    assert overlay.shape == (20, 30, 3) and overlay.dtype == np.uint8
    hot, cold = overlay[0, 0], overlay[-1, -1]
    assert hot[0] > hot[2] and cold[2] > cold[0]  # jet: red where hot, blue where cold
    np.testing.assert_array_equal(overlay_heatmap(photo, heatmap, alpha=0.0), photo)
    grey = overlay_heatmap(np.full((5, 5), 7, dtype=np.uint8), heatmap, alpha=0.0)
    assert grey.shape == (5, 5, 3) and np.all(grey == 7)
    with pytest.raises(HeatmapError, match="alpha"):
        overlay_heatmap(photo, heatmap, alpha=2.0)
