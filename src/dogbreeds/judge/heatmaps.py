"""Heat-map overlays: a photo blended with a 0..1 heat map (Grad-CAM's), in NumPy and OpenCV only."""

from __future__ import annotations

import cv2
import matplotlib
import numpy as np

from dogbreeds.core.errors import DogbreedsError


class HeatmapError(DogbreedsError, ValueError):
    """A photo or heat map that cannot be overlaid (wrong shape, alpha out of range)."""


def overlay_heatmap(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.4, colormap: str = "jet") -> np.ndarray:
    """The photo (RGB or grey, values 0..255) blended with the coloured heat map, as uint8 RGB.

    The heat map is stretched over the whole photo, so it may come from a smaller model
    input; pass the photo as the model saw it (after any crop, before resizing).
    """
    if not 0.0 <= alpha <= 1.0:
        raise HeatmapError(f"alpha must be in [0, 1], got {alpha}.")
    photo = np.asarray(image)
    if photo.ndim == 2 or (photo.ndim == 3 and photo.shape[2] == 1):
        photo = np.repeat(photo.reshape(photo.shape[:2])[..., None], 3, axis=2)
    if photo.ndim != 3 or photo.shape[2] != 3:
        raise HeatmapError(f"image must be (H, W, 3) RGB or (H, W) grey, got shape {photo.shape}.")
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.ndim != 2:
        raise HeatmapError(f"heatmap must be 2-D (H, W), got shape {heat.shape}.")
    if heat.shape != photo.shape[:2]:
        heat = cv2.resize(heat, (photo.shape[1], photo.shape[0]), interpolation=cv2.INTER_LINEAR)
    colours = matplotlib.colormaps[colormap](np.clip(heat, 0.0, 1.0))[..., :3] * 255.0
    blended = (1.0 - alpha) * np.clip(photo.astype(np.float32), 0, 255) + alpha * colours
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)
