"""Noise residual: the image minus a denoised version of itself.

Generators and cameras leave their traces in the fine, noise-like part of an
image, not in its content. The residual keeps that part and drops the scene.

Denoiser: a 3x3 adaptive Wiener (Lee) filter on the luminance channel.

* Why Wiener and not a Gaussian or median: a linear low-pass (Gaussian) leaves
  every edge of the scene in the residual, and edges are broadband, so they bury
  weak spectral peaks. The adaptive Wiener filter keeps pixels where the local
  variance is far above the noise level (edges, textures) and smooths where it is
  not, so the residual is ~0 on edges and a 3x3 high-pass in flat areas. A median
  filter is non-linear in a way that can itself create or destroy periodic
  patterns, and it is several times slower.
* Why 3x3: up-sampling grids live at 1/8..1/2 cycles/pixel; a small window keeps
  all of these frequencies in the residual.
* Shift-invariant: no tiling or block processing, so the denoiser cannot add a
  periodic grid of its own.
* Why luminance only: chroma is usually subsampled by JPEG (which would add a
  period-2 pattern of its own) and carries little extra on the grid frequencies.

Speed: a 12-megapixel photo is analysed on its centre crop of at most
``MAX_SIDE`` x ``MAX_SIDE`` pixels (1024 by default). The crop offset is rounded
to a multiple of 8 so that a JPEG's 8x8 grid keeps its phase. A centre crop can
miss an edit at the border; the pixel signals describe the crop and say so.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

MAX_SIDE = 1024
"""Largest side (pixels) of the centre crop that is analysed."""

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601, as JPEG


def to_luminance(image: np.ndarray) -> np.ndarray:
    """Luminance in 0..255 as float32, from grey (H, W), RGB or RGBA (H, W, 3|4).

    Integer input is taken as 0..255 (16-bit is scaled down). Float input whose
    maximum is <= 1 is taken as 0..1 and scaled by 255; other floats as 0..255.
    """
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ValueError(
            f"expected a grey (H, W) or RGB(A) (H, W, 3|4) array, got shape {arr.shape}; "
            "decode the file with synthtrace.io first"
        )
    if arr.dtype == np.uint16:
        f = arr.astype(np.float32) / 257.0
    elif np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_:
        f = arr.astype(np.float32)
    else:
        f = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        if f.size and float(np.max(f)) <= 1.0:
            f = f * 255.0
    if f.ndim == 3:
        f = f[:, :, :3] @ _LUMA
    return np.ascontiguousarray(f, dtype=np.float32)


def centre_box(height: int, width: int, max_side: int = MAX_SIDE) -> tuple[int, int, int, int]:
    """(top, left, h, w) of the centre crop; offsets are multiples of 8 (JPEG grid)."""
    h, w = min(height, max_side), min(width, max_side)
    top = ((height - h) // 2) // 8 * 8
    left = ((width - w) // 2) // 8 * 8
    return top, left, h, w


def centre_crop(image: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """Centre crop of at most ``max_side`` per side, grid-aligned (see ``centre_box``)."""
    top, left, h, w = centre_box(image.shape[0], image.shape[1], max_side)
    return image[top : top + h, left : left + w]


def wiener_denoise(lum: np.ndarray, size: int = 3, noise_var: float | None = None) -> np.ndarray:
    """Adaptive (Lee) Wiener filter: ``m + max(v - s2, 0) / max(v, s2) * (x - m)``.

    ``m`` and ``v`` are the local mean and variance over ``size`` x ``size``;
    ``s2`` is the noise variance, by default the median local variance (robust to
    edges, which occupy a minority of pixels).
    """
    x = np.asarray(lum, dtype=np.float32)
    m = ndimage.uniform_filter(x, size=size, mode="reflect")
    v = ndimage.uniform_filter(x * x, size=size, mode="reflect") - m * m
    np.maximum(v, 0.0, out=v)
    if noise_var is None:
        sample = v[:: max(1, v.shape[0] // 256), :: max(1, v.shape[1] // 256)]
        noise_var = float(np.median(sample)) if sample.size else 0.0
    s2 = max(float(noise_var), 1e-6)
    gain = np.maximum(v - s2, 0.0) / np.maximum(v, s2)
    return m + gain * (x - m)


def noise_residual(image: np.ndarray, *, max_side: int = MAX_SIDE) -> np.ndarray:
    """Luminance residual (float32, 0..255 scale) of the grid-aligned centre crop.

    ``image`` is grey or RGB(A), uint8 or float (see ``to_luminance``). The crop
    is taken before any conversion so a 12-MP image costs the same as a 1-MP one.
    """
    arr = np.asarray(image)
    if arr.ndim < 2:
        raise ValueError(f"expected a 2-D or 3-D image array, got shape {arr.shape}")
    lum = to_luminance(centre_crop(arr, max_side))
    return lum - wiener_denoise(lum)
