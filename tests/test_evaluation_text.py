"""Tests of dogbreeds.judge.evaluation_text (notebooks 04 and 05's sentences on predictions), on handmade arrays."""

from __future__ import annotations

import numpy as np

from dogbreeds.judge.evaluation import (
    error_gallery,
    most_confused_pairs,
    per_breed_accuracy,
    reliability_table,
)
from dogbreeds.judge.evaluation_text import (
    calibration_markdown,
    confusion_markdown,
    gradcam_markdown,
    per_breed_markdown,
    predictions_markdown,
    worst_breed_markdown,
)

NAMES = ["Chihuahua", "Pug", "Beagle"]


def predictions(predicted: list[int], confidence: float = 0.8) -> np.ndarray:
    """Probabilities whose first choice is ``predicted``, at ``confidence``."""
    probabilities = np.full((len(predicted), len(NAMES)), (1 - confidence) / (len(NAMES) - 1))
    probabilities[np.arange(len(predicted)), predicted] = confidence
    return probabilities


# 4 photos a breed: Chihuahua all right, Pug 3 right and 1 taken for Chihuahua, Beagle 1 right and 3 taken for Pug
LABELS = np.repeat([0, 1, 2], 4)
PROBABILITIES = predictions([0, 0, 0, 0, 1, 1, 1, 0, 2, 1, 1, 1])


def test_confusion_names_the_most_frequent_pair_and_the_mistakes_it_holds():
    pairs = most_confused_pairs(LABELS, PROBABILITIES, NAMES, top_n=10)
    text = confusion_markdown(pairs, 8 / 12, LABELS, PROBABILITIES)
    assert "gets **66.7%** of the test photos" in text
    assert "*Beagle* taken for *Pug*: 3 photos, 75% of that breed's test photos" in text
    assert "The 2 pairs above hold 4 of the 4 mistakes." in text
    assert "The 1 pair above holds 3 of the 4 mistakes." in confusion_markdown(
        pairs.head(1), 8 / 12, LABELS, PROBABILITIES
    )


def test_confusion_without_mistakes():
    perfect = predictions(list(LABELS))
    text = confusion_markdown(most_confused_pairs(LABELS, perfect, NAMES), 1.0, LABELS, perfect)
    assert "**100.0%**" in text and "no mistake" in text


def test_per_breed_gives_the_range_the_median_and_the_weak_breeds():
    text = per_breed_markdown(per_breed_accuracy(LABELS, PROBABILITIES, NAMES))
    assert "from **25%** (*Beagle*, 4 photos) to **100%** (*Chihuahua*)" in text
    assert "the median breed is at 75%, and 1 of 3 breeds is under 70%." in text
    no_photos = per_breed_accuracy(LABELS[:4], PROBABILITIES[:4], NAMES)  # Pug and Beagle have none: skipped
    assert "0 of 1 breed are under 70%" in per_breed_markdown(no_photos)
    assert "No breed has test photos" in per_breed_markdown(no_photos.assign(accuracy=np.nan))


def test_worst_breed_states_its_score_what_it_was_taken_for_and_the_false_positives():
    per_breed = per_breed_accuracy(LABELS, PROBABILITIES, NAMES)
    text = worst_breed_markdown("Beagle", per_breed, error_gallery(LABELS, PROBABILITIES, NAMES, "Beagle"))
    assert text.startswith("*Beagle*, the weakest breed: 1 of 4 test photos right (25%).")
    assert "answered *Pug* most often (3 of 3)" in text and "No photo of another breed was called *Beagle*." in text
    pug = worst_breed_markdown("Pug", per_breed, error_gallery(LABELS, PROBABILITIES, NAMES, "Pug"))
    assert "(1 of 1)" in pug and "3 photos of other breeds called *Pug* are shown" in pug
    chihuahua = worst_breed_markdown("Chihuahua", per_breed, error_gallery(LABELS, PROBABILITIES, NAMES, "Chihuahua"))
    assert "missed" not in chihuahua and "1 photo of other breeds called *Chihuahua* is shown" in chihuahua


def test_calibration_states_the_ece_the_worst_bin_and_the_confident_photos():
    probabilities = np.vstack([predictions([0, 1, 2, 0], 0.95), predictions([0, 0, 0, 0], 0.5)])
    labels = np.array([0, 1, 2, 0, 0, 1, 2, 0])
    text = calibration_markdown(reliability_table(labels, probabilities), 0.123, probabilities)
    assert (
        "(ECE): **0.123**" in text
        and "bin of confidence 0.9-1.0 (4 photos): mean confidence 95%, accuracy 100%" in text
    )
    assert "4 of the 8 test photos get a confidence of 90% or more." in text
    one = predictions([0], 0.95)
    assert "1 of the 1 test photo gets" in calibration_markdown(reliability_table([0], one), 0.05, one)


def test_predictions_count_the_photos_shown_that_are_right():
    assert predictions_markdown(LABELS, PROBABILITIES, [0, 7, 8, 9]) == "2 of these 4 photos get the right breed first."
    assert predictions_markdown(LABELS, PROBABILITIES, [7, 8]) == "1 of these 2 photos gets the right breed first."


def test_gradcam_counts_hits_confidences_and_the_central_heat():
    heat = np.zeros((2, 8, 8))
    heat[0, 2:6, 2:6] = 1.0  # all in the central quarter
    heat[1, 0, 0] = heat[1, 4, 4] = 1.0  # half
    text = gradcam_markdown(["Pug", "Beagle"], ["Pug", "Pug"], [0.91, 0.42], heat)
    assert text.startswith("1 of the 2 photos gets the right breed, with confidences from 42% to 91%.")
    assert "On average 75% of each heat map's weight lies in the central quarter" in text
