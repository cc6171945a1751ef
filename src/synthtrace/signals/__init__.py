"""Pixel signals: noise-residual spectrum and JPEG history, as Evidence items.

Pure numpy/scipy functions; the only file access is reading the JPEG header and
luminance plane when ``path`` or ``data`` is given. See docs/signals.md for what
each signal means, when it is unreliable and the numbers measured on it.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from synthtrace.records import Evidence
from .jpeg import JpegHistory, estimate_quality, pixel_reliability, read_jpeg_history
from .residual import noise_residual, to_luminance
from .spectrum import MIN_SIDE, PeakScore, autocorrelation, offgrid_peak, periodic_peaks, power_spectrum

__all__ = [
    "GENERATED_THRESHOLD",
    "analyze_pixels",
    "autocorrelation",
    "estimate_quality",
    "noise_residual",
    "periodic_peaks",
    "pixel_reliability",
    "power_spectrum",
    "read_jpeg_history",
    "to_luminance",
]

GENERATED_THRESHOLD = 0.55
"""Peak score at which the spectral evidence points to "generated". Above the
largest score a 1/2-only (demosaic-like, weight 0.5) or JPEG-axis-only (weight
0.25) peak can reach, so neither can trigger it alone. Checked on real camera
photos (benchmarks/calibrate_real_signals.py; numbers in docs/signals.md)."""

JPEG_RULES_ALWAYS = True
"""Apply the JPEG-grid discounts to every file, not only to JPEG files. Most PNG and
WebP images on the web were JPEGs once (camera photos always), and their block grid
stays in the pixels: on real camera photos saved as PNG crops, axis and period-8
peaks called 12 % of them generated (docs/signals.md). The price: a lossless
image's genuine x8 grid is discounted like a JPEG's; only x4-type grids (1/4
points off the axes) trigger the score."""


def analyze_pixels(
    rgb: np.ndarray, *, path: str | Path | None = None, data: bytes | None = None
) -> list[Evidence]:
    """Spectral-peak evidence and JPEG-history evidence for one decoded image.

    ``rgb`` is (H, W, 3|4) or (H, W), uint8 or float. ``path`` or ``data`` (the
    file's bytes) enable the JPEG history; without them it is "unknown". Never
    raises: a failure becomes an Evidence with ``error`` set.
    """
    try:
        arr = np.asarray(rgb)
        height, width = int(arr.shape[0]), int(arr.shape[1])
    except Exception as e:  # noqa: BLE001
        msg = f"expected an image array, got {type(rgb).__name__} ({e})"
        return [_failed("spectrum", "periodic_peaks", msg), _failed("jpeg", "jpeg_history", msg)]

    spec, offgrid, spec_error = None, None, None
    try:
        residual = noise_residual(arr)
        if min(residual.shape) < MIN_SIDE:
            spec_error = f"the image is too small (need at least {MIN_SIDE}x{MIN_SIDE} pixels)"
        elif float(np.std(residual)) < 1e-3:
            spec_error = "the image is flat (no noise at all), so there is no residual to analyse"
        else:
            spec = power_spectrum(residual)
            offgrid = offgrid_peak(spec)
    except Exception as e:  # noqa: BLE001
        spec_error = f"{type(e).__name__}: {e}"

    try:
        history = read_jpeg_history(data=data, path=path, offgrid=offgrid)
    except Exception as e:  # noqa: BLE001 - read_jpeg_history is defensive; belt and braces
        history = JpegHistory(None, f"JPEG history unknown: {type(e).__name__}: {e}")
    reliability = pixel_reliability(history, (width, height))
    out = [_spectral_evidence(spec, offgrid, history, reliability, spec_error, (width, height))]
    jpeg = _jpeg_evidence(history, reliability)
    jpeg.details["history_reliability"] = pixel_reliability(history, (width, height), area=False)
    out.append(jpeg)
    return out


def _failed(source: str, name: str, msg: str) -> Evidence:
    return Evidence(source=source, name=name, error=msg, explanation=f"This signal could not be computed: {msg}.")


def _period(p_fx: str, p_fy: str) -> int:
    a, b = Fraction(p_fx), Fraction(p_fy)
    return int(np.lcm(a.denominator if a else 1, b.denominator if b else 1))


def _spectral_evidence(spec, offgrid, history: JpegHistory, reliability: float, error, size) -> Evidence:
    if spec is None:
        return Evidence(
            source="spectrum", name="periodic_peaks", direction="none", reliability=0.0,
            explanation=f"The periodic-pattern test could not run on this {size[0]}x{size[1]} image: {error}.",
            error=error,
        )  # fmt: skip
    ps: PeakScore = periodic_peaks(spec, is_jpeg=history.is_jpeg is True, offgrid=offgrid,
                                   jpeg_rules=JPEG_RULES_ALWAYS or history.is_jpeg is True)
    top = ps.top(1)[0]
    details = ps.to_dict()
    details["threshold"] = GENERATED_THRESHOLD
    details["pixel_reliability"] = reliability
    caveat = "" if reliability >= 0.8 else f" Reliability is reduced ({reliability:.2f}) by: {history.summary}."
    if ps.score >= GENERATED_THRESHOLD:
        period = _period(top.fx, top.fy)
        text = (
            f"The fine noise of this image repeats on a regular grid every {period} pixels "
            f"(strongest at frequency ({top.fx}, {top.fy}), {top.ratio:.0f}x its surroundings). "
            "This is the trace left by the up-sampling layers of many image generators; camera sensors "
            "and JPEG compression do not explain it." + caveat
        )
        direction = "generated"
    else:
        text = (
            "No regular grid pattern beyond what cameras and JPEG produce was found in the fine noise. "
            "This is not proof of authenticity: many generators, and resizing or recompression, leave no "
            "such pattern."
        )
        if ps.half_band_strength >= GENERATED_THRESHOLD:
            text += " A 2-pixel pattern is present, but a camera's colour filter makes the same pattern, so it is not counted."
        if ps.jpeg_rules and ps.jpeg_grid_strength >= GENERATED_THRESHOLD:
            text += (" An 8-pixel block pattern is present and is not counted: JPEG compression makes it, "
                     "also in files that were JPEGs before they were converted.")
        text += caveat
        direction = "none"
    return Evidence(
        source="spectrum", name="periodic_peaks", direction=direction, strength=float(ps.score),
        reliability=reliability, explanation=text, details=details,
    )  # fmt: skip


def _jpeg_evidence(history: JpegHistory, reliability: float) -> Evidence:
    if history.is_jpeg is None:
        text = f"{history.summary}. Without the file, its compression history cannot be checked."
        rel = 0.0
    elif history.is_jpeg is False:
        text = (
            f"{history.summary}: no lossy compression is recorded in this file (it may still have been "
            "a JPEG before it was converted)."
        )
        rel = 1.0
    else:
        text = f"{history.summary}. This tells how much the pixel-level tests can be trusted ({reliability:.2f} of 1)."
        rel = 1.0
    details = history.to_dict()
    details["pixel_reliability"] = reliability
    return Evidence(
        source="jpeg", name="jpeg_history", direction="none", strength=0.0, reliability=rel,
        explanation=text, details=details,
    )  # fmt: skip
