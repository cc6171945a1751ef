"""Handcrafted generator fingerprints: the noise residual's grid-aligned statistics.

An up-sampling decoder imprints a pattern whose statistics repeat with the
up-sampling period (2, 4 or 8 pixels) and whose exact correlation structure is set
by its last convolutions' weights (two seeds of one architecture differ there; cf.
Marra et al. 2019, "Do GANs leave artificial fingerprints?", and Yu et al. 2019).
The scene does not repeat on the pixel grid, so averaging over grid cells keeps the
decoder's part and averages the content away. No learning, no seed: the same image
gives the same vector on any machine.

Per image (RGB in [0, 1], cropped to a multiple of ``period``):

1. residual r = x − mean of its 4 neighbours, per channel (cyclic borders, so no
   border grid of its own), zero mean per channel, divided by its RMS (the feature
   does not depend on how strong the trace is, only on its form);
2. ``mean``: mean residual per (y mod P, x mod P, channel) — the folded fingerprint;
3. ``phase_corr``: per (y mod P, x mod P), the mean product r(p)·r(p + lag) over the
   12 lags of a 5×5 half-window, averaged over channels — the cyclostationary
   correlation that up-sampling creates;
4. ``corr``: stationary auto- and cross-channel correlation of r over a 7×7 window
   (via FFT) for the 6 channel pairs — what the last convolutions' weights set;
5. ``cross_phase``: cross-channel products at 5 small lags folded on the period 4
   (chroma is where seeds of one family differ most, and JPEG's 4:2:0 chroma keeps
   period 4 better than period 8).

``P`` = 8 covers every up-sampling factor of 2, 4 and 8 and JPEG's block grid, which
the classifier can then model rather than confuse with a generator.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from synthtrace.errors import InputError
from synthtrace.io.images import load_images
from synthtrace.progress import progress_bar

__all__ = ["FINGERPRINT_NAME", "grid_centre_crop", "fingerprint_dim", "fingerprint_features", "fingerprint_files",
           "noise_residual"]

FINGERPRINT_NAME = "fingerprint-v1"
"""Stored in bundles and runs so that features of another version are never mixed."""

_LAGS = tuple((dy, dx) for dy in range(0, 3) for dx in range(-2, 3) if dy > 0 or dx > 0)
_PAIRS = ((0, 0), (1, 1), (2, 2), (0, 1), (1, 2), (0, 2))
_WINDOW = 3


def fingerprint_dim(period: int = 8) -> int:
    """Length of one fingerprint vector."""
    return period * period * 3 + period * period * len(_LAGS) + len(_PAIRS) * (2 * _WINDOW + 1) ** 2 + 16 * 15


def _fold(a: np.ndarray, p: int) -> np.ndarray:
    n, h, w = a.shape[:3]
    return a.reshape(n, h // p, p, w // p, p, *a.shape[3:]).mean(axis=(1, 3)).reshape(n, -1)


def fingerprint_features(images: np.ndarray | Sequence[np.ndarray], *, period: int = 8) -> np.ndarray:
    """Fingerprint vectors (n, fingerprint_dim(period)) float32 for same-size RGB images.

    ``images``: (n, H, W, 3) array or a list of (H, W, 3) arrays of one size; uint8
    (0..255) or float (0..1). Each image is cropped to its top-left H − H mod lcm(P, 4)
    rows and columns so that the grid phase is the file's own.
    """
    if isinstance(images, np.ndarray) and images.ndim == 4:
        arr = images
    else:
        imgs = list(images)
        if not imgs:
            return np.zeros((0, fingerprint_dim(period)), dtype=np.float32)
        shapes = {np.asarray(im).shape for im in imgs}
        if len(shapes) != 1:
            raise InputError(f"fingerprint_features needs images of one size; got shapes {sorted(shapes)}. "
                             "Use fingerprint_files, which groups images by size.")
        arr = np.stack([np.asarray(im) for im in imgs])
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise InputError(f"expected RGB images (n, H, W, 3); got shape {arr.shape}.")
    step = int(np.lcm(period, 4))
    h, w = arr.shape[1] // step * step, arr.shape[2] // step * step
    if h < 2 * step or w < 2 * step:
        raise InputError(f"images of {arr.shape[1]}x{arr.shape[2]} are too small for a fingerprint; "
                         f"need at least {2 * step}x{2 * step} pixels.")
    x = arr[:, :h, :w].astype(np.float32)
    if np.issubdtype(arr.dtype, np.integer):
        x /= 255.0
    out = []
    for s in range(0, len(x), 64):  # bounded memory: products below are 5 floats per pixel
        out.append(_features(x[s : s + 64], period))
    return np.concatenate(out).astype(np.float32)


def noise_residual(x: np.ndarray) -> np.ndarray:
    """Step 1 for a float batch (n, H, W, 3): 4-neighbour residual per channel, cyclic
    borders, zero mean per channel, RMS-normalised per image. The learned fingerprint
    (``learned_fingerprint.noise_residual``) uses the same definition in torch."""
    r = x - 0.25 * (np.roll(x, 1, 1) + np.roll(x, -1, 1) + np.roll(x, 1, 2) + np.roll(x, -1, 2))
    r -= r.mean(axis=(1, 2), keepdims=True)
    r /= np.sqrt((r * r).mean(axis=(1, 2, 3), keepdims=True) + 1e-12)
    return r


def _features(x: np.ndarray, p: int) -> np.ndarray:
    n, h, w, _ = x.shape
    r = noise_residual(x)
    parts = [_fold(r, p)]
    for dy, dx in _LAGS:
        parts.append(_fold((r * np.roll(r, (-dy, -dx), axis=(1, 2))).mean(axis=-1), p))
    spec = np.fft.rfft2(r, axes=(1, 2))
    win = 2 * _WINDOW + 1
    for a, b in _PAIRS:
        c = np.fft.irfft2(spec[..., a] * np.conj(spec[..., b]), s=(h, w), axes=(1, 2)) / (h * w)
        parts.append(np.roll(c, (_WINDOW, _WINDOW), axis=(1, 2))[:, :win, :win].reshape(n, -1))
    for a, b in ((0, 1), (1, 2), (0, 2)):
        for dy, dx in ((0, 0),) + _LAGS[:4]:
            parts.append(_fold(r[..., a] * np.roll(r[..., b], (-dy, -dx), axis=(1, 2)), 4))
    return np.concatenate(parts, axis=1)


def grid_centre_crop(rgb: np.ndarray, max_side: int) -> np.ndarray:
    # offsets on the 8-px grid keep the decoder's and JPEG's phase
    h, w = rgb.shape[:2]
    top = max(0, (h - max_side) // 2) // 8 * 8
    left = max(0, (w - max_side) // 2) // 8 * 8
    return rgb[top : top + max_side, left : left + max_side]


def fingerprint_files(paths: Sequence[str | Path], *, period: int = 8, max_side: int = 256, progress: bool = False,
                      workers: int = 2) -> np.ndarray:
    """Fingerprints of image files, in order (decoded with ``synthtrace.io``; sizes may differ).

    Large images are analysed on their grid-aligned centre crop of ``max_side`` pixels:
    the statistics are averages over grid cells, and a 256-px crop already has 1024 of them."""

    paths = [Path(p) for p in paths]
    out = np.zeros((len(paths), fingerprint_dim(period)), dtype=np.float32)
    with progress_bar(len(paths), "fingerprints", enabled=progress) as advance:
        for s in range(0, len(paths), 64):
            chunk = load_images(paths[s : s + 64], workers=workers)
            by_size: dict[tuple[int, ...], list[int]] = {}
            for i, im in enumerate(chunk):
                by_size.setdefault(grid_centre_crop(im.rgb, max_side).shape, []).append(i)
            for idx in by_size.values():
                out[[s + i for i in idx]] = fingerprint_features([grid_centre_crop(chunk[i].rgb, max_side) for i in idx],
                                                                 period=period)
            advance(len(chunk))
    return out
