"""Notebook 02 (preprocessing) on the bundled sample: figures, timings and the whitening covariance check."""

from __future__ import annotations

import pandas as pd
import pytest

from .conftest import load_results, notebook_errors

NOTEBOOK = "02_preprocessing"
FIGURES = (
    "photos",
    "resize_modes",
    "grayscale_autocontrast",
    "autocontrast_histograms",
    "equalization",
    "equalization_histograms",
    "clahe_histograms",
    "denoising",
    "zca_images",
    "zca_histograms",
    "pca_components",
    "whitening_covariance",
    "augmentation",
    "timings",
)
BOTH_LIBRARIES = ("resize (pad)", "resize (crop)", "resize (stretch)", "histogram equalization")


@pytest.fixture(scope="module")
def run_dir(executed):
    return executed(NOTEBOOK)


@pytest.fixture(scope="module")
def record(run_dir) -> dict:
    [record] = load_results(run_dir, NOTEBOOK)
    assert record["kind"] == "preprocessing" and record["run_name"] == "preprocessing"
    return record


@pytest.mark.notebook
def test_notebook_ran_without_errors_and_saved_every_figure(run_dir):
    assert notebook_errors(run_dir, NOTEBOOK) == []
    for name in FIGURES:
        assert (run_dir / "figures" / NOTEBOOK / f"{name}.png").stat().st_size > 5_000, name


@pytest.mark.notebook
def test_whitening_covariance_is_identity_on_training_photos(run_dir, record):
    metrics, params = record["metrics"], record["params"]
    assert params["whitening_fit_photos"] == record["data"]["counts"]["train"] > 10
    assert metrics["whitening_train_components"] == min(32, params["whitening_fit_photos"] - 1)
    assert metrics["whitening_train_max_off_diagonal"] < 1e-5  # decorrelated
    assert metrics["whitening_train_max_expected_error"] < 1e-5  # variances = lambda / (lambda + epsilon)
    assert 0.5 < metrics["whitening_train_mean_variance"] <= 1.0
    assert metrics["whitening_train_max_identity_error"] < 0.5
    # Held-out photos do not share the fit's statistics exactly.
    assert metrics["whitening_val_max_off_diagonal"] > 1000 * metrics["whitening_train_max_off_diagonal"]
    check = pd.read_csv(run_dir / "figures" / NOTEBOOK / "whitening_covariance_check.csv", index_col=0)
    assert check.loc["mean_variance", "ZCA, training photos"] == pytest.approx(metrics["whitening_train_mean_variance"])
    assert check.loc["mean_variance", "PCA, training photos"] == pytest.approx(
        check.loc["mean_variance", "ZCA, training photos"], abs=1e-6
    )


@pytest.mark.notebook
def test_timings_compare_pillow_and_opencv(run_dir, record):
    timings = pd.read_csv(run_dir / "figures" / NOTEBOOK / "timings.csv")
    assert len(timings) == len(record["timings"]) == 13 and (timings["ms_per_image"] > 0).all()
    for row in timings.itertuples():
        assert record["timings"][f"{row.task} / {row.library} (ms per photo)"] == pytest.approx(row.ms_per_image)
    ratios = timings.pivot(index="task", columns="library", values="ms_per_image").loc[list(BOTH_LIBRARIES)]
    opencv_over_pillow = ratios["OpenCV"] / ratios["Pillow"]
    assert record["metrics"]["opencv_over_pillow_min"] == pytest.approx(opencv_over_pillow.min())
    assert record["metrics"]["opencv_over_pillow_max"] == pytest.approx(opencv_over_pillow.max())
    assert set(timings.loc[timings["library"] == "Pillow", "time_ratio"]) == {1.0}
    assert record["metrics"]["nl_means_ms_per_photo"] > timings["ms_per_image"].median()
    assert record["params"]["timing_photos"] == 6  # two photos of each of the run's 3 breeds


@pytest.mark.notebook
def test_record_names_the_ablation_arms_of_notebook_03(record):
    assert {"equalized", "clahe", "no_augmentation", "zca"} <= set(record["params"]["ablation_arms"])
    assert record["data"]["num_classes"] == 3
