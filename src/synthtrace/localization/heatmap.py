"""Localization heatmaps: a sliding-window map from any detector bundle, and a
noise-inconsistency map from the residual statistics of the signals module, each
with a confidence map (low where the window is flat, saturated, or blocky from JPEG).

Maps are float32 (H, W) in [0, 1]; each pixel averages the windows that cover it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from synthtrace.signals.residual import to_luminance, wiener_denoise


@dataclass
class Heatmap:
    score: np.ndarray       # (H, W) float32 in [0, 1]
    confidence: np.ndarray  # (H, W) float32 in [0, 1]
    method: str
    params: dict[str, Any]


def _starts(n: int, window: int, stride: int) -> list[int]:
    if n <= window:
        return [0]
    s = list(range(0, n - window + 1, stride))
    if s[-1] != n - window:
        s.append(n - window)
    return s


def _window_confidence(lum: np.ndarray, window: int, stride: int) -> np.ndarray:
    """Per-pixel confidence from local texture (flat → low), clipping (saturated → low)
    and 8×8 blockiness (heavy JPEG → low)."""
    x = lum.astype(np.float32)
    mean = ndi.uniform_filter(x, window)
    var = np.maximum(ndi.uniform_filter(x * x, window) - mean * mean, 0)
    texture = np.clip(np.sqrt(var) / 8.0, 0, 1)
    sat = ndi.uniform_filter(((x <= 2) | (x >= 253)).astype(np.float32), window)
    dx = np.abs(np.diff(x, axis=1, append=x[:, -1:]))
    col = np.arange(x.shape[1]) % 8 == 7
    edge = ndi.uniform_filter(np.where(col[None, :], dx, 0), window) * 8
    inner = ndi.uniform_filter(np.where(col[None, :], 0, dx), window) * 8 / 7
    blocky = np.clip((edge - inner) / (inner + 1.0), 0, 1)
    return np.clip(texture * (1 - sat) * (1 - 0.7 * blocky), 0, 1).astype(np.float32)


def sliding_window_heatmap(detector: Any, image: np.ndarray, *, window: int = 64, stride: int = 32,
                           batch_size: int = 64) -> Heatmap:
    """Score every window with ``detector.score_images`` (batched) and average the
    calibrated fake probabilities over the windows covering each pixel."""
    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    H, W = img.shape[:2]
    ys, xs = _starts(H, window, stride), _starts(W, window, stride)
    boxes = [(y, x) for y in ys for x in xs]
    crops = [img[y:y + window, x:x + window] for y, x in boxes]
    raw = np.concatenate([np.asarray(detector.score_images(crops[i:i + batch_size]), dtype=np.float64)
                          for i in range(0, len(crops), batch_size)])
    prob = np.asarray(detector.calibration.probability(raw), dtype=np.float64)
    acc = np.zeros((H, W))
    cnt = np.zeros((H, W))
    for (y, x), p in zip(boxes, prob):
        acc[y:y + window, x:x + window] += p
        cnt[y:y + window, x:x + window] += 1
    score = (acc / np.maximum(cnt, 1)).astype(np.float32)
    conf = _window_confidence(to_luminance(img), min(window, H, W), stride)
    return Heatmap(score, conf, "sliding-window", {"window": window, "stride": stride, "n_windows": len(boxes)})


def noise_inconsistency_map(image: np.ndarray, *, window: int = 32) -> Heatmap:
    """How far the local noise-residual level departs from the image's typical level
    (robust z-score of the local residual standard deviation, squashed to [0, 1])."""
    lum = to_luminance(np.asarray(image)).astype(np.float32)
    res = lum - wiener_denoise(lum)
    local = np.sqrt(np.maximum(ndi.uniform_filter(res * res, window), 0))
    med = float(np.median(local))
    mad = float(np.median(np.abs(local - med))) * 1.4826 + 1e-6
    z = np.abs(np.log((local + 1e-3) / (med + 1e-3))) / max(mad / (med + 1e-3), 0.05)
    score = (1 - np.exp(-z / 3)).astype(np.float32)
    conf = _window_confidence(lum, window, window // 2)
    return Heatmap(score, conf, "noise-inconsistency", {"window": window})
