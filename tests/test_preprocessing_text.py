"""Tests of dogbreeds.inputs.preprocessing_text (notebook 02's sentences) on handmade numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dogbreeds.inputs.preprocessing_text import (
    denoising_markdown,
    timings_markdown,
    whitening_check_markdown,
    whitening_fit_markdown,
)
from dogbreeds.inputs.whitening import CovarianceCheck, Whitener


def test_denoising_states_the_time_and_the_photo_size():
    text = denoising_markdown(1234.4, width=500, height=375)
    assert text.startswith("Non-local means took **1234 ms** on this 500 x 375 photo.")


def test_whitening_fit_names_the_photos_size_and_epsilon():
    whitener = Whitener("zca", epsilon=0.1, image_size=8)
    text = whitening_fit_markdown(whitener, train_photos=54, val_photos=1)
    assert "**54 training photos** at 8 x 8 px (192 pixel values each), epsilon = 0.1" in text
    assert "1 validation photo is held out" in text
    assert "**1 training photo**" in whitening_fit_markdown(whitener, 1, 2) and "2 validation photos are" in (
        whitening_fit_markdown(whitener, 1, 2)
    )


def test_whitening_check_states_the_variances_before_and_after():
    train = CovarianceCheck(np.diag([0.9, 0.8]) + 1e-7 * (1 - np.eye(2)), np.array([0.9, 0.8]))
    val = CovarianceCheck(np.array([[1.4, 0.3], [0.3, 0.6]]), np.array([0.9, 0.8]))
    text = whitening_check_markdown([2.0, 0.5], train, val, train_photos=54, val_photos=18)
    assert "along these 2 directions ranges from 2 to 0.5 (a factor of 4)" in text
    assert "**1.0e-07** (decorrelated), mean variance **0.850**" in text and "to 0.0e+00" in text
    assert "On the 18 held-out photos the variances average 1.00 and covariances reach 0.30" in text
    assert "fitted on 54 photos" in text


def test_timings_compare_the_libraries_on_shared_tasks():
    timings = pd.DataFrame(
        {
            "task": ["resize", "resize", "equalize", "equalize", "CLAHE"],
            "library": ["Pillow", "OpenCV", "Pillow", "OpenCV", "OpenCV"],
            "ms_per_image": [2.0, 1.0, 4.0, 6.0, 9.0],
            "time_ratio": [1.0, 0.5, 1.0, 1.5, np.nan],
        }
    )
    text = timings_markdown(timings, nl_means_ms=812.3)
    assert "On the 2 tasks both libraries do, OpenCV took **0.50 to 1.50 times**" in text
    assert "at most 6.0 ms per photo" in text and "non-local means (812 ms per photo) would" in text
    alone = timings_markdown(timings[timings["task"] == "CLAHE"], nl_means_ms=812.3)
    assert alone.startswith("No task was timed in both libraries") and "812 ms" in alone
