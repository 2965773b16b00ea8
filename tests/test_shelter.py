"""The shelter model: views, decisions, saving and loading, real photos through a real backbone."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from dogbreeds.data.images import load_upright
from dogbreeds.shelter.model import (
    ASK_A_HUMAN,
    LABELLED,
    NOT_A_DOG,
    UNREADABLE,
    ShelterConfig,
    ShelterModel,
    ShelterModelError,
    photo_views,
)
from dogbreeds.shelter.training import dog_threshold_for


def test_views_cover_the_whole_photo_its_centre_and_mirrors():
    pixels = np.zeros((40, 80, 3), dtype=np.uint8)
    pixels[:, :20] = 255  # a white band on the left quarter
    views = photo_views(Image.fromarray(pixels), ["full", "full-flip", "center", "center-flip"], (10, 10))
    assert views.shape == (4, 10, 10, 3) and views.dtype == np.float32
    full, mirrored, centre, centre_mirrored = views
    assert full[:, 0].mean() > 200 and full[:, -1].mean() < 50  # the band is on the left...
    assert np.array_equal(mirrored, full[:, ::-1])  # ...and on the right once mirrored
    assert centre.max() == 0  # the centred square (columns 20-59) leaves the band out
    assert np.array_equal(centre_mirrored, centre[:, ::-1])


def test_decisions_follow_the_thresholds_with_readable_reasons(shelter_model_factory):
    model = shelter_model_factory(confidence_threshold=0.8, dog_threshold=0.3)
    probabilities = np.array([[0.9, 0.05, 0.05], [0.5, 0.3, 0.2], [0.9, 0.05, 0.05]])
    labelled, unsure, cat = model.decide(probabilities, np.array([0.99, 0.99, 0.02]))
    assert (labelled.status, labelled.breed, labelled.confidence) == (LABELLED, "Chihuahua", 0.9)
    assert [breed for breed, _ in labelled.top] == ["Chihuahua", "Shih-Tzu", "dingo"]
    assert unsure.status == ASK_A_HUMAN and "50.0%" in unsure.reason and "80.0%" in unsure.reason
    assert cat.status == NOT_A_DOG and "2.0%" in cat.reason


def test_the_dog_detector_calls_not_a_dog_what_it_takes_for_a_cat_and_travels_with_the_model(
    tmp_path, shelter_model_factory
):
    from dogbreeds.shelter.adapting import train_detector

    rng = np.random.default_rng(0)
    dogs, cats = rng.normal(0, 1, (200, 1280)), rng.normal(0, 1, (60, 1280))
    dogs[:, 5] += 4.0  # the detector must find the one dimension that tells them apart
    kernel, bias = train_detector(dogs, cats, seed=0)
    plain = shelter_model_factory(confidence_threshold=0.8, dog_threshold=0.3)
    model = ShelterModel(plain.kernel, plain.bias, replace(plain.config, detector_threshold=0.5), (kernel, bias))
    features = np.stack([dogs[:2], cats[:2]]).reshape(4, 1280)
    detector = model.detector_probability(features)
    assert (detector[:2] > 0.9).all() and (detector[2:] < 0.1).all()
    probabilities = np.tile([0.9, 0.05, 0.05], (4, 1))
    answers = model.decide(probabilities, np.full(4, 0.99), detector)  # ImageNet sure of a dog each time
    assert [a.status for a in answers] == [LABELLED, LABELLED, NOT_A_DOG, NOT_A_DOG]
    assert "dog detector" in answers[2].reason and model.not_a_dog(np.full(4, 0.99), detector).tolist() == [
        False, False, True, True
    ]  # fmt: skip
    assert np.isnan(plain.detector_probability(features)).all()
    assert [a.status for a in plain.decide(probabilities, np.full(4, 0.99), plain.detector_probability(features))] == [
        LABELLED
    ] * 4  # without a detector the rule never fires
    loaded = ShelterModel.load(model.save(tmp_path / "model"))
    assert np.array_equal(loaded.detector[0], model.detector[0]) and loaded.detector[1] == model.detector[1]
    assert loaded.model_id == model.model_id != plain.model_id
    with pytest.raises(ShelterModelError, match="no dog detector"):
        ShelterModel(plain.kernel, plain.bias, model.config)


def test_dog_classes_include_the_wild_dog_breeds_of_stanford_dogs(shelter_model_factory):
    classes = set(shelter_model_factory().dog_classes.tolist())
    assert set(range(151, 276)) <= classes  # dog breeds, wolves, coyote, dingo, dhole, African hunting dog
    assert 277 not in classes and 281 not in classes  # red fox, tabby cat


def test_dog_threshold_flags_at_most_the_allowed_share():
    dog = np.linspace(0.0, 1.0, 201)  # 201 dog photos, evenly spread
    threshold = dog_threshold_for(dog, flag_rate=0.01, ceiling=0.5)
    assert np.mean(dog < threshold) <= 0.01
    assert dog_threshold_for(np.full(100, 0.99), flag_rate=0.01) == 0.5  # the ceiling


def test_save_and_load_round_trip_and_clear_errors(tmp_path, shelter_model_factory):
    model = shelter_model_factory(temperature=1.7, confidence_threshold=0.6)
    folder = model.save(tmp_path / "model", record={"kind": "shelter"})
    loaded = ShelterModel.load(folder)
    assert loaded.config == model.config and np.array_equal(loaded.kernel, model.kernel)
    assert json.loads((folder / "record.json").read_text()) == {"kind": "shelter"}
    with pytest.raises(ShelterModelError, match="model.json is missing"):
        ShelterModel.load(tmp_path)
    settings = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps(settings | {"format": 99}))
    with pytest.raises(ShelterModelError, match="format 99"):
        ShelterModel.load(folder)
    with pytest.raises(ShelterModelError, match="kernel"):
        ShelterModel(np.zeros((10, 3)), np.zeros(3), model.config)
    with pytest.raises(ShelterModelError, match="views"):
        ShelterConfig("mobilenet_v2", (224, 224), ("n02085620-Chihuahua",), views=("sideways",))


def test_upright_loading_applies_exif_orientation(tmp_path):
    pixels = np.zeros((20, 40, 3), dtype=np.uint8)  # stored landscape
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    path = tmp_path / "phone.jpg"
    Image.fromarray(pixels).save(path, exif=exif)
    assert load_upright(path).size == (20, 40)  # shown portrait


def test_real_photos_through_the_backbone(sample_photos, tmp_path, shelter_model_factory):
    model = shelter_model_factory(views=("full", "full-flip"))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    answers = model.classify_files([*sample_photos[:3], broken])
    assert [answer.status for answer in answers[:3]] != [UNREADABLE] * 3
    assert answers[3].status == UNREADABLE and "not an image" in answers[3].reason
    for answer in answers[:3]:
        assert sum(probability for _, probability in answer.top) <= 1.0 + 1e-6
        assert answer.dog_probability > 0.5  # the sample's photos are dogs to ImageNet
