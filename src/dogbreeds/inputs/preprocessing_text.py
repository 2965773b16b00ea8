"""Notebook 02's findings in words, from the numbers it measures: denoising time, whitening, timings.

Each function returns Markdown for one cell of the notebook:

    Markdown(whitening_fit_markdown(zca, train_photos=len(train_small), val_photos=len(val_small)))
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from dogbreeds.core.words import counted
from dogbreeds.inputs.whitening import CovarianceCheck, Whitener


def denoising_markdown(ms: float, width: int, height: int) -> str:
    """How long non-local means took on one ``width`` x ``height`` photo, and why denoising is left out."""
    return (
        f"Non-local means took **{ms:.0f} ms** on this {width} x {height} photo. Denoising removes detail that "
        "tells breeds apart (fur texture) along with the noise, and these photos have little noise to remove: "
        "it is left out of the pipeline."
    )


def whitening_fit_markdown(whitener: Whitener, train_photos: int, val_photos: int) -> str:
    """What a fitted :class:`Whitener` was fitted on, and what is held out."""
    height, width = whitener.image_size
    return (
        f"Fitted on **{counted(train_photos, 'training photo')}** at {width} x {height} px "
        f"({whitener.dimensions:,} pixel values each), epsilon = {whitener.epsilon:g}; "
        f"{counted(val_photos, 'validation photo')} {'is' if val_photos == 1 else 'are'} held out."
    )


def whitening_check_markdown(
    variances: Sequence[float],
    train: CovarianceCheck,
    val: CovarianceCheck,
    train_photos: int,
    val_photos: int,
) -> str:
    """The covariance checks (:func:`covariance_check`) on training and held-out photos.

    ``variances`` are the variances along the checked directions before whitening, largest first.
    """
    return (
        f"Before whitening, the variance along these {counted(len(variances), 'direction')} ranges from "
        f"{variances[0]:.3g} to {variances[-1]:.3g} (a factor of {variances[0] / variances[-1]:.0f}). After, on "
        f"the training photos: largest covariance between two directions **{train.max_off_diagonal:.1e}** "
        f"(decorrelated), mean variance **{train.mean_variance:.3f}**, and the variances match "
        f"lambda / (lambda + epsilon) to {train.max_expected_error:.1e}. "
        f"On the {counted(val_photos, 'held-out photo')} "
        f"the variances average {val.mean_variance:.2f} and covariances reach {val.max_off_diagonal:.2f}: "
        f"statistics fitted on {counted(train_photos, 'photo')} only partly carry over to new ones (and so few "
        "validation photos give a noisy estimate), one reason to test whitening rather than assume it helps."
    )


def timings_markdown(timings: pd.DataFrame, nl_means_ms: float) -> str:
    """OpenCV against Pillow (the table of :func:`compare_libraries`), and what it means."""
    opencv = timings[(timings["library"] == "OpenCV") & timings["time_ratio"].notna()]
    if opencv.empty:
        return (
            "No task was timed in both libraries. Non-local means "
            f"({nl_means_ms:.0f} ms per photo) would limit training; the other tasks are far cheaper."
        )
    shared_ms = timings.loc[timings["task"].isin(opencv["task"]), "ms_per_image"]
    return (
        f"On the {counted(len(opencv), 'task')} both libraries do, OpenCV took **{opencv['time_ratio'].min():.2f} "
        f"to {opencv['time_ratio'].max():.2f} times** Pillow's time per photo. Either way these tasks cost at most "
        f"{shared_ms.max():.1f} ms per photo, and the training notebooks load each photo once per run (the arrays "
        "and the input pipeline keep decoded, resized photos in memory), so preprocessing speed does not limit "
        f"training here; non-local means ({nl_means_ms:.0f} ms per photo) would."
    )
