"""PCA and ZCA whitening of small whole images, fitted on training images only.

Whitening decorrelates the pixels and gives them unit variance: with ``X`` the
centred training images (one row per image, pixels scaled to [0, 1]) and
``C = U diag(lambda) U^T`` their pixel covariance,

- PCA whitening maps an image ``x`` to ``diag(1 / sqrt(lambda + epsilon)) U^T (x - mean)``:
  coordinates along the principal components, no longer an image;
- ZCA whitening rotates those back, ``U diag(1 / sqrt(lambda + epsilon)) U^T (x - mean)``:
  of all whitening transforms it stays closest to the input, so the result
  still looks like the image (edges enhanced, flat areas grey) and can feed a CNN.

``epsilon`` damps the directions whose variance is below it (mostly noise and
the finest detail) instead of amplifying them without bound; it also keeps the
transform finite when there are fewer training images than pixel values and
some directions have no variance at all. The default, 0.1 (on [0, 1] pixels),
keeps whitened dog photos readable: on 2,000 Stanford Dogs crops at 32 x 32,
147 of the 3,072 directions have a variance above it. 0.01 (572 above) gives a
harsher, edge-map look.

Why whole images at a small size rather than patches: the whitening matrix of
a whole image is a plain matrix product, applied the same way at training and
inference (and available as a frozen Keras layer), and it is the classic CIFAR
recipe for scratch CNNs. Its cost is the pixel covariance, ``D x D`` for
``D = height * width * 3``: 32 x 32 gives D = 3,072 (75 MB in the float64 used
here; fitting 2,000 images took 9 to 30 s on 2 busy CPU cores) while 224 x 224
would need about 90 GB in float32. So images
are resized to ``image_size`` (e.g. with :func:`dogbreeds.inputs.preprocessing.cv_resize`)
before fitting, and sizes above :data:`MAX_DIMENSIONS` are refused. Patch
whitening would scale to full resolution but needs a convolution to apply and
decorrelates only within a patch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeAlias

import numpy as np
from tqdm.auto import tqdm

from dogbreeds.core.errors import DogbreedsError

if TYPE_CHECKING:
    import keras

Method: TypeAlias = Literal["zca", "pca"]

METHODS: tuple[str, ...] = ("zca", "pca")
MAX_DIMENSIONS = 64 * 64 * 3
"""Largest ``height * width * 3`` accepted: a 12,288-wide covariance is 1.2 GB in float64."""
_COVARIANCE_CHUNK = 1024


class WhiteningError(DogbreedsError, ValueError):
    """A whitener was configured or called in a way it cannot work."""


class NotFittedError(WhiteningError):
    """The whitener was used before :meth:`Whitener.fit`."""


class Whitener:
    """PCA or ZCA whitening of ``(N, height, width, 3)`` images with pixel values in 0..255.

    ``n_components`` keeps only the leading principal components (default: all).
    Fit on training images only, then transform any split with the same statistics.
    """

    def __init__(
        self,
        method: Method = "zca",
        epsilon: float = 0.1,
        image_size: int | tuple[int, int] = (32, 32),
        n_components: int | None = None,
    ) -> None:
        if method not in METHODS:
            raise WhiteningError(f"Unknown whitening method {method!r}; use one of {METHODS}.")
        if not epsilon > 0:
            raise WhiteningError(f"epsilon must be > 0 (it keeps zero-variance directions finite), got {epsilon}.")
        size = (image_size, image_size) if isinstance(image_size, (int, np.integer)) else tuple(image_size)
        if len(size) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in size):
            raise WhiteningError(f"image_size is a positive int or (height, width), got {image_size!r}.")
        self.method: Method = method
        self.epsilon = float(epsilon)
        self.image_size: tuple[int, int] = (int(size[0]), int(size[1]))
        self.dimensions = self.image_size[0] * self.image_size[1] * 3
        if self.dimensions > MAX_DIMENSIONS:
            raise WhiteningError(
                f"image_size {self.image_size} gives {self.dimensions} pixel values, more than "
                f"{MAX_DIMENSIONS}: the covariance would not fit in memory. Resize the images to "
                "at most 64 x 64 (32 x 32 is the usual choice) before whitening."
            )
        if n_components is not None and not 1 <= n_components <= self.dimensions:
            raise WhiteningError(f"n_components must be in 1..{self.dimensions}, got {n_components}.")
        self.n_components = n_components
        self._mean: np.ndarray | None = None
        self._eigenvalues: np.ndarray | None = None
        self._components: np.ndarray | None = None
        self._whitening: np.ndarray | None = None

    def __repr__(self) -> str:
        state = "fitted" if self.is_fitted else "not fitted"
        return (
            f"Whitener(method={self.method!r}, epsilon={self.epsilon}, image_size={self.image_size}, "
            f"n_components={self.n_components}) [{state}]"
        )

    # ------------------------------------------------------------------ state

    @property
    def is_fitted(self) -> bool:
        return self._components is not None

    def _require_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError("This Whitener is not fitted yet: call fit(training_images).")

    @property
    def mean(self) -> np.ndarray:
        """Per-pixel training mean, ``(height, width, 3)``, pixels scaled to [0, 1]."""
        self._require_fitted()
        return self._mean.reshape(*self.image_size, 3)

    @property
    def eigenvalues(self) -> np.ndarray:
        """Variances along the kept principal components, largest first."""
        self._require_fitted()
        return self._eigenvalues

    @property
    def components(self) -> np.ndarray:
        """Kept principal directions, one unit row of ``D`` pixel values each."""
        self._require_fitted()
        return self._components

    @property
    def whitening_matrix(self) -> np.ndarray:
        """Applied to centred flattened images: ``(k, D)`` for PCA, symmetric ``(D, D)`` for ZCA."""
        self._require_fitted()
        return self._whitening

    def _set_state(self, mean: np.ndarray, eigenvalues: np.ndarray, components: np.ndarray) -> None:
        """Store the fitted statistics and derive the whitening matrix from them."""
        self._mean = np.asarray(mean, dtype=np.float64)
        self._eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
        self._components = np.asarray(components, dtype=np.float64)
        whitening = self._components / np.sqrt(self._eigenvalues + self.epsilon)[:, None]
        self._whitening = self._components.T @ whitening if self.method == "zca" else whitening

    # ------------------------------------------------------------------ fit / transform

    def _flatten(self, images: np.ndarray) -> np.ndarray:
        """Validated images as ``(N, D)`` float64 in [0, 1]."""
        images = np.asarray(images)
        expected = (*self.image_size, 3)
        if images.ndim != 4 or images.shape[1:] != expected:
            raise WhiteningError(
                f"Expected images of shape (N, {expected[0]}, {expected[1]}, 3), got {images.shape}. "
                f"Resize them to image_size={self.image_size} first, e.g. with "
                "dogbreeds.inputs.preprocessing.map_images(images, lambda x: cv_resize(x, image_size, 'crop'))."
            )
        if not (np.issubdtype(images.dtype, np.integer) or np.issubdtype(images.dtype, np.floating)):
            raise WhiteningError(f"Expected numeric pixel values in 0..255, got dtype {images.dtype}.")
        return images.reshape(len(images), -1).astype(np.float64) / 255.0

    def fit(self, images: np.ndarray, *, progress: bool = True) -> Whitener:
        """Learn the mean and the principal components of the training ``images``; returns ``self``."""
        flat = self._flatten(images)
        if len(flat) < 2:
            raise WhiteningError(f"Fitting needs at least 2 images, got {len(flat)}.")
        mean = flat.mean(axis=0)
        covariance = np.zeros((self.dimensions, self.dimensions))
        starts = range(0, len(flat), _COVARIANCE_CHUNK)
        for start in tqdm(starts, desc="pixel covariance", disable=not progress):
            centred = flat[start : start + _COVARIANCE_CHUNK] - mean
            covariance += centred.T @ centred
        covariance /= len(flat) - 1
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        order = np.argsort(eigenvalues)[::-1][: self.n_components or self.dimensions]
        self._set_state(mean, np.clip(eigenvalues[order], 0.0, None), eigenvectors[:, order].T)
        return self

    def transform(self, images: np.ndarray) -> np.ndarray:
        """Whitened ``images`` as float32: ``(N, height, width, 3)`` for ZCA, ``(N, k)`` for PCA."""
        self._require_fitted()
        centred = self._flatten(images) - self._mean
        whitened = (centred @ self._whitening.T).astype(np.float32)
        return whitened.reshape(len(whitened), *self.image_size, 3) if self.method == "zca" else whitened

    def with_method(self, method: Method) -> Whitener:
        """A fitted whitener of ``method`` sharing this one's statistics (PCA and ZCA differ only in the last step).

        Saves a second fit, whose eigendecomposition dominates the cost.
        """
        self._require_fitted()
        other = Whitener(method, self.epsilon, self.image_size, self.n_components)
        other._set_state(self._mean, self._eigenvalues, self._components)
        return other

    def to_display(self, whitened: np.ndarray, percentile: float = 1.0) -> np.ndarray:
        """ZCA-whitened images rescaled to ``uint8`` for showing, each on its own.

        Each image's ``percentile`` .. ``100 - percentile`` range is mapped to 0..255
        (outliers clipped), so its zero level and edges become visible.
        """
        self._require_fitted()
        if self.method != "zca":
            raise WhiteningError("PCA-whitened values are component coordinates, not images; use a ZCA whitener.")
        whitened = np.asarray(whitened, dtype=np.float32)
        if whitened.ndim != 4 or whitened.shape[1:] != (*self.image_size, 3):
            raise WhiteningError(
                f"Expected whitened images of shape (N, {self.image_size[0]}, {self.image_size[1]}, 3), "
                f"got {whitened.shape}."
            )
        if not 0.0 <= percentile < 50.0:
            raise WhiteningError(f"percentile must be in [0, 50), got {percentile}.")
        low = np.percentile(whitened, percentile, axis=(1, 2, 3), keepdims=True)
        high = np.percentile(whitened, 100.0 - percentile, axis=(1, 2, 3), keepdims=True)
        scaled = (whitened - low) / np.maximum(high - low, 1e-12)
        return np.round(np.clip(scaled, 0.0, 1.0) * 255.0).astype(np.uint8)

    def to_keras_layer(self) -> keras.Sequential:
        """A frozen Keras block doing :meth:`transform` on batches of 0..255 images.

        Put it after augmentation in a model, so whitening sees the augmented images.
        It is built from standard layers only, so saved models need no custom objects.
        """
        import keras  # deferred: TensorFlow takes seconds to import and only this method needs it

        self._require_fitted()
        matrix = self.whitening_matrix
        dense = keras.layers.Dense(len(matrix), trainable=False, name="whitening_matrix")
        layers: list[keras.layers.Layer] = [keras.Input((*self.image_size, 3)), keras.layers.Flatten(), dense]
        if self.method == "zca":
            layers.append(keras.layers.Reshape((*self.image_size, 3)))
        block = keras.Sequential(layers, name=f"{self.method}_whitening")
        # transform(x) = W (x / 255 - mean) = (W / 255) x - W mean
        dense.set_weights([(matrix.T / 255.0).astype(np.float32), (-matrix @ self._mean).astype(np.float32)])
        return block


@dataclass(frozen=True)
class CovarianceCheck:
    """The covariance of whitened images along the leading principal directions, and what theory expects.

    On the fitting images it is ``diag(lambda / (lambda + epsilon))``: zero off the
    diagonal (decorrelated) and close to 1 on it wherever the variance ``lambda`` is
    well above ``epsilon``; on other images it shows how well the statistics carry over.
    """

    covariance: np.ndarray
    expected_variances: np.ndarray

    @property
    def max_off_diagonal(self) -> float:
        """Largest absolute covariance between two different directions (0: fully decorrelated)."""
        return float(np.abs(self.covariance - np.diag(np.diag(self.covariance))).max(initial=0.0))

    @property
    def mean_variance(self) -> float:
        """Mean of the diagonal (1: unit variance)."""
        return float(np.diag(self.covariance).mean())

    @property
    def max_identity_error(self) -> float:
        """Largest absolute entry of ``covariance - identity``."""
        return float(np.abs(self.covariance - np.eye(len(self.covariance))).max())

    @property
    def max_expected_error(self) -> float:
        """Largest distance of the diagonal from ``lambda / (lambda + epsilon)``."""
        return float(np.abs(np.diag(self.covariance) - self.expected_variances).max())

    def to_dict(self) -> dict[str, float | int]:
        """The summary numbers, JSON-ready."""
        return {
            "components": len(self.covariance),
            "max_off_diagonal": self.max_off_diagonal,
            "mean_variance": self.mean_variance,
            "max_identity_error": self.max_identity_error,
            "max_expected_error": self.max_expected_error,
        }


def covariance_check(whitener: Whitener, images: np.ndarray, components: int = 32) -> CovarianceCheck:
    """Whiten ``images`` with ``whitener`` and measure their covariance along its ``components`` leading directions.

    ZCA output is projected onto the principal directions first (ZCA is PCA rotated
    back), so one check serves both methods.
    """
    if len(images) < 2:
        raise WhiteningError(f"The covariance needs at least 2 images, got {len(images)}.")
    if components < 1:
        raise WhiteningError(f"components must be at least 1, got {components}.")
    kept = min(components, len(whitener.components))
    whitened = whitener.transform(images).reshape(len(images), -1).astype(np.float64)
    coordinates = whitened[:, :kept] if whitener.method == "pca" else whitened @ whitener.components[:kept].T
    eigenvalues = whitener.eigenvalues[:kept]
    return CovarianceCheck(
        np.atleast_2d(np.cov(coordinates, rowvar=False)), eigenvalues / (eigenvalues + whitener.epsilon)
    )
