"""Tests of prediction bundles (save, reload in a fresh process, predict) and of `dogbreeds predict`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import write_image, write_voc
from PIL import Image

from dogbreeds.cli.program import main
from dogbreeds.data.boxes import Box
from dogbreeds.data.folder import ImageRecord
from dogbreeds.data.images import ImageLoadError, load_resized
from dogbreeds.data.labels import LabelMap
from dogbreeds.models.backbones import preprocess
from dogbreeds.models.builders import build_feature_head, count_params
from dogbreeds.models.bundle import (
    BackbonePreprocessing,
    BreedScore,
    BundleError,
    BundleMeta,
    PredictionInputError,
    Predictor,
    image_classifier,
    load_bundle,
    save_bundle,
)
from dogbreeds.models.features import feature_extractor

SIZE = (12, 16)  # height, width
LABEL_MAP = LabelMap(("n00000001-red_dog", "n00000002-green_dog", "n00000003-blue_dog"))
RED, GREEN, BLUE = (230, 30, 30), (30, 230, 30), (30, 30, 230)


def colour_model(backbone: str = "efficientnet_lite0", sharpness: float = 4.0) -> keras.Model:
    """A hand-weighted classifier: the breed is the photo's dominant colour channel (red, green, blue).

    Both backbone scalings are increasing per channel, so the dominant channel survives them.
    """
    inputs = keras.Input(shape=(*SIZE, 3), name="image")
    x = BackbonePreprocessing(backbone, name="preprocess")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs)
    model.get_layer("predictions").set_weights([sharpness * np.eye(3, dtype="float32"), np.zeros(3, "float32")])
    return model


def conv_model() -> keras.Model:
    """A small random convolutional classifier (weights that a round trip must keep exactly)."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input(shape=(*SIZE, 3))
    x = BackbonePreprocessing("mobilenet_v2")(inputs)
    x = keras.layers.Conv2D(6, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    meta = BundleMeta(
        image_size=SIZE, backbone="efficientnet_lite0", model_name="colour model", extra={"val_top1": 1.0}
    )
    return save_bundle(colour_model(), LABEL_MAP, meta, tmp_path / "bundle")


@pytest.fixture
def photos(tmp_path: Path) -> dict[str, Path]:
    """A red, a green and a blue photo of another size than the bundle's (width 40, height 30)."""
    return {
        name: write_image(tmp_path / f"{name}.jpg", (40, 30), colour, seed=i)
        for i, (name, colour) in enumerate((("red", RED), ("green", GREEN), ("blue", BLUE)))
    }


@pytest.mark.parametrize("backbone", ["mobilenet_v2", "efficientnet_lite0"])
def test_preprocessing_layer_scales_like_the_backbone_and_serializes(backbone):
    images = np.random.default_rng(0).uniform(0, 255, (2, *SIZE, 3)).astype("float32")
    layer = BackbonePreprocessing(backbone)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(images)), preprocess(backbone, images), atol=1e-6)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, BackbonePreprocessing) and restored.backbone == backbone


def test_unknown_backbone_is_refused_with_the_valid_names():
    with pytest.raises(KeyError, match="mobilenet_v2"):
        BackbonePreprocessing("resnet9000")
    with pytest.raises(KeyError, match="Unknown backbone"):
        BundleMeta(image_size=SIZE, backbone="resnet9000")


def test_image_classifier_gives_the_head_probabilities_straight_from_images():
    size = (32, 32)
    images = np.random.default_rng(2).uniform(0, 255, (4, *size, 3)).astype("float32")
    keras.utils.set_random_seed(5)
    head = build_feature_head(1280, 3, dropout=0.3)
    expected = head.predict_on_batch(np.asarray(feature_extractor("mobilenet_v2", size)(images)))
    model = image_classifier("mobilenet_v2", head, size)
    np.testing.assert_allclose(model.predict_on_batch(images), expected, atol=1e-5)
    assert np.ptp(expected[:, 0]) > 1e-4  # the images are told apart
    assert count_params(model).trainable == 1280 * 3 + 3  # the backbone is frozen
    with pytest.raises(BundleError, match="takes 512 features but mobilenet_v2 gives 1280"):
        image_classifier("mobilenet_v2", build_feature_head(512, 3), size)
    with pytest.raises(BundleError, match="hidden layer"):
        image_classifier("mobilenet_v2", build_feature_head(1280, 3, hidden=8), size)


def test_bundle_files_and_metadata(bundle):
    assert sorted(path.name for path in bundle.iterdir()) == ["label_map.json", "model.keras", "preprocessing.json"]
    meta = json.loads((bundle / "preprocessing.json").read_text())
    assert meta["image_size"] == [12, 16] and meta["backbone"] == "efficientnet_lite0" and meta["crop"] is None
    assert meta["class_names"] == ["red dog", "green dog", "blue dog"]
    assert meta["extra"] == {"val_top1": 1.0} and meta["model_name"] == "colour model"
    assert json.loads((bundle / "label_map.json").read_text())["label_ids"] == list(LABEL_MAP.label_ids)
    assert oct(bundle.stat().st_mode & 0o777) == "0o755"
    assert not [p for p in bundle.parent.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_reload_in_a_fresh_process_gives_the_same_probabilities(tmp_path):
    model = conv_model()
    images = np.random.default_rng(1).uniform(0, 255, (5, *SIZE, 3)).astype("float32")
    expected = model.predict_on_batch(images)
    folder = save_bundle(model, LABEL_MAP, BundleMeta(SIZE, "mobilenet_v2"), tmp_path / "conv")
    np.save(tmp_path / "images.npy", images)
    script = (
        "import sys, numpy as np\n"
        "from dogbreeds.models.bundle import load_bundle\n"
        "predictor = load_bundle(sys.argv[1])\n"
        "np.save(sys.argv[3], predictor.probabilities(np.load(sys.argv[2])))\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(folder), str(tmp_path / "images.npy"), str(tmp_path / "out.npy")],
        check=True,
        capture_output=True,
        timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    reloaded = np.load(tmp_path / "out.npy")
    assert reloaded.shape == (5, 3)
    np.testing.assert_allclose(reloaded, expected, rtol=1e-5, atol=1e-7)
    assert np.ptp(expected[:, 0]) > 0  # the images are told apart: the comparison is not trivially equal


def test_predict_paths_names_the_dominant_colour_with_sorted_probabilities(bundle, photos):
    predictor = load_bundle(bundle)
    results = predictor.predict_paths([photos["red"], photos["green"], photos["blue"]], top_k=2)
    assert [scores[0].breed for scores in results] == ["red dog", "green dog", "blue dog"]
    for scores in results:
        assert len(scores) == 2 and isinstance(scores[0], BreedScore)
        assert 0.9 < scores[0].probability <= 1.0 and scores[0].probability > scores[1].probability
    everything = predictor.predict_paths([photos["red"]], top_k=10)[0]  # capped at the 3 breeds
    assert len(everything) == 3 and sum(score.probability for score in everything) == pytest.approx(1.0, abs=1e-5)


def test_photos_and_arrays_are_predicted_in_batches(bundle, photos, monkeypatch):
    predictor = load_bundle(bundle)
    paths = [photos["red"], photos["green"], photos["blue"]]
    whole = predictor.probabilities(np.stack([predictor.load_photo(path) for path in paths]))
    monkeypatch.setattr("dogbreeds.models.bundle.PREDICT_BATCH_SIZE", 2)
    batched = predictor.predict_paths(paths, top_k=3)
    np.testing.assert_allclose(predictor.photo_probabilities(paths), whole, atol=1e-6)
    for row, scores in zip(whole, batched):
        assert [score.probability for score in scores] == pytest.approx(sorted(row, reverse=True), abs=1e-6)
    np.testing.assert_allclose(
        predictor.probabilities([predictor.load_photo(path) for path in paths]), whole, atol=1e-6
    )
    with pytest.raises(PredictionInputError, match="list of paths is empty"):
        predictor.predict_paths([])


def test_arrays_are_resized_like_photos(bundle, photos):
    predictor = load_bundle(bundle)
    photo = np.asarray(Image.open(photos["blue"]).convert("RGB"))
    assert photo.shape == (30, 40, 3)
    from_array = predictor.probabilities([photo])
    from_file = predictor.probabilities(load_resized(photos["blue"], SIZE)[None])
    np.testing.assert_allclose(from_array, from_file, atol=1e-6)
    assert predictor.predict_arrays([photo], top_k=1) == [[BreedScore("blue dog", pytest.approx(from_file[0, 2]))]]


def test_bad_inputs_raise_clear_errors(bundle, tmp_path):
    predictor = load_bundle(bundle)
    with pytest.raises(PredictionInputError, match=r"expected \(height, width, 3\)"):
        predictor.probabilities([np.zeros((12, 16))])
    with pytest.raises(PredictionInputError, match="empty"):
        predictor.probabilities([])
    with pytest.raises(PredictionInputError, match="top_k"):
        predictor.predict_arrays(np.zeros((1, *SIZE, 3)), top_k=0)
    (tmp_path / "note.jpg").write_text("not a photo")
    with pytest.raises(ImageLoadError, match="not an image"):
        predictor.predict_paths([tmp_path / "note.jpg"])


def test_save_refuses_a_model_that_does_not_fit_its_label_map_or_size(tmp_path):
    with pytest.raises(BundleError, match="outputs 3 classes but the label map has 2"):
        save_bundle(colour_model(), LabelMap(("a", "b")), BundleMeta(SIZE), tmp_path / "b")
    with pytest.raises(BundleError, match="image_size"):
        save_bundle(colour_model(), LABEL_MAP, BundleMeta((32, 32)), tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_saving_again_replaces_the_whole_bundle(bundle):
    new_breeds = LabelMap(("n00000004-x", "n00000005-y", "n00000006-z"))
    save_bundle(conv_model(), new_breeds, BundleMeta(SIZE, "mobilenet_v2"), bundle)
    predictor = load_bundle(bundle)
    assert predictor.class_names == ("x", "y", "z") and predictor.meta.backbone == "mobilenet_v2"
    assert sorted(p.name for p in bundle.parent.iterdir()) == ["bundle"]


def test_load_errors_say_what_is_wrong(bundle, tmp_path):
    with pytest.raises(BundleError, match="No bundle folder"):
        load_bundle(tmp_path / "nowhere")
    (bundle / "label_map.json").unlink()
    with pytest.raises(BundleError, match="label_map.json missing"):
        load_bundle(bundle)
    LABEL_MAP.save(bundle / "label_map.json")
    meta = json.loads((bundle / "preprocessing.json").read_text())
    (bundle / "preprocessing.json").write_text(json.dumps({**meta, "format": 99}))
    with pytest.raises(BundleError, match="format 99"):
        load_bundle(bundle)


def test_a_lambda_model_is_refused_at_load_time(tmp_path):
    inputs = keras.Input(shape=(*SIZE, 3))
    x = keras.layers.Lambda(lambda images: images / 255.0)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(x)))
    folder = save_bundle(model, LABEL_MAP, BundleMeta(SIZE), tmp_path / "lambda")
    with pytest.raises(BundleError, match="BackbonePreprocessing rather than a Lambda"):
        load_bundle(folder)


def test_predictor_checks_its_parts():
    with pytest.raises(BundleError, match="label map"):
        Predictor(colour_model(), LabelMap(("a", "b")), BundleMeta(SIZE))


def test_cli_prints_top_breeds_and_asks_a_human_under_the_threshold(bundle, photos, capsys):
    assert main(["predict", "--model", str(bundle), str(photos["red"]), str(photos["blue"]), "--top-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6
    assert lines[0].startswith(f"{photos['red']}: red dog (") and lines[1].startswith("  1. red dog")
    assert lines[2].startswith("  2. ") and lines[3].startswith(f"{photos['blue']}: blue dog (")
    assert main(["predict", "--model", str(bundle), str(photos["green"]), "--threshold", "1"]) == 0
    assert capsys.readouterr().out.startswith(f"{photos['green']}: ask a human (best guess green dog at ")


def test_cli_json_keeps_photo_order_and_reports_unreadable_photos(bundle, photos, tmp_path, capsys):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    code = main(["predict", "--model", str(bundle), "--json", str(photos["green"]), str(broken), str(photos["red"])])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.count("\n") == 1 and captured.err.startswith(f"dogbreeds: error: {broken}")
    answers = json.loads(captured.out)
    assert [answer["photo"] for answer in answers] == [str(photos["green"]), str(broken), str(photos["red"])]
    assert answers[0]["breed"] == "green dog" and answers[0]["ask_human"] is False and len(answers[0]["top_k"]) == 3
    assert set(answers[1]) == {"photo", "error"} and answers[2]["breed"] == "red dog"
    probabilities = [score["probability"] for score in answers[2]["top_k"]]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) == pytest.approx(1, abs=1e-5)


def test_cli_bundle_and_usage_errors_exit_2(tmp_path, photos, capsys):
    assert main(["predict", "--model", str(tmp_path / "nowhere"), str(photos["red"])]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "No bundle folder" in captured.err
    assert main(["predict", "--model", str(tmp_path), str(photos["red"]), "--threshold", "1.5"]) == 2
    assert "must be between 0 and 1" in capsys.readouterr().err


# ------------------------------------------------------------------ hostile or damaged bundles (bad-input corpus)


def test_a_reordered_label_map_is_refused_not_misnamed(bundle):
    label_map = json.loads((bundle / "label_map.json").read_text())
    for key in ("label_ids", "names"):
        if key in label_map:
            label_map[key] = list(reversed(label_map[key]))
    (bundle / "label_map.json").write_text(json.dumps(label_map))
    with pytest.raises(BundleError, match="different orders"):
        load_bundle(bundle)


def test_a_truncated_model_file_says_so_in_one_line(bundle):
    model_file = bundle / "model.keras"
    model_file.write_bytes(model_file.read_bytes()[:2000])
    with pytest.raises(BundleError, match="not a complete Keras model file") as caught:
        load_bundle(bundle)
    assert "\n" not in str(caught.value) and "Lambda" not in str(caught.value)


def test_a_phone_photo_is_predicted_the_right_way_up(bundle, tmp_path):
    predictor = load_bundle(bundle)
    upright = np.zeros((40, 30, 3), dtype=np.uint8)
    upright[:20] = RED  # the top half is red
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90).save(path, exif=exif, quality=95)
    pixels = predictor.load_photo(path)
    assert pixels.shape == (*SIZE, 3)
    assert pixels[: SIZE[0] // 2, :, 0].mean() > 180 and pixels[SIZE[0] // 2 + 1 :, :, 0].mean() < 80


def test_a_record_is_cropped_to_its_dog_box_when_the_model_was_trained_on_boxes(tmp_path):
    pixels = np.zeros((30, 40, 3), dtype=np.uint8)
    pixels[:, :30], pixels[:, 30:] = RED, BLUE  # a red photo with a blue dog on the right
    path = tmp_path / "n00000003-blue_dog" / "dog.jpg"
    path.parent.mkdir()
    Image.fromarray(pixels).save(path, quality=95)
    record = ImageRecord(
        path, "n00000003-blue_dog", annotation_path=write_voc(tmp_path / "dog", [(31, 0, 40, 30)], size=(40, 30))
    )
    cropped = Predictor(colour_model(), LABEL_MAP, BundleMeta(SIZE, "efficientnet_lite0", crop="first"))
    whole = Predictor(colour_model(), LABEL_MAP, BundleMeta(SIZE, "efficientnet_lite0"))
    assert cropped.predict_paths([path], top_k=1)[0][0].breed == "red dog"  # a file has no box
    assert whole.photo_probabilities([record]).argmax() == 0
    assert cropped.photo_probabilities([record]).argmax() == 2
    np.testing.assert_array_equal(cropped.load_photo(record), load_resized(path, SIZE, Box(31, 0, 40, 30)))
