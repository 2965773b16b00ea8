"""Choosing the shelter's thresholds on photos that are not ImageNet photos, and measuring there.

Threshold choices on tiny handmade arrays; the pipeline (train --choose-on, bench oxford) on
small synthetic folders in the layout of `oxford-pet-dogs` and `not-dogs`.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SHELTER_BREEDS, write_pet_folders

from dogbreeds.data.folder import DataError
from dogbreeds.data.pets import CHOOSING, REPORTING, part_of, read_not_dogs, read_pet_dogs
from dogbreeds.judge.evaluation import coverage_accuracy_curve
from dogbreeds.judge.plots import plot_coverage_accuracy
from dogbreeds.shelter.choosing import (
    choose_dog_temperature,
    choose_label_thresholds,
    choose_maybe_dog_threshold,
    choose_not_a_dog_threshold,
    separation,
    sharpened_dog_probability,
)
from dogbreeds.shelter.model import ASK_A_HUMAN, LABELLED, NOT_A_DOG


def test_not_a_dog_threshold_sits_in_the_gap_and_spares_the_dogs():
    known = np.array([0.3, 0.8, 0.85, 0.9, 0.95, 0.97, 0.99, 0.99, 0.99, 0.99])
    unknown = np.array([0.75, 0.9])
    not_dogs = np.array([0.01, 0.05, 0.1, 0.2, 0.6])
    # one known dog in ten may fall under it: the 0.3 one; the 0.6 not-dog is flagged too, the gap is 0.6..0.75
    assert choose_not_a_dog_threshold(known, unknown, not_dogs, max_known=0.1, max_unknown=0.0) == pytest.approx(0.675)
    # no dog may fall under it: the gap under the lowest dog (0.2..0.3)
    assert choose_not_a_dog_threshold(known, unknown, not_dogs, max_known=0.0, max_unknown=0.0) == pytest.approx(0.25)


def test_label_thresholds_reach_the_goals_and_use_the_unknown_breed_rule_only_when_it_helps():
    # six right known dogs, two wrong ones (confident 0.7), two unknown-breed dogs that are confident but spread
    confidence = np.array([0.99, 0.98, 0.97, 0.96, 0.95, 0.9, 0.7, 0.7, 0.97, 0.96])
    top_three = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.95, 0.95, 0.97, 0.975])
    correct = np.array([1, 1, 1, 1, 1, 1, 0, 0, 0, 0], dtype=bool)
    unknown = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1], dtype=bool)
    chosen = choose_label_thresholds(
        confidence, top_three, correct, unknown, target_accuracy=0.95, max_unknown_wrong=0.0
    )
    assert chosen.reached and chosen.unknown_breed_threshold == 1.0  # the lowest level above both unknown dogs
    assert chosen.confidence_threshold == pytest.approx(0.9) and chosen.coverage == pytest.approx(0.6)
    assert chosen.accuracy == 1.0 and chosen.unknown_labelled_wrong == 0.0
    alone = choose_label_thresholds(
        confidence, top_three, correct, unknown, target_accuracy=0.95, max_unknown_wrong=0.0, use_unknown_rule=False
    )
    assert alone.unknown_breed_threshold == 0.0 and alone.confidence_threshold == pytest.approx(0.98)
    assert alone.coverage == pytest.approx(0.2)
    # a photo another rule holds back (-inf) is never labelled but counts in the coverage
    held = choose_label_thresholds(
        np.r_[confidence, -np.inf],
        np.r_[top_three, 1.0],
        np.r_[correct, True],
        np.r_[unknown, False],
        target_accuracy=0.95,
        max_unknown_wrong=0.0,
    )
    assert held.coverage == pytest.approx(6 / 11)
    unreachable = choose_label_thresholds(
        confidence, top_three, ~correct, unknown, target_accuracy=0.95, max_unknown_wrong=0.0
    )
    assert not unreachable.reached


def test_maybe_dog_threshold_sends_the_dog_like_not_dogs_to_a_person():
    dog = np.array([0.01, 0.1, 0.8, 0.9, 0.95])
    would_label = np.array([True, True, False, True, True])
    threshold = choose_maybe_dog_threshold(dog, would_label, floor=0.5, max_labelled=0.0)
    assert 0.95 < threshold < 0.951  # both labelled-looking ones (0.9, 0.95) go to a person
    assert choose_maybe_dog_threshold(dog, would_label, floor=0.5, max_labelled=0.2) == pytest.approx(
        np.nextafter(0.9, 1)
    )
    assert choose_maybe_dog_threshold(dog, np.zeros(5, dtype=bool), floor=0.5, max_labelled=0.0) == 0.5


def test_sharpening_the_imagenet_probabilities_can_separate_dogs_from_not_dogs():
    classes = np.array([0, 1])  # two "dog" classes out of five
    # a dog: its mass spread over many classes, most on a dog class; a not-dog: a little on each dog class
    dogs = np.array([[[0.30, 0.05, 0.25, 0.2, 0.2]]])
    not_dogs = np.array([[[0.2, 0.2, 0.6, 0.0, 0.0]]])
    plain = sharpened_dog_probability(dogs, classes, 1.0), sharpened_dog_probability(not_dogs, classes, 1.0)
    assert plain[0] == pytest.approx([0.35]) and plain[1] == pytest.approx([0.4]) and separation(*plain) == 0.0
    squared = sharpened_dog_probability(dogs, classes, 0.5), sharpened_dog_probability(not_dogs, classes, 0.5)
    assert squared[0] == pytest.approx([0.0925 / 0.235]) and squared[1] == pytest.approx([0.08 / 0.44])
    chosen, scores = choose_dog_temperature(dogs, not_dogs, classes, candidates=(1.0, 0.5, 0.2))
    assert chosen == 0.5 and scores == {1.0: 0.0, 0.5: 1.0, 0.2: 1.0}  # ties: the mildest
    assert separation(np.array([0.5, 0.9]), np.array([0.5])) == 0.75  # a tie counts half


def test_decisions_say_may_not_be_a_dog_and_may_be_another_breed(shelter_model_factory):
    model = shelter_model_factory(
        confidence_threshold=0.6, dog_threshold=0.3, maybe_dog_threshold=0.8, unknown_breed_threshold=0.99
    )
    probabilities = np.array([[0.995, 0.004, 0.001], [0.995, 0.004, 0.001], [0.7, 0.2, 0.05], [0.9, 0.1, 0.0]])
    sure, doubtful, spread, cat = model.decide(probabilities, np.array([0.95, 0.5, 0.95, 0.1]))
    assert sure.status == LABELLED
    assert (
        doubtful.status == ASK_A_HUMAN and doubtful.reason.startswith("may not be a dog") and "80.0%" in doubtful.reason
    )
    assert spread.status == ASK_A_HUMAN and "not among the 3" in spread.reason and "95.0%" in spread.reason
    assert cat.status == NOT_A_DOG
    # the ImageNet probabilities are sharpened before the dog classes are summed
    imagenet = np.full((1, 1000), 0.6 / 999)
    imagenet[0, 151] = 0.4
    plain, sharp = shelter_model_factory(), shelter_model_factory(dog_temperature=0.5)
    assert plain.dog_probability(imagenet)[0] < 0.5 < sharp.dog_probability(imagenet)[0]
    with pytest.raises(ValueError, match="dog_temperature"):
        shelter_model_factory(dog_temperature=0.0)


def test_the_detector_s_threshold_flags_the_cats_imagenet_takes_for_dogs_and_spares_the_dogs(
    tmp_path, shelter_model_factory
):
    from dogbreeds.data.pets import PetPhoto
    from dogbreeds.shelter.model import ShelterModel
    from dogbreeds.shelter.pets import PetScores, choose_thresholds, not_dog_summary

    plain = shelter_model_factory()
    model = ShelterModel(plain.kernel, plain.bias, plain.config, (np.zeros(1280), 0.0))
    rng = np.random.default_rng(0)

    def imagenet(dog_share: np.ndarray) -> np.ndarray:
        rows = np.full((1, len(dog_share), 1000), 0.0)
        rows[0, :, 151], rows[0, :, 281] = dog_share, 1 - dog_share  # a dog breed, a tabby cat
        return rows

    breeds = [SHELTER_BREEDS[i % 3] for i in range(30)]
    dogs = PetScores(
        [PetPhoto(tmp_path / f"d{i}.jpg", "x", breed, CHOOSING) for i, breed in enumerate(breeds)],
        np.eye(3)[[SHELTER_BREEDS.index(b) for b in breeds]] * 0.97 + 0.01,
        imagenet(np.full(30, 0.99)),
        rng.uniform(0.8, 1.0, 30),
    )
    # five cats the ImageNet classifier takes for dogs (only the detector knows), five it does not
    not_dogs = PetScores(
        [PetPhoto(tmp_path / f"c{i}.jpg", "cat", "", CHOOSING, "cat") for i in range(10)],
        np.full((10, 3), 1 / 3),
        imagenet(np.r_[np.full(5, 0.99), np.full(5, 0.01)]),
        np.r_[rng.uniform(0.0, 0.2, 5), np.full(5, 0.5)],
    )
    chosen, choice = choose_thresholds(model, dogs, not_dogs)
    assert 0.2 < chosen.config.detector_threshold < 0.8 and choice["detector_threshold"] == (
        chosen.config.detector_threshold
    )
    assert not_dog_summary(chosen, not_dogs)["flagged_not_a_dog"] == 1.0
    assert choice["dogs"]["known_not_a_dog"] == 0.0
    _, without = choose_thresholds(plain, dogs, PetScores(not_dogs.photos, not_dogs.probabilities,
                                                          not_dogs.imagenet, np.full(10, np.nan)))  # fmt: skip
    assert without["detector_threshold"] == 0.0 and without["not_dogs"]["flagged_not_a_dog"] == 0.5


def test_coverage_accuracy_curve_counts_the_held_photos_and_draws():
    curve = coverage_accuracy_curve([0.9, 0.8, 0.8, -np.inf], [True, False, True, True])
    assert curve["threshold"].tolist() == [0.9, 0.8]
    assert curve["coverage"].tolist() == [0.25, 0.75] and curve["accuracy"].tolist() == [1.0, 2 / 3]
    figure = plot_coverage_accuracy({"photos": curve}, {"photos": (0.75, 2 / 3)})
    assert len(figure.axes[0].lines) == 2


def test_reading_the_pet_folders_splits_them_once(tmp_path):
    dogs_dir, not_dogs_dir = write_pet_folders(tmp_path)
    dogs = read_pet_dogs(dogs_dir)
    assert len(part_of(dogs, CHOOSING)) == len(part_of(dogs, REPORTING)) == 8
    assert sum(not photo.known_breed for photo in dogs) == 4
    not_dogs = read_not_dogs(not_dogs_dir)
    assert [photo.path for photo in not_dogs] == sorted(photo.path for photo in not_dogs)
    assert {(photo.kind, photo.part) for photo in not_dogs} == {
        (k, p) for k in ("cat", "object") for p in (CHOOSING, REPORTING)
    }
    assert read_not_dogs(not_dogs_dir) == not_dogs  # seeded: the same halves every time
    (dogs_dir / "labels.csv").write_text("path,oxford_breed\nx.jpg,pug\n")
    with pytest.raises(DataError, match="lacks the columns"):
        read_pet_dogs(dogs_dir)


def test_a_pit_bull_called_american_staffordshire_terrier_is_right(tmp_path):
    from dogbreeds.data.pets import PetPhoto

    pit_bull = PetPhoto(tmp_path / "a.jpg", "american_pit_bull_terrier", "", REPORTING)
    assert not pit_bull.known_breed and pit_bull.accepted == "n02093428-American_Staffordshire_terrier"
    assert PetPhoto(tmp_path / "b.jpg", "havanese", "", REPORTING).accepted == ""


def test_training_chooses_on_the_choosing_half_and_the_bench_measures_both(make_dogs_dir, tmp_path):
    from dogbreeds.shelter.pets import measure_on_pets
    from dogbreeds.shelter.training import train_shelter_model

    data = make_dogs_dir({breed: 15 for breed in SHELTER_BREEDS}, size=(64, 48))
    dogs_dir, not_dogs_dir = write_pet_folders(tmp_path)
    cache = tmp_path / "cache"
    trained = train_shelter_model(
        data,
        backbone="mobilenet_v2",
        val_fraction=0.2,
        head_epochs=3,
        cache_dir=cache,
        source="test",
        progress=False,
        choose_on=dogs_dir,
        not_dogs=not_dogs_dir,
    )
    config, params = trained.model.config, trained.record["params"]
    choice = params["choice"]
    assert params["choose_on"] == "oxford-pet-dogs" and params["not_dogs"] == "not-dogs"
    assert choice["dogs"]["photos"] == 8 and choice["not_dogs"]["photos"] == 4  # the choosing halves only
    assert config.dog_temperature == choice["dog_temperature"] and config.dog_threshold == choice["dog_threshold"]
    assert config.dog_threshold <= config.maybe_dog_threshold
    assert config.confidence_threshold == choice["label_thresholds"]["confidence_threshold"]
    assert len(config.provenance["choosing_data_hash"]) == 64
    # the head trained on the crops and the choosing half's known-breed dogs (3 breeds x 2 photos, 2 views, 4x)
    assert params["shelter_photos"] == {"weight": 4, "folds": 5, "trained_on": "choosing"}
    assert trained.record["data"]["counts"]["choosing_dogs_trained_on"] == 6
    metrics = trained.record["metrics"]
    assert 0 <= metrics["crops_only_top1"] <= 1 and metrics["against_crops_only"]["verdict"] in (
        "better",
        "worse",
        "tie",
    )
    assert trained.model.detector is not None and config.detector_threshold == choice["detector_threshold"]
    statuses = trained.record["metrics"]["statuses"]
    assert statuses["photos"] == 15
    assert statuses["labelled"] + statuses["ask_a_human"] + statuses["not_a_dog"] == pytest.approx(1.0)
    record = measure_on_pets(trained.model, dogs_dir, not_dogs_dir, cache_dir=cache, source="test")
    reporting = record["metrics"]["reporting"]
    assert reporting["dogs"]["photos"] == 8 and reporting["dogs"]["unknown_breed_photos"] == 2
    assert reporting["not_dogs"]["photos"] == 4
    assert sum(reporting["dogs"]["unknown_statuses"].values()) == 2
    assert record["data"]["counts"] == {
        "choosing_dogs": 8,
        "choosing_not_dogs": 4,
        "reporting_dogs": 8,
        "reporting_not_dogs": 4,
    }
    with pytest.raises(ValueError, match="together"):
        train_shelter_model(data, backbone="mobilenet_v2", choose_on=dogs_dir, cache_dir=cache, progress=False)


def test_bench_oxford_prints_both_halves_and_writes_a_record_and_a_figure(tmp_path, shelter_model_factory, capsys):
    from dogbreeds.cli.program import main

    dogs_dir, not_dogs_dir = write_pet_folders(tmp_path)
    model_dir = shelter_model_factory(dog_threshold=0.0).save(tmp_path / "model")
    figure, results = tmp_path / "coverage.png", tmp_path / "results"
    code = main(
        ["bench", "oxford", "--data-dir", str(dogs_dir), "--not-dogs", str(not_dogs_dir), "--model", str(model_dir),
         "--results-dir", str(results), "--figure", str(figure)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "| choosing |" in out and "| reporting |" in out and "out of 1,000 photos" in out
    assert figure.stat().st_size > 1000 and len(list(results.glob("*-shelter-oxford.json"))) == 1


def test_the_shipped_model_carries_the_thresholds_chosen_on_the_choosing_halves():
    from dogbreeds.shelter.model import ShelterModel

    model = ShelterModel.load()
    config, record = model.config, model.record()
    choice = record["params"]["choice"]
    assert "--choose-on ../shared/datasets/oxford-pet-dogs" in config.provenance["command"] == record["source"]
    assert (config.dog_temperature, config.dog_threshold, config.maybe_dog_threshold) == (
        choice["dog_temperature"], choice["dog_threshold"], choice["maybe_dog_threshold"]
    )  # fmt: skip
    label = choice["label_thresholds"]
    assert (config.confidence_threshold, config.unknown_breed_threshold) == (
        label["confidence_threshold"], label["unknown_breed_threshold"]
    )  # fmt: skip
    assert label["reached"] and choice["dogs"]["photos"] == 474 and choice["not_dogs"]["photos"] == 157
    assert len(config.provenance["choosing_data_hash"]) == 64
    assert config.dog_threshold <= config.maybe_dog_threshold
