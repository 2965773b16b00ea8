"""Tests for dogbreeds.models.backbones: the registry, PyTorch-ported ImageNet weights and Keras weight files."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from pathlib import Path

import keras
import numpy as np
import pytest
import skimage.data
from conftest import SHARED_DATASETS
from PIL import Image

from dogbreeds.core.config import SAMPLE_DATA_DIR
from dogbreeds.models import backbones
from dogbreeds.models.backbones import (
    BACKBONES,
    IMAGENET_CANINE_CLASSES,
    IMAGENET_DOG_CLASSES,
    KerasWeightsFile,
    MissingWeightsError,
    UnknownBackboneError,
    WeightPortError,
    build_backbone,
    build_imagenet_classifier,
    decode_imagenet_predictions,
    get_backbone,
    imagenet_class_names,
    imagenet_wnids,
    preprocess,
    resolve_keras_weights,
)

CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
PORTED = ["mobilenet_v2", "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]


def center_crop(image: Image.Image | np.ndarray, size: int) -> np.ndarray:
    """Standard ImageNet evaluation view: short side to size + 32 (256 for 224), centre crop, float 0..255."""
    image = Image.fromarray(image) if isinstance(image, np.ndarray) else image.convert("RGB")
    scale = (size + 32) / min(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR)
    left, top = (image.width - size) // 2, (image.height - size) // 2
    return np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.float32)


def sample_dog_photos() -> list[Path]:
    """The first photo of each of the 5 bundled breeds."""
    return [sorted(folder.glob("*.jpg"))[0] for folder in sorted((SAMPLE_DATA_DIR / "Images").iterdir())]


@pytest.fixture(scope="module")
def photos() -> tuple[list[Image.Image], list[int]]:
    """Chelsea the cat followed by the 5 sample dogs, with each dog's ImageNet class."""
    paths = sample_dog_photos()
    images = [Image.fromarray(skimage.data.chelsea())] + [Image.open(p).convert("RGB") for p in paths]
    wnids = imagenet_wnids()
    return images, [wnids.index(p.parent.name.split("-")[0]) for p in paths]


def photo_batch(photos: list[Image.Image], name: str) -> np.ndarray:
    """The photos as ``name``'s ImageNet evaluation views, at its input size."""
    return np.stack([center_crop(image, get_backbone(name).input_size) for image in photos])


@functools.cache
def classifier(name: str) -> keras.Model:
    return build_imagenet_classifier(name)


# ----------------------------------------------------------------------------- registry and helpers


def test_registry_lists_every_backbone_with_consistent_specs():
    assert set(BACKBONES) == {*PORTED, "vgg16", "resnet50", "xception", "inception_v3", "efficientnet_b0"}
    assert get_backbone("xception").input_size == 299
    assert get_backbone("resnet50").feature_dim == 2048
    assert [name for name, spec in BACKBONES.items() if spec.offline] == PORTED
    assert [BACKBONES[name].title for name in PORTED] == [
        "MobileNetV2",
        "EfficientNet-Lite0",
        "EfficientNet-Lite1",
        "EfficientNet-Lite2",
    ]
    assert len({spec.title for spec in BACKBONES.values()}) == len(BACKBONES)  # reports tell them apart
    with pytest.raises(UnknownBackboneError, match="Unknown backbone 'resnet9000'.*mobilenet_v2"):
        get_backbone("resnet9000")


def test_imagenet_class_names():
    names = imagenet_class_names()
    assert len(names) == 1000 and len(IMAGENET_DOG_CLASSES) == 118
    assert names[258] == "Samoyed" and names[285] == "Egyptian_cat" and names[151] == "Chihuahua"
    assert imagenet_wnids()[258] == "n02111889"
    probabilities = np.zeros((2, 1000))
    probabilities[0, 258], probabilities[0, 3] = 0.7, 0.3
    probabilities[1, 285] = 1.0
    decoded = decode_imagenet_predictions(probabilities, top=2)
    assert decoded[0] == [(258, "Samoyed", 0.7), (3, "tiger_shark", 0.3)]
    assert decoded[1][0] == (285, "Egyptian_cat", 1.0)
    with pytest.raises(ValueError, match="batch, 1000"):
        decode_imagenet_predictions(np.zeros((2, 10)))


def test_preprocessing_values_and_no_in_place_change():
    images = np.array([[[[0, 127, 255]]]], dtype=np.float32)
    torch_scaled = preprocess("mobilenet_v2", images)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(torch_scaled[0, 0, 0], (np.array([0, 127, 255]) / 255 - mean) / std, rtol=1e-5)
    caffe_bgr = [255 - 103.939, 127 - 116.779, 0 - 123.68]
    np.testing.assert_allclose(preprocess("vgg16", images)[0, 0, 0], caffe_bgr, rtol=1e-5)
    np.testing.assert_allclose(preprocess("efficientnet_lite0", images)[0, 0, 0], [-127 / 128, 0, 1], rtol=1e-6)
    np.testing.assert_array_equal(images, [[[[0, 127, 255]]]])  # the caller's array is untouched
    as_tensor = preprocess("mobilenet_v2", keras.ops.convert_to_tensor(images.astype("uint8")))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(as_tensor), torch_scaled, rtol=1e-6)


# ----------------------------------------------------------------------------- PyTorch-ported backbones


def test_mobilenet_v2_graph_matches_keras_application_and_torch_epsilon():
    ours = build_backbone("mobilenet_v2", include_top=True)
    reference = keras.applications.MobileNetV2(weights=None, classes=1000)

    def weight_shapes(model):
        return {layer.name: [tuple(w.shape) for w in layer.weights] for layer in model.layers if layer.weights}

    assert weight_shapes(ours) == weight_shapes(reference)
    batchnorms = [layer for layer in ours.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(batchnorms) == 52 and {layer.epsilon for layer in batchnorms} == {1e-5}


@pytest.mark.parametrize(
    ("name", "channels", "repeats", "millions"),  # millions: trainable parameters in the EfficientNet-Lite paper
    [
        ("efficientnet_lite0", (16, 24, 40, 80, 112, 192, 320), (1, 2, 2, 3, 3, 4, 1), 4.7),
        ("efficientnet_lite1", (16, 24, 40, 80, 112, 192, 320), (1, 3, 3, 4, 4, 5, 1), 5.4),
        ("efficientnet_lite2", (16, 24, 48, 88, 120, 208, 352), (1, 3, 3, 4, 4, 5, 1), 6.1),
    ],
)
def test_efficientnet_lite_graph(name, channels, repeats, millions):
    spec = get_backbone(name)
    assert [(stage.channels, stage.repeats) for stage in spec.network.stages] == list(zip(channels, repeats))
    model = build_backbone(name, include_top=True)
    state = spec.weights.load()
    assert model.count_params() == sum(v.size for k, v in state.items() if not k.endswith("num_batches_tracked"))
    assert round(sum(int(np.prod(w.shape)) for w in model.trainable_weights) / 1e6, 1) == millions
    depthwise = [layer for layer in model.layers if isinstance(layer, keras.layers.DepthwiseConv2D)]
    kernels = [kernel for kernel, n in zip((3, 3, 5, 3, 5, 5, 3), repeats) for _ in range(n)]
    assert [layer.kernel_size[0] for layer in depthwise] == kernels
    assert {layer.padding for layer in depthwise} == {"same"}
    assert {layer.epsilon for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)} == {1e-3}


@pytest.mark.parametrize(
    ("name", "padding"),
    [
        ("mobilenet_v2", ((1, 1), (1, 1))),  # torch Conv2d(padding=1, stride=2): symmetric
        ("efficientnet_lite0", ((0, 1), (0, 1))),
    ],  # TF 'same' with stride 2 on an even size: bottom/right only
)
def test_stem_padding_matches_the_source_framework(name, padding):
    model = build_backbone(name, pooling=None, input_shape=(8, 8, 3))
    stem = keras.Model(model.input, model.get_layer("Conv1").output)
    image = np.random.default_rng(1).standard_normal((1, 8, 8, 3)).astype(np.float32)
    kernel = model.get_layer("Conv1").get_weights()[0]  # (3, 3, in, out)
    padded = np.pad(image[0], (*padding, (0, 0)))
    expected = np.stack(
        [
            np.stack([np.tensordot(padded[2 * i : 2 * i + 3, 2 * j : 2 * j + 3], kernel, axes=3) for j in range(4)])
            for i in range(4)
        ]
    )
    np.testing.assert_allclose(stem.predict(image, verbose=0)[0], expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", PORTED)
def test_ported_backbone_classifies_real_photos(name, photos):
    images, dog_classes = photos
    probabilities = classifier(name).predict(preprocess(name, photo_batch(images, name)), verbose=0)
    top1 = probabilities.argmax(axis=1)
    top5 = np.argsort(-probabilities, axis=1)[:, :5]
    assert top1[0] in CAT_CLASSES, decode_imagenet_predictions(probabilities[:1])
    # ImageNet's dog breeds are 151-268; the dingo (273) is a wild dog, so its own class counts too.
    assert all(label in IMAGENET_DOG_CLASSES or label == true for label, true in zip(top1[1:], dog_classes)), (
        decode_imagenet_predictions(probabilities[1:])
    )
    assert all(true in best for true, best in zip(dog_classes, top5[1:])), decode_imagenet_predictions(
        probabilities[1:]
    )
    # random weights put about 0.005 there; Lite1/Lite2 are the least sure of the real ones (0.82)
    assert probabilities[0, CAT_CLASSES.start : CAT_CLASSES.stop].sum() > 0.6


@pytest.mark.parametrize("name", PORTED)
def test_headless_backbone_gives_the_classifier_features(name, photos):
    images, _ = photos
    spec = get_backbone(name)
    features = build_backbone(name)
    assert features.output.shape == (None, spec.feature_dim)
    assert not any(layer.name == "predictions" for layer in features.layers)
    full = classifier(name)
    pooled = keras.Model(full.input, full.get_layer("avg_pool").output)
    x = preprocess(name, photo_batch(images[:2], name))
    np.testing.assert_allclose(features.predict(x, verbose=0), pooled.predict(x, verbose=0), rtol=1e-4, atol=1e-5)
    feature_map = build_backbone(name, pooling=None, input_shape=(160, 160, 3))
    assert feature_map.output.shape == (None, 5, 5, spec.feature_dim)
    assert build_backbone(name, pooling="max", input_shape=(96, 128, 3)).output.shape == (None, spec.feature_dim)


@pytest.mark.parametrize("name", PORTED)
def test_torch_name_map_covers_exactly_the_layers_with_weights(name):
    spec = get_backbone(name)
    model = backbones.build_inverted_residual_net(spec.network, name, True, None, (32, 32, 3))
    assert set(spec.torch_names()) == {layer.name for layer in model.layers if layer.weights}


def test_bad_build_arguments_are_refused():
    with pytest.raises(ValueError, match="pooling"):
        build_backbone("mobilenet_v2", pooling="mean")
    with pytest.raises(ValueError, match="include_top=False"):
        build_backbone("mobilenet_v2", include_top=True, input_shape=(160, 160, 3))
    with pytest.raises(ValueError, match="RGB"):
        build_backbone("mobilenet_v2", input_shape=(224, 224, 1))


def test_state_dict_that_does_not_fit_is_refused():
    spec = get_backbone("mobilenet_v2")
    model = backbones.build_inverted_residual_net(spec.network, "m", True, None, (32, 32, 3))
    state = spec.weights.load()
    with pytest.raises(WeightPortError, match="no Keras layer"):
        backbones.load_torch_state_dict(model, state | {"features.99.weight": np.zeros(3)}, spec.torch_names())
    wrong_shape = state | {"classifier.1.weight": np.zeros((10, 1280), np.float32)}
    with pytest.raises(WeightPortError, match="'predictions' expects shapes"):
        backbones.load_torch_state_dict(model, wrong_shape, spec.torch_names())
    missing = {k: v for k, v in state.items() if not k.startswith("features.0.1.")}
    with pytest.raises(WeightPortError, match="lacks 'features.0.1.weight'"):
        backbones.load_torch_state_dict(model, missing, spec.torch_names())


# ----------------------------------------------------------------------------- keras.applications weight files


def test_missing_keras_weights_error_names_file_and_place(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delenv(backbones.ALLOW_DOWNLOAD_ENV, raising=False)
    with pytest.raises(MissingWeightsError) as error:
        build_backbone("resnet50")
    message = str(error.value)
    assert "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert str(tmp_path / "models" / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5") in message
    assert "https://storage.googleapis.com/tensorflow/keras-applications/resnet/" in message
    with pytest.raises(MissingWeightsError, match="vgg16_weights_tf_dim_ordering_tf_kernels.h5"):
        build_imagenet_classifier("vgg16")


@pytest.fixture
def local_server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/served."""
    root = tmp_path / "served"
    root.mkdir()

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    thread.join()


def test_keras_weights_download_is_opt_in_and_checked(tmp_path, monkeypatch, local_server):
    root, url = local_server
    payload = b"pretend weights" * 100
    (root / "w_notop.h5").write_bytes(payload)
    good = KerasWeightsFile(url, "w.h5", "w_notop.h5", "0" * 32, hashlib.md5(payload).hexdigest())
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv(backbones.ALLOW_DOWNLOAD_ENV, raising=False)
    with pytest.raises(MissingWeightsError, match="allow_download=True"):
        resolve_keras_weights(good, include_top=False)
    monkeypatch.setenv(backbones.ALLOW_DOWNLOAD_ENV, "1")
    path = resolve_keras_weights(good, include_top=False)
    assert path == tmp_path / "keras" / "models" / "w_notop.h5" and path.read_bytes() == payload
    (root / "w_notop.h5").unlink()  # now only the cache has it
    assert resolve_keras_weights(good, include_top=False, allow_download=False) == path
    with pytest.raises(MissingWeightsError, match="Could not download 'w.h5'"):
        resolve_keras_weights(good, include_top=True, allow_download=True)  # 404 on the local server
    (root / "bad_notop.h5").write_bytes(b"tampered")
    bad_hash = KerasWeightsFile(url, "bad.h5", "bad_notop.h5", "0" * 32, "0" * 32)
    with pytest.raises(MissingWeightsError, match="Could not download 'bad_notop.h5'"):
        resolve_keras_weights(bad_hash, include_top=False, allow_download=True)


def test_keras_backbone_loads_the_cached_weight_file(tmp_path, monkeypatch):
    keras.utils.set_random_seed(3)
    source = keras.applications.EfficientNetB0(weights=None, include_top=False, input_shape=(64, 64, 3))
    (tmp_path / "models").mkdir()
    source.save(tmp_path / "models" / "efficientnetb0_notop.h5")  # Keras' legacy H5 layout, like the real file
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    model = build_backbone("efficientnet_b0", input_shape=(64, 64, 3), allow_download=False)
    assert model.output.shape == (None, 1280)
    np.testing.assert_array_equal(
        model.get_layer("top_conv").get_weights()[0], source.get_layer("top_conv").get_weights()[0]
    )


def test_keras_weight_constants_match_installed_keras():
    """Our copies of Keras' weight URLs and hashes (Keras keeps them in private modules)."""
    from keras.src.applications import efficientnet, inception_v3, resnet, vgg16, xception

    cases = {  # name: (URL with the ImageNet head, URL without)
        "vgg16": (vgg16.WEIGHTS_PATH, vgg16.WEIGHTS_PATH_NO_TOP),
        "xception": (xception.WEIGHTS_PATH, xception.WEIGHTS_PATH_NO_TOP),
        "inception_v3": (inception_v3.WEIGHTS_PATH, inception_v3.WEIGHTS_PATH_NO_TOP),
        "resnet50": (
            resnet.BASE_WEIGHTS_PATH + "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
            resnet.BASE_WEIGHTS_PATH + "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        ),
        "efficientnet_b0": (
            efficientnet.BASE_WEIGHTS_PATH + "efficientnetb0.h5",
            efficientnet.BASE_WEIGHTS_PATH + "efficientnetb0_notop.h5",
        ),
    }
    for name, (top_url, notop_url) in cases.items():
        weights = get_backbone(name).weights
        assert (weights.url(True), weights.url(False)) == (top_url, notop_url), name
    assert (
        get_backbone("resnet50").weights.top_md5,
        get_backbone("resnet50").weights.notop_md5,
    ) == resnet.WEIGHTS_HASHES["resnet50"]
    assert (
        get_backbone("efficientnet_b0").weights.top_md5,
        get_backbone("efficientnet_b0").weights.notop_md5,
    ) == efficientnet.WEIGHTS_HASHES["b0"]
    for name, module in {"vgg16": vgg16, "xception": xception, "inception_v3": inception_v3}.items():
        source = Path(module.__file__).read_text()
        weights = get_backbone(name).weights
        assert f'file_hash="{weights.top_md5}"' in source and f'file_hash="{weights.notop_md5}"' in source, name


def test_missing_weights_reason_says_which_backbones_can_run(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delenv("DOGBREEDS_ALLOW_DOWNLOAD", raising=False)
    assert all(backbones.missing_weights_reason(name) is None for name in PORTED)
    reason = backbones.missing_weights_reason("resnet50")
    assert reason is not None and "resnet50" in reason.lower() and str(tmp_path) in reason


def test_dog_class_ranges_match_the_real_class_index():
    names = imagenet_class_names()
    assert [names[i] for i in (151, 268)] == ["Chihuahua", "Mexican_hairless"]
    assert [names[i] for i in IMAGENET_CANINE_CLASSES if i not in IMAGENET_DOG_CLASSES] == [
        "timber_wolf",
        "white_wolf",
        "red_wolf",
        "coyote",
        "dingo",
        "dhole",
        "African_hunting_dog",
    ]
    assert names[IMAGENET_CANINE_CLASSES.stop] == "hyena"  # the first class after the canines


@pytest.mark.shared_data
def test_every_stanford_breed_is_a_canine_class_and_three_are_not_domestic_dogs():
    folder = SHARED_DATASETS / "stanford-dogs-crops224" / "Images"
    if not folder.is_dir():
        pytest.skip(f"{folder} is not present on this machine")
    wnids = imagenet_wnids()
    classes = {wnids.index(entry.name.split("-", 1)[0]) for entry in folder.iterdir()}
    assert len(classes) == 120 and classes <= set(IMAGENET_CANINE_CLASSES)
    assert sorted(classes - set(IMAGENET_DOG_CLASSES)) == [273, 274, 275]  # dingo, dhole, African hunting dog


def test_a_backbone_reads_its_own_size_unless_told_otherwise():
    spec = get_backbone("efficientnet_lite2")
    assert spec.image_size() == (260, 260) and spec.image_size(None) == (260, 260)
    assert spec.image_size(96) == (96, 96) and spec.image_size((120, 90)) == (120, 90)
