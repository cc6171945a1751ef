"""Splices for localisation: a region of a fake blended into its real twin."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from .scenes import _random_polygon


def random_region(rng: np.random.Generator, size: int) -> np.ndarray:
    """A binary (size, size) mask: an ellipse, a polygon or a free blob, 5-35 % of the area."""
    for _ in range(20):
        canvas = Image.new("L", (size, size), 0)
        draw = ImageDraw.Draw(canvas)
        kind = rng.integers(0, 3)
        if kind == 0:
            cx, cy = rng.uniform(0.25, 0.75, 2) * size
            rx, ry = rng.uniform(0.12, 0.3, 2) * size
            draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
            mask = np.asarray(canvas) > 0
        elif kind == 1:
            draw.polygon(_random_polygon(rng, size), fill=255)
            mask = np.asarray(canvas) > 0
        else:
            field = ndimage.gaussian_filter(rng.standard_normal((size, size)), size / 10)
            mask = field > np.quantile(field, rng.uniform(0.7, 0.9))
            labels, n = ndimage.label(mask)
            if n:
                sizes = ndimage.sum(mask, labels, range(1, n + 1))
                mask = labels == (1 + int(np.argmax(sizes)))
        if 0.05 <= mask.mean() <= 0.35:
            return mask
    return mask


def splice(real: np.ndarray, fake: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Blend ``fake`` into ``real`` inside ``mask`` with a feathered edge.

    Returns the composite and the binary ground-truth mask (alpha >= 0.5).
    """
    alpha = ndimage.gaussian_filter(mask.astype(np.float32), rng.uniform(0.7, 2.0))
    out = real * (1 - alpha[..., None]) + fake * alpha[..., None]
    return out.astype(np.float32), alpha >= 0.5
