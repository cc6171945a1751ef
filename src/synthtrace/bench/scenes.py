"""Procedural scenes whose power spectrum falls like that of photographs.

A scene is a linear-light RGB float image in [0, 1], defined entirely by its seed:
a gradient background, occluding shapes (ellipses, polygons, blobs) with colour
fills, and a fractal 1/f^alpha texture that modulates every surface.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw


@lru_cache(maxsize=8)
def _radial_frequency(size: int) -> np.ndarray:
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    f[0, 0] = 1.0 / size  # the DC term gets the lowest frequency's weight, not infinity
    return f.astype(np.float32)


def fractal_texture(rng: np.random.Generator, size: int, alpha: float) -> np.ndarray:
    """Zero-mean, unit-std noise with power spectrum ~ 1/f^alpha."""
    white = rng.standard_normal((size, size), dtype=np.float32)
    spec = np.fft.rfft2(white) * _radial_frequency(size) ** (-alpha / 2.0)
    tex = np.fft.irfft2(spec, s=(size, size)).astype(np.float32)
    tex -= tex.mean()
    tex /= tex.std() + 1e-8
    return tex


def _random_polygon(rng: np.random.Generator, size: int) -> list[tuple[float, float]]:
    cx, cy = rng.uniform(0, size, 2)
    r = rng.uniform(0.08, 0.35) * size
    n = int(rng.integers(3, 9))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = r * rng.uniform(0.5, 1.0, n)
    return [(float(cx + a * np.cos(t)), float(cy + a * np.sin(t))) for a, t in zip(radii, angles)]


def render_scene(seed: int, size: int) -> np.ndarray:
    """Render scene ``seed`` at ``size`` x ``size`` (H, W, 3) float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    n_shapes = int(rng.integers(6, 18))
    labels = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(labels)
    for k in range(1, n_shapes + 1):
        kind = rng.integers(0, 3)
        if kind == 0:
            cx, cy = rng.uniform(0, size, 2)
            rx, ry = rng.uniform(0.05, 0.3, 2) * size
            draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=k)
        elif kind == 1:
            draw.polygon(_random_polygon(rng, size), fill=k)
        else:
            # A "blob": a thick random stroke, like a branch or a cable.
            pts = np.cumsum(rng.normal(0, size * 0.08, (6, 2)), axis=0) + rng.uniform(0, size, 2)
            draw.line([tuple(p) for p in pts], fill=k, width=int(rng.integers(2, max(3, size // 12))))
    label = np.asarray(labels)

    palette = rng.uniform(0.03, 0.9, (n_shapes + 1, 3)).astype(np.float32)
    # Natural colours are correlated across channels: pull each colour toward its grey.
    grey = palette.mean(axis=1, keepdims=True)
    palette = grey + rng.uniform(0.3, 0.9) * (palette - grey)
    img = palette[label]

    # Background: a gradient between two colours under the shapes.
    t = np.linspace(0.0, 1.0, size, dtype=np.float32)
    # Python floats (math, not np.cos) keep the arrays float32: a NumPy float64
    # scalar would promote them.
    angle = float(rng.uniform(0, 2 * np.pi))
    ramp = (math.cos(angle) * t[None, :] + math.sin(angle) * t[:, None]) * 0.5 + 0.5
    c0, c1 = rng.uniform(0.05, 0.8, (2, 3)).astype(np.float32)
    background = c0 + (c1 - c0) * ramp[..., None]
    img = np.where(label[..., None] == 0, background, img)

    # Surfaces carry fractal texture (luminance and a little chroma).
    alpha = rng.uniform(1.6, 2.6)
    luma_tex = fractal_texture(rng, size, alpha)
    # A shifted copy is an independent-looking chroma texture at no extra FFT cost.
    chroma_tex = np.roll(luma_tex, (size // 3, size // 2), axis=(0, 1))
    amp = float(rng.uniform(0.1, 0.35))
    img = img * (1.0 + amp * luma_tex[..., None])
    img = img + 0.03 * chroma_tex[..., None] * np.array([1.0, -0.5, -0.5], dtype=np.float32)
    return np.clip(img, 0.0, 1.0).astype(np.float32)
