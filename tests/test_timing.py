"""Tests of dogbreeds.core.timing: per-image timings and ratios against a baseline library."""

from __future__ import annotations

import math
import time

import pytest

from dogbreeds.core.timing import TIMING_COLUMNS, TimingError, compare_libraries, seconds_per_image


def sleeper(seconds: float):
    def work(image: object) -> None:
        time.sleep(seconds)

    return work


def test_seconds_per_image_warms_up_times_every_image_and_keeps_the_best_pass():
    calls = []
    assert seconds_per_image(calls.append, ["a", "b"], repeats=3) < 0.01
    assert calls == ["a", "b"] * 4  # one warm-up pass, then three timed passes
    assert 0.004 <= seconds_per_image(sleeper(0.004), [0, 1, 2], repeats=2) < 0.02


def test_compare_libraries_measures_ratios_against_the_baseline():
    tasks = {
        "resize": {"Pillow": sleeper(0.002), "OpenCV": sleeper(0.010)},
        "denoise": {"OpenCV": sleeper(0.001)},
    }
    table = compare_libraries(tasks, [0, 1, 2, 3], repeats=2, progress=False)
    assert list(table.columns) == list(TIMING_COLUMNS)
    assert list(zip(table["task"], table["library"])) == [
        ("resize", "Pillow"),
        ("resize", "OpenCV"),
        ("denoise", "OpenCV"),
    ]
    rows = table.set_index(["task", "library"])
    assert rows.loc[("resize", "Pillow"), "time_ratio"] == 1.0
    assert 2.5 < rows.loc[("resize", "OpenCV"), "time_ratio"] < 5.5  # 10 ms against 2 ms, plus sleep overshoot
    assert rows.loc[("resize", "OpenCV"), "ms_per_image"] >= 10.0
    assert math.isnan(rows.loc[("denoise", "OpenCV"), "time_ratio"])


def test_bad_requests_are_refused_with_advice():
    with pytest.raises(TimingError, match=r"no task has a 'Pillow' implementation.*\['OpenCV'\]"):
        compare_libraries({"blur": {"OpenCV": sleeper(0)}}, [0], progress=False)
    with pytest.raises(TimingError, match="images is empty"):
        seconds_per_image(sleeper(0), [])
    with pytest.raises(TimingError, match="repeats must be at least 1"):
        seconds_per_image(sleeper(0), [0], repeats=0)


def test_alternating_passes_time_every_run_each_pass():
    from dogbreeds.core.timing import alternating_passes

    order = []
    passes = alternating_passes(
        {"fast": lambda: order.append("fast"), "slow": lambda: (order.append("slow"), __import__("time").sleep(0.01))},
        repeats=3,
        progress=False,
    )
    assert order == ["fast", "slow"] * 3
    assert len(passes["fast"]) == len(passes["slow"]) == 3
    assert min(passes["slow"]) >= 0.01 > min(passes["fast"])
    with pytest.raises(TimingError):
        alternating_passes({"x": lambda: None}, repeats=0)
