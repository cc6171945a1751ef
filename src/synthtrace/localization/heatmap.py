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
                           batch_size: int = 64, average: str = "probability") -> Heatmap:
    """Score every window with ``detector.score_images`` (batched) and average the
    calibrated fake probabilities over the windows covering each pixel.

    ``average="logit"`` averages the calibrated logits instead and maps the mean back
    through the sigmoid (probabilities saturate at 0/1, so their mean loses the order
    between windows that are all confidently fake or real)."""
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
    if average not in ("probability", "logit"):
        raise ValueError(f"average: expected probability or logit, got {average!r}")
    vals = prob
    if average == "logit":
        q = np.clip(prob, 1e-6, 1 - 1e-6)
        vals = np.log(q / (1 - q))
    acc = np.zeros((H, W))
    cnt = np.zeros((H, W))
    for (y, x), p in zip(boxes, vals):
        acc[y:y + window, x:x + window] += p
        cnt[y:y + window, x:x + window] += 1
    score = acc / np.maximum(cnt, 1)
    if average == "logit":
        score = 1 / (1 + np.exp(-score))
    score = score.astype(np.float32)
    conf = _window_confidence(to_luminance(img), min(window, H, W), stride)
    top = int(np.argmax(prob))
    top_window = {"x": boxes[top][1], "y": boxes[top][0], "width": min(window, W), "height": min(window, H),
                  "score": round(float(prob[top]), 4)}
    return Heatmap(score, conf, "sliding-window", {"window": window, "stride": stride, "n_windows": len(boxes),
                                                    "average": average, "top_window": top_window})


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


def normalize_map(score: np.ndarray, method: str = "none") -> np.ndarray:
    """Per-image score normalisation of a heatmap (monotone within the image).

    ``none``: unchanged; ``minmax``: rescaled to [0, 1]; ``rank``: each pixel's rank
    among the image's pixels, in [0, 1] (ties share their mean rank). Both remove the
    per-image offset of a detector that scores a whole edited image high, which is
    what pooling pixels over images (pooled pixel AUC, one threshold) penalises.
    """
    s = np.asarray(score, dtype=np.float64)
    if method == "none":
        return s.astype(np.float32)
    if method == "minmax":
        lo, hi = float(s.min()), float(s.max())
        return ((s - lo) / (hi - lo) if hi > lo else np.zeros_like(s)).astype(np.float32)
    if method == "rank":
        from scipy.stats import rankdata

        return ((rankdata(s.ravel(), method="average") - 1) / max(s.size - 1, 1)).reshape(s.shape).astype(np.float32)
    raise ValueError(f"normalize: expected none, minmax or rank, got {method!r}")


def heatmap_summary(hm: Heatmap) -> dict[str, Any]:
    """Compact JSON-able summary: map max and mean, confidence mean, the top window
    (the highest-scoring window for a sliding-window map; for other maps the window of
    the map's ``window`` size with the highest mean score)."""
    top = hm.params.get("top_window")
    if top is None:
        H, W = hm.score.shape
        win = int(min(hm.params.get("window", 32), H, W))
        mean = ndi.uniform_filter(hm.score.astype(np.float64), win, mode="nearest")
        h0 = win // 2
        valid = mean[h0:H - (win - h0) + 1, h0:W - (win - h0) + 1]
        y, x = np.unravel_index(int(np.argmax(valid)), valid.shape)
        top = {"x": int(x), "y": int(y), "width": win, "height": win, "score": round(float(valid[y, x]), 4)}
    return {
        "method": hm.method,
        "params": {k: v for k, v in hm.params.items() if k != "top_window"},
        "max": round(float(hm.score.max()), 4),
        "mean": round(float(hm.score.mean()), 4),
        "confidence_mean": round(float(hm.confidence.mean()), 4),
        "top_window": top,
    }


def localization_summary(image: np.ndarray, detector: Any | None = None, *, window: int = 32, stride: int = 8,
                         max_windows: int = 4096) -> dict[str, Any]:
    """The heatmap summary stored by ``scan --localize``: the sliding-window map of
    ``detector`` when one is given (on large images the stride is raised in steps of 8,
    and the window with it once it would leave gaps, until at most ``max_windows``
    windows), else the noise-inconsistency map. Never raises: a
    failure is reported as ``{"error": ...}``."""
    try:
        img = np.asarray(image)
        if detector is None:
            return heatmap_summary(noise_inconsistency_map(img, window=window))
        H, W = img.shape[:2]
        while len(_starts(H, window, stride)) * len(_starts(W, window, stride)) > max_windows:
            stride += 8
            window = max(window, stride)  # no gaps between windows
        return heatmap_summary(sliding_window_heatmap(detector, img, window=window, stride=stride))
    except Exception as exc:  # keep a scan going
        return {"error": f"localization failed: {type(exc).__name__}: {exc}"}
