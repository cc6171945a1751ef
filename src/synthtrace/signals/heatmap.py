"""Localization heatmaps: a sliding-window map from any detector bundle, and a
noise-inconsistency map from the residual statistics of the signals module, each
with a confidence map (low where the window is flat, saturated, or blocky from JPEG).

Maps are float32 (H, W) in [0, 1]; each pixel averages the windows that cover it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
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


_CACHE_FORMAT = 1


def detector_identity(detector: Any) -> str:
    """sha256 of what a detector's raw window scores depend on: its config (kind,
    backbone, preprocessing, head) and its weights. Computed once per object."""
    cached = getattr(detector, "_synthtrace_identity", None)
    if cached:
        return cached
    h = hashlib.sha256()
    cfg = detector.config() if hasattr(detector, "config") else {"name": getattr(detector, "name", repr(detector))}
    cfg = {k: v for k, v in cfg.items() if k not in ("calibration", "training", "synthtrace_version")}
    h.update(json.dumps(cfg, sort_keys=True, default=str).encode())
    model = getattr(detector, "model", None)
    state = model.state_dict() if model is not None and hasattr(model, "state_dict") else {}
    for k in sorted(state):
        v = state[k]
        arr = v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v)
        h.update(k.encode())
        h.update(str(arr.dtype).encode() + str(arr.shape).encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    ident = h.hexdigest()
    try:
        detector._synthtrace_identity = ident
    except AttributeError:  # objects with __slots__: recompute next time
        pass
    return ident


def image_digest(img: np.ndarray) -> str:
    """sha256 of decoded pixels (shape, dtype and bytes), used when no file hash is given."""
    a = np.ascontiguousarray(img)
    return hashlib.sha256(f"{a.shape}|{a.dtype}|".encode() + a.tobytes()).hexdigest()


class WindowScoreCache:
    """Content-addressed cache of raw sliding-window scores: one small ``.npz`` per
    (image sha256, detector identity, window, stride), under ``directory/ab/<key>.npz``.

    Raw scores (before calibration) are stored, so averaging mode, calibration and
    normalisation can change without recomputing the model. Writes are atomic (rename),
    so concurrent runs are safe; ``hits``/``misses`` count lookups."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(image_sha256: str, detector_id: str, window: int, stride: int) -> str:
        text = f"v{_CACHE_FORMAT}|{image_sha256}|{detector_id}|w{int(window)}|s{int(stride)}"
        return hashlib.sha256(text.encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.npz"

    def get(self, key: str) -> tuple[np.ndarray, np.ndarray] | None:
        p = self._path(key)
        if not p.is_file():
            self.misses += 1
            return None
        try:
            with np.load(p) as z:
                out = (z["boxes"].astype(np.int64), z["raw"].astype(np.float64))
        except Exception:  # damaged entry: recompute
            self.misses += 1
            return None
        self.hits += 1
        return out

    def put(self, key: str, boxes: np.ndarray, raw: np.ndarray) -> None:
        p = self._path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, suffix=".tmp.npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, boxes=np.asarray(boxes, np.int32), raw=np.asarray(raw, np.float32))
            os.replace(tmp, p)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def window_scores(detector: Any, image: np.ndarray, *, window: int = 64, stride: int = 32, batch_size: int = 64,
                  cache: WindowScoreCache | str | Path | None = None,
                  image_sha256: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Raw detector scores of every window: ``(boxes (n, 2) of (y, x), raw (n,))``.

    Windows are scored in batches of ``batch_size``. With ``cache`` (a
    :class:`WindowScoreCache` or a folder) the scores are looked up by (``image_sha256``
    — the file's sha256, else a hash of the pixels — detector identity, window, stride)
    and the model is not called on a hit."""
    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    H, W = img.shape[:2]
    ys, xs = _starts(H, window, stride), _starts(W, window, stride)
    boxes = np.array([(y, x) for y in ys for x in xs], dtype=np.int64)
    if cache is not None and not isinstance(cache, WindowScoreCache):
        cache = WindowScoreCache(cache)
    key = None
    if cache is not None:
        digest = f"{image_sha256}|{H}x{W}" if image_sha256 else image_digest(img)  # decoded size is part of the key
        key = cache.key(digest, detector_identity(detector), window, stride)
        hit = cache.get(key)
        if hit is not None and len(hit[0]) == len(boxes):
            return hit
    crops = [img[y:y + window, x:x + window] for y, x in boxes]
    raw = np.concatenate([np.asarray(detector.score_images(crops[i:i + batch_size]), dtype=np.float64)
                          for i in range(0, len(crops), batch_size)])
    if cache is not None:
        cache.put(key, boxes, raw)
    return boxes, raw


def heatmap_from_window_scores(detector: Any, image: np.ndarray, boxes: np.ndarray, raw: np.ndarray, *,
                               window: int, stride: int, average: str = "probability") -> Heatmap:
    """Assemble the per-pixel map from raw window scores (see ``sliding_window_heatmap``)."""
    if average not in ("probability", "logit"):
        raise ValueError(f"average: expected probability or logit, got {average!r}")
    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    H, W = img.shape[:2]
    prob = np.asarray(detector.calibration.probability(np.asarray(raw, dtype=np.float64)), dtype=np.float64)
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
    top_window = {"x": int(boxes[top][1]), "y": int(boxes[top][0]), "width": min(window, W), "height": min(window, H),
                  "score": round(float(prob[top]), 4)}
    return Heatmap(score, conf, "sliding-window", {"window": window, "stride": stride, "n_windows": int(len(boxes)),
                                                    "average": average, "top_window": top_window})


def sliding_window_heatmap(detector: Any, image: np.ndarray, *, window: int = 64, stride: int = 32,
                           batch_size: int = 64, average: str = "probability",
                           cache: WindowScoreCache | str | Path | None = None,
                           image_sha256: str | None = None) -> Heatmap:
    """Score every window with ``detector.score_images`` (batched) and average the
    calibrated fake probabilities over the windows covering each pixel.

    ``average="logit"`` averages the calibrated logits instead and maps the mean back
    through the sigmoid (probabilities saturate at 0/1, so their mean loses the order
    between windows that are all confidently fake or real). ``cache``: reuse raw window
    scores of the same image, detector, window and stride (see ``window_scores``)."""
    if average not in ("probability", "logit"):
        raise ValueError(f"average: expected probability or logit, got {average!r}")
    boxes, raw = window_scores(detector, image, window=window, stride=stride, batch_size=batch_size,
                               cache=cache, image_sha256=image_sha256)
    return heatmap_from_window_scores(detector, image, boxes, raw, window=window, stride=stride, average=average)


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
        from scipy.stats import rankdata  # scipy.stats takes most of a second to import; only ranks need it

        return ((rankdata(s.ravel(), method="average") - 1) / max(s.size - 1, 1)).reshape(s.shape).astype(np.float32)
    raise ValueError(f"normalize: expected none, minmax or rank, got {method!r}")


MAP_MAX_SIDE = 64  # long side of the downsampled maps stored in a summary


def encode_map_png(arr: np.ndarray, max_side: int = MAP_MAX_SIDE) -> str:
    """A [0, 1] map downsampled (area average) to at most ``max_side`` pixels on its long
    side, as a base64 8-bit greyscale PNG (a few KB: small enough for scan JSON)."""
    a = np.clip(np.nan_to_num(np.asarray(arr, dtype=np.float32)), 0, 1)
    H, W = a.shape
    scale = min(1.0, max_side / max(H, W))
    im = Image.fromarray(np.rint(a * 255).astype(np.uint8), mode="L")
    if scale < 1:
        im = im.resize((max(1, round(W * scale)), max(1, round(H * scale))), Image.Resampling.BOX)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def decode_map_png(text: str) -> np.ndarray:
    """Inverse of ``encode_map_png``: float32 (h, w) in [0, 1] (8-bit precision)."""
    with Image.open(io.BytesIO(base64.b64decode(text))) as im:
        return np.asarray(im.convert("L"), dtype=np.float32) / 255.0


def heatmap_summary(hm: Heatmap, *, maps: bool = True, max_side: int = MAP_MAX_SIDE) -> dict[str, Any]:
    """Compact JSON-able summary: map max and mean, confidence mean, the top window
    (the highest-scoring window for a sliding-window map; for other maps the window of
    the map's ``window`` size with the highest mean score), and with ``maps`` the score
    and confidence maps downsampled to ``max_side`` as base64 greyscale PNGs
    (``"maps": {"image_size": [H, W], "size": [h, w], "score": ..., "confidence": ...}``)
    so a report can draw the overlay without running the model again."""
    top = hm.params.get("top_window")
    if top is None:
        H, W = hm.score.shape
        win = int(min(hm.params.get("window", 32), H, W))
        mean = ndi.uniform_filter(hm.score.astype(np.float64), win, mode="nearest")
        h0 = win // 2
        valid = mean[h0:H - (win - h0) + 1, h0:W - (win - h0) + 1]
        y, x = np.unravel_index(int(np.argmax(valid)), valid.shape)
        top = {"x": int(x), "y": int(y), "width": win, "height": win, "score": round(float(valid[y, x]), 4)}
    out = {
        "method": hm.method,
        "params": {k: v for k, v in hm.params.items() if k != "top_window"},
        "max": round(float(hm.score.max()), 4),
        "mean": round(float(hm.score.mean()), 4),
        "confidence_mean": round(float(hm.confidence.mean()), 4),
        "top_window": top,
    }
    if maps:
        score = encode_map_png(hm.score, max_side)
        small = decode_map_png(score)
        out["maps"] = {"image_size": [int(H_) for H_ in hm.score.shape], "size": list(small.shape),
                       "encoding": "base64 PNG, 8-bit greyscale, value/255", "score": score,
                       "confidence": encode_map_png(hm.confidence, max_side)}
    return out


def localization_summary(image: np.ndarray, detector: Any | None = None, *, window: int = 32, stride: int = 8,
                         max_windows: int = 4096, cache: WindowScoreCache | str | Path | None = None,
                         image_sha256: str | None = None) -> dict[str, Any]:
    """The heatmap summary stored by ``scan --localize``: the sliding-window map of
    ``detector`` when one is given (on large images the stride is raised in steps of 8,
    and the window with it once it would leave gaps, until at most ``max_windows``
    windows), else the noise-inconsistency map; with ``cache``, window scores are reused
    (see ``window_scores``). The summary holds small downsampled score and confidence
    maps (``heatmap_summary``). Never raises: a failure is reported as ``{"error": ...}``."""
    try:
        img = np.asarray(image)
        if detector is None:
            return heatmap_summary(noise_inconsistency_map(img, window=window))
        H, W = img.shape[:2]
        while len(_starts(H, window, stride)) * len(_starts(W, window, stride)) > max_windows:
            stride += 8
            window = max(window, stride)  # no gaps between windows
        return heatmap_summary(sliding_window_heatmap(detector, img, window=window, stride=stride, cache=cache,
                                                      image_sha256=image_sha256))
    except Exception as exc:  # keep a scan going
        return {"error": f"localization failed: {type(exc).__name__}: {exc}"}
