"""Forensic features: a few dozen numbers about how an image's fine detail was made.

Pure numpy/scipy on the luminance of a centre crop (at most ``MAX_SIDE`` pixels a
side, never resampled: resampling would erase the traces). Each group targets a trace
that generator decoders and camera pipelines leave differently, and is divided by the
image's own residual energy wherever it can be, so that sharp-versus-soft content
(a trap on real data, docs/real-world.md) is not what the numbers measure:

- re-sampling consistency: how much of the fine detail survives a bicubic
  down-then-up copy at factors 2, 3, 4 and 8 (decoders up-sample latents 8x);
- the residual's radial power spectrum (shape only) and its peaks at k/8 cycles;
- the residual's autocorrelation at lags 1-4 and 8;
- the residual's level, tails and how its level follows brightness (camera noise
  grows with the signal; a decoder's texture need not);
- the share of clipped pixels;
- co-occurrences of the residual (SPAM, from steganalysis): how often three
  neighbouring first- and second-order differences, rounded and truncated, take each
  pattern of values. A camera's sensor noise and demosaicing and a decoder's
  up-sampling leave different dependencies between neighbours (what the group adds on
  real images: docs/real-world.md).

Luminance only: chroma is rewritten by JPEG's 4:2:0 subsampling, so chroma traces
would measure the file's compression history rather than its origin.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import scipy.fft
from PIL import Image
from scipy import ndimage as ndi

from synthtrace.errors import InputError

__all__ = ["FEATURE_NAMES", "MAX_SIDE", "MIN_SIDE", "cooccurrences", "forensic_features", "forensic_matrix"]

MAX_SIDE = 512
MIN_SIDE = 64
_FACTORS = (2, 3, 4, 8)
_LAGS = (1, 2, 3, 4, 8)
_RADIAL_BINS = 16
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_KERNEL = np.array([[-1, 2, -1], [2, -4, 2], [-1, 2, -1]], np.float32) / 4
_COOC_T = 2  # differences are truncated to -T..T after rounding
_COOC_Q = {1: 1.0, 2: 2.0}  # rounding step of the first- and second-order differences


def _cooc_classes(t: int) -> np.ndarray:
    """Class of each of the (2t+1)^3 value triples: a triple, its negation and its reversal
    are one class (an image and its mirror or negative have the same statistics)."""
    n = 2 * t + 1
    classes: dict[tuple[int, ...], int] = {}
    out = np.zeros(n ** 3, np.intp)
    for i in range(n ** 3):
        v = (i // (n * n) - t, i // n % n - t, i % n - t)
        rep = min(v, tuple(-a for a in v), v[::-1], tuple(-a for a in v[::-1]))
        out[i] = classes.setdefault(rep, len(classes))
    return out


_COOC_CLASS = _cooc_classes(_COOC_T)
_N_COOC = int(_COOC_CLASS.max()) + 1

FEATURE_NAMES: tuple[str, ...] = (
    *(f"resample_x{k}" for k in _FACTORS),
    *(f"radial_{i}" for i in range(_RADIAL_BINS)),
    *(f"peak_{k}8_{axis}" for k in (1, 2, 3, 4) for axis in ("x", "y", "xy")),
    *(f"autocorr_{lag}_{axis}" for lag in _LAGS for axis in ("x", "y")),
    "residual_level", "residual_kurtosis", "residual_flat_share",
    "noise_level_slope", "noise_level_spread", "clipped_share",
    *(f"cooc{order}_{c:02d}" for order in _COOC_Q for c in range(_N_COOC)),
)


def _centre_crop(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    ch, cw = min(h, MAX_SIDE), min(w, MAX_SIDE)
    top, left = (h - ch) // 2, (w - cw) // 2
    return rgb[top:top + ch, left:left + cw]


def _luminance(rgb: np.ndarray) -> np.ndarray:
    arr = np.asarray(rgb)
    if arr.ndim == 2:
        return arr.astype(np.float32)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise InputError(f"expected an (H, W) or (H, W, 3|4) image array, got shape {arr.shape}")
    return arr[..., :3].astype(np.float32) @ _LUMA


@lru_cache(maxsize=16)
def _radial_bins(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Radial bin of every bin of a (h, w // 2 + 1) half spectrum, and the bins' sizes."""
    r = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :]) / 0.5
    idx = np.minimum((r * _RADIAL_BINS).astype(np.intp), _RADIAL_BINS - 1).ravel()
    return idx, np.maximum(np.bincount(idx, None, _RADIAL_BINS), 1)


def _radial_profile(power: np.ndarray, w: int) -> np.ndarray:
    idx, count = _radial_bins(power.shape[0], w)
    prof = np.bincount(idx, power.ravel(), _RADIAL_BINS) / count
    return np.log(prof / max(prof.sum(), 1e-12) + 1e-12)


def _peak(log_half: np.ndarray, w: int, iy: int, ix: int) -> float:
    """Height of one spectral bin above the median of its 7x7 neighbourhood in the full
    (h, w) spectrum, read from the real FFT's half plane: bin (y, x) with x outside
    0..w/2 is the mirror bin (-y, -x), which has the same power."""
    h = log_half.shape[0]
    ys = np.arange(iy - 3, iy + 4)[:, None] + np.zeros((1, 7), int)
    xs = (np.arange(ix - 3, ix + 4)[None, :] + np.zeros((7, 1), int)) % w
    mirror = xs > w // 2
    ys = np.where(mirror, -ys, ys) % h
    xs = np.where(mirror, w - xs, xs)
    return float(log_half[iy % h, ix] - np.median(log_half[ys, xs]))


def _triples(t: np.ndarray, axis: int) -> np.ndarray:
    """Histogram (length n^3) of three consecutive values along ``axis`` of t (values 0..n-1)."""
    n = 2 * _COOC_T + 1
    if axis == 1:
        idx = (t[:, :-2] * n + t[:, 1:-1]) * n + t[:, 2:]
    else:
        idx = (t[:-2] * n + t[1:-1]) * n + t[2:]
    return np.bincount(idx.ravel(), minlength=n ** 3)


def cooccurrences(x: np.ndarray, order: int) -> np.ndarray:
    """Shares of the classes of three neighbouring ``order``-th differences of x (rounded by
    ``_COOC_Q[order]``, truncated at +/-``_COOC_T``), rows and columns pooled: length ``_N_COOC``."""
    hist = np.zeros((2 * _COOC_T + 1) ** 3)
    for axis in (1, 0):
        d = np.diff(x, n=order, axis=axis)
        t = (np.clip(np.rint(d / _COOC_Q[order]), -_COOC_T, _COOC_T) + _COOC_T).astype(np.intp)
        hist += _triples(t, axis)
    shares = np.bincount(_COOC_CLASS, weights=hist, minlength=_N_COOC)
    return shares / max(shares.sum(), 1.0)


def forensic_features(rgb: np.ndarray) -> np.ndarray:
    """The ``FEATURE_NAMES`` vector (float32) of one decoded image (uint8 or float in 0..255)."""
    x = _luminance(_centre_crop(np.asarray(rgb)))
    h, w = x.shape
    if min(h, w) < MIN_SIDE:
        raise InputError(f"image of {w}x{h} pixels is too small for forensic features (need {MIN_SIDE}x{MIN_SIDE})")
    r = ndi.convolve(x, _KERNEL, mode="reflect")
    level = float(np.mean(np.abs(r))) + 1e-3
    log_level = np.log(level)
    f: list[float] = []

    img = Image.fromarray(np.clip(x, 0, 255).astype(np.uint8))
    for k in _FACTORS:
        copy = img.resize((max(w // k, 1), max(h // k, 1)), Image.BICUBIC).resize((w, h), Image.BICUBIC)
        f.append(np.log(np.mean(np.abs(x - np.asarray(copy, np.float32))) + 1e-3) - log_level)

    # x minus its 3x3 mean: unlike the separable kernel above, it keeps the axes of the spectrum
    rr = (x - ndi.uniform_filter(x, 3, mode="reflect"))[: h // 8 * 8, : w // 8 * 8]
    # the real FFT's half plane: a real signal's spectrum is symmetric, the other half adds nothing
    power = np.abs(scipy.fft.rfft2(rr - rr.mean(), workers=1)) ** 2
    ph, pw = rr.shape
    f += list(_radial_profile(power, pw))
    log_power = np.log(power + 1e-9)
    for k in (1, 2, 3, 4):
        iy, ix = ph * k // 8, pw * k // 8
        f += [_peak(log_power, pw, 0, ix), _peak(log_power, pw, iy, 0), _peak(log_power, pw, iy, ix)]

    rn = (r - r.mean()) / (r.std() + 1e-6)
    for lag in _LAGS:
        f += [float(np.mean(rn[:, lag:] * rn[:, :-lag])), float(np.mean(rn[lag:] * rn[:-lag]))]

    f += [log_level, float(np.mean(rn ** 4)), float(np.mean(np.abs(r) < 0.5))]

    bins = np.clip((x / 32).astype(int), 0, 7)
    local = ndi.uniform_filter(np.abs(r), 3)
    levels = np.array([np.log(np.median(local[bins == b]) + 1e-3) if np.count_nonzero(bins == b) > 200 else np.nan
                       for b in range(8)])
    ok = ~np.isnan(levels)
    slope = float(np.polyfit(np.arange(8)[ok], levels[ok], 1)[0]) if ok.sum() >= 3 else 0.0
    spread = float(np.nanstd(levels)) if ok.sum() > 1 else 0.0
    f += [slope, spread, float(np.mean((x < 2) | (x > 253)))]
    for order in _COOC_Q:
        f += list(cooccurrences(x, order))
    return np.nan_to_num(np.asarray(f, np.float32), nan=0.0, posinf=0.0, neginf=0.0)


def forensic_matrix(images: Sequence[np.ndarray]) -> np.ndarray:
    """Rows of ``forensic_features`` for decoded images, shape (n, len(FEATURE_NAMES))."""
    if not len(images):
        return np.zeros((0, len(FEATURE_NAMES)), np.float32)
    return np.stack([forensic_features(im) for im in images])
