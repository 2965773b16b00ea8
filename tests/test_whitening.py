"""PCA / ZCA whitening: the numeric properties, the Keras layer and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from dogbreeds.core.config import SAMPLE_DATA_DIR
from dogbreeds.inputs import preprocessing as pp
from dogbreeds.inputs.whitening import MAX_DIMENSIONS, NotFittedError, Whitener, WhiteningError, covariance_check

SIZE = 8  # 8 x 8 x 3 = 192 pixel values per image
TINY_EPSILON = 1e-7  # far below the smallest variance of the synthetic images


@pytest.fixture(scope="module")
def correlated_images() -> np.ndarray:
    """1,500 smooth random 8 x 8 images with correlated colour channels, uint8."""
    rng = np.random.default_rng(0)
    noise = rng.normal(0.0, 1.0, (1500, SIZE, SIZE, 3))
    smooth = gaussian_filter(noise, sigma=(0, 1.2, 1.2, 0))
    smooth /= smooth.std()
    channel_mix = np.array([[1.0, 0.6, 0.3], [0.6, 1.0, 0.6], [0.3, 0.6, 1.0]])
    pixels = 128 + 35 * smooth @ channel_mix + rng.normal(0.0, 2.0, noise.shape)
    return np.clip(pixels, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def fitted(correlated_images: np.ndarray) -> dict[str, Whitener]:
    return {
        method: Whitener(method, TINY_EPSILON, SIZE).fit(correlated_images, progress=False) for method in ("pca", "zca")
    }


def covariance(values: np.ndarray) -> np.ndarray:
    return np.cov(values.reshape(len(values), -1), rowvar=False)


def centred(whitener: Whitener, images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1) / 255.0 - whitener.mean.reshape(-1)


def test_input_pixels_are_strongly_correlated(correlated_images: np.ndarray) -> None:
    correlation = np.corrcoef(correlated_images.reshape(len(correlated_images), -1), rowvar=False)
    assert np.abs(correlation - np.eye(len(correlation))).max() > 0.8


@pytest.mark.parametrize("method", ["pca", "zca"])
def test_whitened_training_data_has_identity_covariance(
    method: str, fitted: dict[str, Whitener], correlated_images: np.ndarray
) -> None:
    whitened = fitted[method].transform(correlated_images)
    assert whitened.dtype == np.float32
    assert whitened.shape == ((1500, 192) if method == "pca" else (1500, SIZE, SIZE, 3))
    assert np.abs(whitened.mean(axis=0)).max() < 1e-4
    assert np.abs(covariance(whitened) - np.eye(192)).max() < 0.01


def test_epsilon_shrinks_each_component_variance_to_its_known_value(correlated_images: np.ndarray) -> None:
    whitener = Whitener("pca", epsilon=0.01, image_size=SIZE).fit(correlated_images, progress=False)
    expected = whitener.eigenvalues / (whitener.eigenvalues + 0.01)
    assert expected.min() < 0.1 and expected.max() > 0.95
    assert np.allclose(covariance(whitener.transform(correlated_images)), np.diag(expected), atol=1e-4)


def test_pca_keeps_the_leading_components_whitened(correlated_images: np.ndarray) -> None:
    whitener = Whitener("pca", TINY_EPSILON, SIZE, n_components=10).fit(correlated_images, progress=False)
    whitened = whitener.transform(correlated_images)
    assert whitened.shape == (1500, 10)
    assert np.abs(covariance(whitened) - np.eye(10)).max() < 0.01
    assert np.all(np.diff(whitener.eigenvalues) <= 0), "largest variance first"


def test_zca_matrix_is_symmetric_and_pca_rows_are_orthogonal(fitted: dict[str, Whitener]) -> None:
    zca = fitted["zca"].whitening_matrix
    assert zca.shape == (192, 192)
    assert np.allclose(zca, zca.T, atol=1e-8 * np.abs(zca).max())
    pca = fitted["pca"].whitening_matrix
    gram = pca @ pca.T
    assert np.allclose(gram, np.diag(np.diag(gram)), atol=1e-6 * gram.max())


def test_zca_stays_closest_to_the_input(fitted: dict[str, Whitener], correlated_images: np.ndarray) -> None:
    """Of all whitening transforms ZCA minimises E||z - x||^2; PCA output is a rotation of it."""
    inputs = centred(fitted["zca"], correlated_images)
    zca = fitted["zca"].transform(correlated_images).reshape(len(inputs), -1)
    pca = fitted["pca"].transform(correlated_images)
    assert np.sum((zca - inputs) ** 2, axis=1).mean() < 0.9 * np.sum((pca - inputs) ** 2, axis=1).mean()

    def mean_correlation(values: np.ndarray) -> float:
        return float(np.mean([np.corrcoef(a, b)[0, 1] for a, b in zip(values, inputs)]))

    assert mean_correlation(zca) > 0.3
    assert abs(mean_correlation(pca)) < 0.05


def test_transform_uses_training_statistics_only(correlated_images: np.ndarray) -> None:
    whitener = Whitener("zca", 0.1, SIZE).fit(correlated_images[:1000], progress=False)
    mean_before = whitener.mean.copy()
    shifted = whitener.transform(np.clip(correlated_images[1000:].astype(int) + 20, 0, 255))
    assert np.array_equal(whitener.mean, mean_before)
    assert shifted.mean() > 0.05, "a brighter test set stays brighter than the training mean"


def test_to_display_rescales_each_image_to_uint8(fitted: dict[str, Whitener], correlated_images: np.ndarray) -> None:
    shown = fitted["zca"].to_display(fitted["zca"].transform(correlated_images[:4]))
    assert shown.shape == (4, SIZE, SIZE, 3) and shown.dtype == np.uint8
    assert np.all(shown.reshape(4, -1).min(axis=1) == 0) and np.all(shown.reshape(4, -1).max(axis=1) == 255)
    with pytest.raises(WhiteningError, match="not images"):
        fitted["pca"].to_display(fitted["pca"].transform(correlated_images[:4]))


def test_keras_layer_matches_transform(fitted: dict[str, Whitener], correlated_images: np.ndarray) -> None:
    for whitener in fitted.values():
        block = whitener.to_keras_layer()
        expected = whitener.transform(correlated_images[:8])
        produced = np.asarray(block(correlated_images[:8].astype(np.float32)))
        assert produced.shape == expected.shape
        assert np.abs(produced - expected).max() < 1e-3 * np.abs(expected).max()
        assert not block.trainable_weights


def test_using_an_unfitted_whitener_says_to_fit(correlated_images: np.ndarray) -> None:
    whitener = Whitener("zca", image_size=SIZE)
    for use in (
        lambda: whitener.transform(correlated_images),
        lambda: whitener.whitening_matrix,
    ):
        with pytest.raises(NotFittedError, match=r"fit\(training_images\)"):
            use()


def test_wrong_shapes_are_refused_with_advice(fitted: dict[str, Whitener], correlated_images: np.ndarray) -> None:
    with pytest.raises(WhiteningError, match=r"\(N, 8, 8, 3\).*cv_resize"):
        fitted["zca"].transform(np.zeros((2, 16, 16, 3), np.uint8))
    with pytest.raises(WhiteningError, match="shape"):
        fitted["zca"].transform(correlated_images[0])
    with pytest.raises(WhiteningError, match="at least 2"):
        Whitener("zca", image_size=SIZE).fit(correlated_images[:1], progress=False)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(WhiteningError, match="memory"):
        Whitener("zca", image_size=224)
    assert Whitener("zca", image_size=64).dimensions == MAX_DIMENSIONS
    with pytest.raises(WhiteningError, match="'zca', 'pca'"):
        Whitener("ica")
    with pytest.raises(WhiteningError, match="epsilon must be > 0"):
        Whitener("zca", epsilon=0.0)
    with pytest.raises(WhiteningError, match="n_components"):
        Whitener("pca", image_size=SIZE, n_components=500)


def test_zca_keeps_the_look_of_real_photos() -> None:
    paths = sorted(SAMPLE_DATA_DIR.glob("Images/*/*.jpg"))
    images = pp.map_images((Image.open(path) for path in paths), lambda x: pp.cv_resize(x, 16, "crop"), progress=False)
    inputs = images.reshape(len(images), -1) / 255.0
    whitener = Whitener("zca", epsilon=0.1, image_size=16).fit(images, progress=False)
    whitened = whitener.transform(images).reshape(len(images), -1)
    correlations = [np.corrcoef(a, b - whitener.mean.reshape(-1))[0, 1] for a, b in zip(whitened, inputs)]
    assert np.median(correlations) > 0.6


def test_with_method_switches_pca_and_zca_without_refitting(
    fitted: dict[str, Whitener], correlated_images: np.ndarray
) -> None:
    switched = fitted["zca"].with_method("pca")
    assert switched.method == "pca" and fitted["zca"].method == "zca"
    assert np.allclose(switched.transform(correlated_images), fitted["pca"].transform(correlated_images), atol=1e-3)
    assert np.allclose(switched.with_method("zca").whitening_matrix, fitted["zca"].whitening_matrix)
    with pytest.raises(NotFittedError):
        Whitener().with_method("pca")


@pytest.mark.parametrize("method", ["pca", "zca"])
def test_covariance_check_on_training_and_held_out_images(method: str, correlated_images: np.ndarray) -> None:
    train, held_out = correlated_images[:1000], correlated_images[1000:1100]
    whitener = Whitener(method, epsilon=0.01, image_size=SIZE).fit(train, progress=False)
    check = covariance_check(whitener, train, components=12)
    assert check.covariance.shape == (12, 12) and check.max_off_diagonal < 1e-5
    assert check.max_expected_error < 1e-5, "diag(lambda / (lambda + epsilon)) on the fitting images"
    assert np.allclose(check.expected_variances, whitener.eigenvalues[:12] / (whitener.eigenvalues[:12] + 0.01))
    assert 0.9 < check.mean_variance < 1.0 and check.max_identity_error == pytest.approx(
        1 - check.expected_variances.min(), abs=1e-5
    )
    unseen = covariance_check(whitener, held_out, components=12)
    assert unseen.max_off_diagonal > 100 * check.max_off_diagonal  # 100 images do not share the fit's statistics
    assert (
        set(check.to_dict())
        == {"components", "max_off_diagonal", "mean_variance", "max_identity_error", "max_expected_error"}
        and check.to_dict()["components"] == 12
    )


def test_covariance_check_refuses_too_few_images_or_components(
    fitted: dict[str, Whitener], correlated_images: np.ndarray
) -> None:
    assert covariance_check(fitted["pca"], correlated_images, components=500).covariance.shape == (192, 192)
    with pytest.raises(WhiteningError, match="at least 2 images"):
        covariance_check(fitted["zca"], correlated_images[:1])
    with pytest.raises(WhiteningError, match="components must be at least 1"):
        covariance_check(fitted["zca"], correlated_images, components=0)
