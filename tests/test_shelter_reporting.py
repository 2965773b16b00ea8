"""The shelter's figures on the reporting halves, as notebook 05 and the README give them: measure, words, table,
figure; a seeded draw for short runs, and a clear sentence when the folders are missing.
"""

from __future__ import annotations

import json

from conftest import write_pet_folders

from dogbreeds.shelter.advice import same_recipe_markdown
from dogbreeds.shelter.reporting import (
    measure_reporting_half,
    missing_folders,
    per_1000_sentence,
    plot_pets_coverage,
    reporting_markdown,
    reporting_table,
    shipped_advice_markdown,
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


def test_the_shelter_s_conclusion_quotes_the_shipped_rule_and_the_reporting_half():
    from dogbreeds.shelter.model import ShelterModel

    model = ShelterModel.load()
    dogs = {"per_1000": {"labelled": 450, "labelled_wrong": 25, "to_a_person": 546, "not_a_dog": 4}}
    text = shipped_advice_markdown({"dogs": dogs}, model)
    assert text.startswith("### What the shelter gets") and per_1000_sentence(dogs) in text
    assert f"at least {model.config.confidence_threshold:.0%}" in text
    assert f"first for {model.record()['metrics']['top1']:.1%} of the dogs" in text
    assert "README" in shipped_advice_markdown(None, model) and "Out of 1,000" not in shipped_advice_markdown(
        None, model
    )


def test_the_run_s_model_is_said_to_be_the_shipped_recipe_only_on_the_same_photos():
    shipped = {
        "params": {"recipe": "efficientnet_lite2/keras+tta"},
        "data": {"hash": "abc"},
        "metrics": {"top1": 0.8758, "n": 8580},
    }
    same = same_recipe_markdown("efficientnet_lite2/keras+tta", "abc", 0.8758, shipped)
    assert "same recipe" in same and "top-1 **87.6%** here, 87.6% for the shipped model on its 8,580 test" in same
    for run_name, data_hash in (("efficientnet_lite2/keras+tta", "sample"), ("mobilenet_v2/keras", "abc")):
        assert "is not the shelter's model" in same_recipe_markdown(run_name, data_hash, 0.5, shipped)
    shipped["params"]["shelter_photos"] = {"weight": 4, "folds": 5, "trained_on": "choosing"}
    shipped["metrics"]["top1"] = 0.8716
    adapted = same_recipe_markdown("efficientnet_lite2/keras+tta", "abc", 0.8758, shipped)
    assert "on the same crops; the shelter's model also learnt from the whole photos" in adapted
    assert "top-1 **87.6%** here, 87.2% for the shipped model" in adapted


def test_the_readmes_quote_the_shipped_model_s_records():
    """The README's shelter section and the benchmarks' open with the shipped model's figures from its records."""
    from dogbreeds.core.config import REPO_ROOT
    from dogbreeds.shelter.model import ShelterModel

    model = ShelterModel.load()
    records = [
        json.loads(path.read_text()) for path in sorted((REPO_ROOT / "benchmarks/results").glob("*-oxford.json"))
    ]
    oxford = [r for r in records if r["params"]["thresholds"] == {**r["params"]["thresholds"], **_thresholds(model)}]
    assert oxford, "no `dogbreeds bench oxford` record of the shipped model's thresholds"
    per = oxford[-1]["metrics"]["reporting"]["dogs"]["per_1000"]
    sentence = (
        f"Out of 1,000 photos like these, {per['labelled']} are labelled automatically with {per['labelled_wrong']} "
        f"mistakes, {per['to_a_person']} go to a person"
    )
    top1 = f"{100 * model.record()['metrics']['top1']:.1f} %"
    for readme in ("README.md", "benchmarks/README.md"):
        text = " ".join((REPO_ROOT / readme).read_text(encoding="utf-8").replace("*", "").split())
        assert sentence in text and top1 in text, readme


def _thresholds(model) -> dict:
    names = (
        "confidence_threshold",
        "unknown_breed_threshold",
        "dog_threshold",
        "detector_threshold",
        "maybe_dog_threshold",
    )
    return {name: getattr(model.config, name) for name in names}
