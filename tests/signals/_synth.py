"""Synthetic images for the pixel-signal tests (built here, no files on disk)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from scipy import ndimage


def texture(n: int, seed: int, sigma: float = 2.0) -> np.ndarray:
    """Smooth random grey texture, mean 128, std 40 (float)."""
    rng = np.random.default_rng(seed)
    x = ndimage.gaussian_filter(rng.normal(size=(n, n)), sigma)
    return 128 + 40 * (x - x.mean()) / x.std()


def rgb_texture(n: int, seed: int, noise: float = 3.0) -> np.ndarray:
    """Colour texture with sensor-like noise, uint8 RGB."""
    rng = np.random.default_rng(seed)
    base = texture(n, seed, 1.5)
    img = np.stack([0.6 * base + 0.4 * texture(n, seed + 10 + c, 1.5) for c in range(3)], axis=-1)
    return np.clip(img + rng.normal(0, noise, img.shape), 0, 255).astype(np.uint8)


def transposed_conv_up(x: np.ndarray, factor: int, seed: int = 0) -> np.ndarray:
    """Zero-insertion up-sampling then a fixed random 2f x 2f kernel (a transposed conv)."""
    rng = np.random.default_rng(100 + seed)
    up = np.zeros((x.shape[0] * factor, x.shape[1] * factor))
    up[::factor, ::factor] = x
    k = rng.uniform(0.5, 1.5, size=(2 * factor, 2 * factor))
    return ndimage.convolve(up, k / k.sum() * factor * factor, mode="wrap")


def jpeg_bytes(img: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
