"""Timing image operations on the same images, to compare libraries (e.g. Pillow against OpenCV).

    table = compare_libraries({"resize": {"Pillow": pil_fn, "OpenCV": cv_fn}}, images, baseline="Pillow")

Each function is called once per image to warm up, then timed over all images
``repeats`` times with :mod:`timeit`; the best pass is kept (the least disturbed by
other work on the machine) and divided by the number of images.
"""

from __future__ import annotations

import timeit
from collections.abc import Callable, Mapping, Sequence
from time import perf_counter
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from dogbreeds.core.errors import DogbreedsError

TIMING_COLUMNS = ("task", "library", "ms_per_image", "time_ratio")


class TimingError(DogbreedsError, ValueError):
    """A timing was asked for in a way that cannot be measured or compared."""


def seconds_per_image(function: Callable[[Any], Any], images: Sequence[Any], repeats: int = 3) -> float:
    """Best of ``repeats`` timed passes of ``function`` over ``images``, in seconds per image.

    One warm-up pass comes first and is not counted.
    """
    if len(images) == 0:
        raise TimingError("images is empty; give at least one image to time the function on.")
    if repeats < 1:
        raise TimingError(f"repeats must be at least 1, got {repeats}.")

    def one_pass() -> None:
        for image in images:
            function(image)

    one_pass()
    return min(timeit.repeat(one_pass, repeat=repeats, number=1)) / len(images)


def compare_libraries(
    tasks: Mapping[str, Mapping[str, Callable[[Any], Any]]],
    images: Sequence[Any],
    *,
    baseline: str = "Pillow",
    repeats: int = 3,
    progress: bool = True,
) -> pd.DataFrame:
    """Time each task's implementations (library name -> function) on ``images``.

    One row per task and library: milliseconds per image and ``time_ratio``, the time
    divided by the ``baseline`` library's on the same task (below 1: faster than the
    baseline; empty when the task has no baseline implementation).
    """
    if not any(baseline in implementations for implementations in tasks.values()):
        raise TimingError(
            f"no task has a {baseline!r} implementation to compare against; "
            f"libraries given: {sorted({name for impl in tasks.values() for name in impl})}."
        )
    jobs = [
        (task, library, function)
        for task, implementations in tasks.items()
        for library, function in implementations.items()
    ]
    rows = []
    for task, library, function in tqdm(jobs, desc="Timing", unit="step", disable=not progress):
        rows.append(
            {"task": task, "library": library, "ms_per_image": 1000.0 * seconds_per_image(function, images, repeats)}
        )
    table = pd.DataFrame(rows, columns=list(TIMING_COLUMNS[:3]))
    baseline_ms = table[table["library"] == baseline].set_index("task")["ms_per_image"]
    table["time_ratio"] = table["ms_per_image"] / table["task"].map(baseline_ms)
    return table


def alternating_passes(
    runs: Mapping[str, Callable[[], Any]], repeats: int, *, desc: str = "timed passes", progress: bool = True
) -> dict[str, list[float]]:
    """Seconds of each of ``repeats`` passes of every run, the runs taking turns within a pass.

    Alternating spreads any slowdown of the machine over all the runs, so the ratio of
    their best passes is fair (e.g. a pipeline against the model alone).
    """
    if repeats < 1:
        raise TimingError(f"repeats must be at least 1, got {repeats}.")
    passes: dict[str, list[float]] = {name: [] for name in runs}
    for _ in tqdm(range(repeats), desc=desc, unit="pass", disable=not progress):
        for name, run in runs.items():
            start = perf_counter()
            run()
            passes[name].append(perf_counter() - start)
    return passes
