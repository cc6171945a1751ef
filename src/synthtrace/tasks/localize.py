"""Localize: where in an image the edit is, as heatmaps with their confidence.

Two maps per image: the detector's sliding-window map (the bundle scores windows) and
the noise-inconsistency map (no model). With ``out_dir`` each image also gets
``<name>.heatmap.npz`` (both maps and confidences) and ``<name>.overlay.png``.
Method and measured numbers: docs/localization.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from synthtrace.detector import DetectorBundle
from synthtrace.errors import ConfigError
from synthtrace.io.images import iter_image_files, load_image
from synthtrace.signals.heatmap import (Heatmap, WindowScoreCache, noise_inconsistency_map, normalize_map,
                                        sliding_window_heatmap)

AVERAGES = ("logit", "probability")
NORMALIZATIONS = ("none", "rank", "minmax")


@dataclass(frozen=True)
class LocalizeSettings:
    """Sliding-window ``window``/``stride`` in pixels, windows scored per batch; ``average``
    window scores as calibrated logits or probabilities; per-image ``normalize`` of the map."""

    window: int = 64
    stride: int = 32
    batch_size: int = 64
    average: str = "logit"
    normalize: str = "none"

    def __post_init__(self) -> None:
        if self.average not in AVERAGES or self.normalize not in NORMALIZATIONS:
            raise ConfigError(f"average {self.average!r} / normalize {self.normalize!r}: expected "
                              f"{'|'.join(AVERAGES)} and {'|'.join(NORMALIZATIONS)}")
        if min(self.window, self.stride, self.batch_size) < 1:
            raise ConfigError("window, stride and batch_size must be >= 1")


@dataclass
class Localization:
    path: str
    detector_map: Heatmap
    noise_map: Heatmap


def localize(
    paths: str | Path | Sequence[str | Path],
    detector: DetectorBundle | str | Path,
    *,
    settings: LocalizeSettings = LocalizeSettings(),
    out_dir: str | Path | None = None,
    cache: str | Path | WindowScoreCache | None = None,
) -> list[Localization]:
    """Heatmaps for every image file (folders expanded). ``cache``: a folder (or cache) of raw
    window scores keyed by file sha256, detector, window and stride."""
    bundle = detector if isinstance(detector, DetectorBundle) else DetectorBundle.from_pretrained(detector)
    score_cache = cache if isinstance(cache, WindowScoreCache) or cache is None else WindowScoreCache(cache)
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    results = []
    for f in iter_image_files([paths] if isinstance(paths, (str, Path)) else paths):
        loaded = load_image(f)
        rgb = loaded.rgb
        sw = sliding_window_heatmap(bundle, rgb, window=settings.window, stride=settings.stride,
                                    batch_size=settings.batch_size, average=settings.average, cache=score_cache,
                                    image_sha256=loaded.record.sha256)
        sw.score = normalize_map(sw.score, settings.normalize)
        ni = noise_inconsistency_map(rgb)
        if out_dir is not None:
            _write(Path(out_dir), Path(f).stem, rgb, sw, ni)
        results.append(Localization(str(f), sw, ni))
    return results


def _write(out_dir: Path, stem: str, rgb: np.ndarray, sw: Heatmap, ni: Heatmap) -> None:
    np.savez_compressed(out_dir / f"{stem}.heatmap.npz", sliding_window=sw.score, sliding_window_confidence=sw.confidence,
                        noise=ni.score, noise_confidence=ni.confidence)
    heat = np.zeros_like(rgb, dtype=np.float32)
    heat[..., 0] = 255
    a = (0.6 * sw.score)[..., None]
    Image.fromarray((rgb * (1 - a) + heat * a).astype(np.uint8)).save(out_dir / f"{stem}.overlay.png")


__all__ = ["LocalizeSettings", "Localization", "localize"]
