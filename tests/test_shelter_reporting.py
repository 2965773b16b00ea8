"""The shelter's figures on the reporting halves, as notebook 05 and the README give them: measure, words, table,
figure; a seeded draw for short runs, and a clear sentence when the folders are missing.
"""

from __future__ import annotations

import json

from conftest import write_pet_folders

from dogbreeds.shelter.reporting import (
    measure_reporting_half,
    missing_folders,
    per_1000_sentence,
    plot_pets_coverage,
    reporting_markdown,
    reporting_table,
)


def test_the_per_1000_sentence_names_the_three_outcomes():
    dogs = {"per_1000": {"labelled": 450, "labelled_wrong": 25, "to_a_person": 546, "not_a_dog": 4}}
    assert per_1000_sentence(dogs) == (
        "Out of 1,000 photos like these, **450 are labelled automatically with 25 mistakes, 546 go to a person**, "
        'and 4 are called "not a dog".'
    )
    dogs["per_1000"]["not_a_dog"] = 0
    assert per_1000_sentence(dogs).endswith("546 go to a person**.")


def test_the_reporting_halves_are_measured_whole_or_by_a_seeded_draw(tmp_path, shelter_model_factory):
    dogs_dir, not_dogs_dir = write_pet_folders(tmp_path)
    model, cache = shelter_model_factory(dog_threshold=0.0), tmp_path / "cache"
    whole = measure_reporting_half(model, dogs_dir, not_dogs_dir, cache_dir=cache)
    dogs, not_dogs = whole["dogs"], whole["not_dogs"]
    assert (dogs["photos"], dogs["unknown_breed_photos"], not_dogs["photos"]) == (8, 2, 4)  # the reporting halves
    assert whole["half"] == {"dogs": 8, "not_dogs": 4} and not whole["sampled"]
    per = dogs["per_1000"]
    assert abs(per["labelled"] + per["to_a_person"] + per["not_a_dog"] - 1000) <= 1
    assert per["labelled"] == round(1000 * dogs["labelled_photos"] / 8)
    assert per["labelled_wrong"] == round(1000 * (dogs["labelled_photos"] - dogs["labelled_right"]) / 8)
    text = reporting_markdown(whole)
    assert text.startswith(per_1000_sentence(dogs)) and "all 8 dog photos and 4 photos of cats" in text
    assert f"**{dogs['top1_known']:.1%}**" in text and "seeded draw" not in text
    table = reporting_table(whole)
    assert table.loc["dog photos measured", "reporting half"] == "8"
    assert table.loc["labelled without a person", "reporting half"] == f"{dogs['labelled']:.1%}"
    figure = plot_pets_coverage({"reporting half": dogs}, "title")
    assert len(figure.axes[0].lines) == 2  # the threshold swept alone, and the model's whole rule

    drawn = measure_reporting_half(model, dogs_dir, not_dogs_dir, sample=3, seed=5, cache_dir=cache)
    assert (drawn["dogs"]["photos"], drawn["not_dogs"]["photos"], drawn["sampled"]) == (3, 3, True)
    again = measure_reporting_half(model, dogs_dir, not_dogs_dir, sample=3, seed=5, cache_dir=cache)
    assert json.dumps(drawn, sort_keys=True) == json.dumps(again, sort_keys=True)  # seeded (NaN written alike)
    assert "a seeded draw of 3 of its 8 dog photos and 3 of its 4 other photos" in reporting_markdown(drawn)
    if not drawn["dogs"]["unknown_breed_photos"]:  # no dog of an unknown breed drawn: said, not "nan%"
        assert reporting_table(drawn).loc['dogs of unknown breeds called "not a dog"', "reporting half"] == "none drawn"


def test_missing_folders_are_said_instead_of_failing(tmp_path, shelter_model_factory):
    dogs_dir, not_dogs_dir = write_pet_folders(tmp_path)
    assert missing_folders(dogs_dir, not_dogs_dir) == []
    gone = tmp_path / "nowhere"
    assert missing_folders(gone, not_dogs_dir) == ["the Oxford-IIIT Pet dog photos"]
    assert missing_folders(dogs_dir, None) == ["the photos of cats and objects"]
    assert measure_reporting_half(shelter_model_factory(), gone, not_dogs_dir) is None
    text = reporting_markdown(None, missing_folders(gone, None))
    assert text.startswith("**Not measured in this run:** the Oxford-IIIT Pet dog photos and the photos of cats")
    assert "README" in text


def test_a_draw_larger_than_the_half_measures_the_whole_half(tmp_path, shelter_model_factory):
    dogs_dir, not_dogs_dir = write_pet_folders(tmp_path)
    model = shelter_model_factory()
    measured = measure_reporting_half(model, dogs_dir, not_dogs_dir, sample=100, cache_dir=tmp_path / "cache")
    assert measured["dogs"]["photos"] == 8 and not measured["sampled"]
