"""JPEG history of a file, and how much it lets the pixel signals be trusted.

Every lossy save and every resize wipes out part of the fine periodic structure
that the spectral signal looks for. The history therefore reports what the file
went through and turns it into ``pixel_reliability``.

* Quality: the luminance quantisation table (Pillow's ``quantization``, natural
  order) is compared with the IJG standard table scaled for every quality
  1..100; the closest one wins. ``standard_tables`` says whether the match is
  exact (libjpeg/Pillow/most software) or approximate (camera or editor tables).
* Double compression, one method: the "double quantisation" (DQ) effect
  (Lukas & Fridrich 2003; Popescu & Farid 2004). The decoded luminance plane is
  re-transformed with the 8x8 DCT on the file's own grid and divided by the
  current table; quantising twice with different steps leaves a periodic
  pattern in the histogram of quantised values (empty or over-full bins every
  few values). What a single save looks like is estimated from the same file
  ("calibration", Fridrich's idea): the DCT on a grid shifted by 4 pixels does
  not line up with any earlier quantisation, so its histogram has the image's
  own shape without the pattern. For each of the 14 lowest AC frequencies the
  aligned histogram is compared with the calibrated one times a smooth
  correction (quadratic in log ratio); the periodogram of the standardised
  deviations, at periods of 2..``DQ_MAX_PERIOD`` bins, gives a
  Bonferroni-corrected p-value; the p-values are combined with Fisher's method
  and the file is flagged when the combined p < 1e-4.
  Why calibration: the earlier envelope (a quadratic in log counts) did not fit
  the sharp peak of real DCT histograms, and the misfit read as a long-period
  "pattern": it flagged 49 of 53 first-time q90 saves of real generator PNGs
  (docs/signals.md).
  It does not run on mostly flat images (``DQ_MIN_TEXTURED``), and cannot see a
  second save at the same quality, a first save whose steps were 1 (camera JPEGs
  at q >= ~95: nothing to leave a trace), or a crop that moved the 8x8 grid.
* Resize hint: image size against typical camera outputs and platform sizes,
  plus the strongest off-grid spectral peak (a resampled grid moves away from
  multiples of 1/8).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, JpegImagePlugin
from scipy.special import chdtrc  # chi2.sf without importing scipy.stats (most of a second)

from synthtrace.io.images import STD_CHROMINANCE, STD_LUMINANCE, ijg_scale, ijg_tables
from synthtrace.records import plain

from .residual import MAX_SIDE, centre_box

# The IJG standard tables live with the decoder (synthtrace.io.images); one copy.
STD_LUMA = np.asarray(STD_LUMINANCE, dtype=np.float64)
STD_CHROMA = np.asarray(STD_CHROMINANCE, dtype=np.float64)

# Lowest 14 AC coefficients in zig-zag order, as natural-order (row, col).
_ZIGZAG_AC = [(0, 1), (1, 0), (2, 0), (1, 1), (0, 2), (0, 3), (1, 2), (2, 1), (3, 0), (4, 0), (3, 1), (2, 2), (1, 3), (0, 4)]

CAMERA_SIZES = {
    (4000, 3000), (4032, 3024), (4608, 3456), (5184, 3456), (5472, 3648), (6000, 4000),
    (6016, 4000), (6240, 4160), (6720, 4480), (8192, 5464), (8256, 5504), (3264, 2448),
    (3648, 2736), (4928, 3264), (5568, 3712), (7952, 5304), (9248, 6936), (8000, 6000),
    (4080, 3072), (4624, 3472), (3840, 2160), (2592, 1944), (4000, 2250), (4032, 2268),
}  # fmt: skip
"""Common native sensor outputs (long x short side)."""
PLATFORM_LONG_SIDES = {320, 480, 540, 600, 640, 720, 800, 960, 1024, 1080, 1200, 1280, 1350, 1440, 1600, 1920, 2048, 2560}
"""Long sides that social networks and messengers resize to."""

QUALITY_RELIABILITY = [(0, 0.1), (30, 0.25), (50, 0.38), (60, 0.5), (70, 0.68), (80, 0.82), (90, 0.92), (100, 1.0)]
"""(quality, factor) points, linearly interpolated; documented in docs/signals.md."""
DOUBLE_COMPRESSION_FACTOR = 0.7
DOWNSCALED_FACTOR = 0.6
RESAMPLED_PEAK_FACTOR = 0.8
UNKNOWN_FILE_FACTOR = 0.9
DQ_PVALUE = 1e-4
"""Combined p-value below which double compression is flagged."""
DQ_MAX_PERIOD = 20
"""Longest histogram period (bins) the DQ test looks at. An earlier step q1 over the
current q2 repeats every q1/q2 bins (q70 -> q90: 3.5; a q18 camera table -> q90:
about 16); longer periods are where a smooth envelope's misfit lives."""
DQ_FLAT_STD = 2.0
DQ_MIN_TEXTURED = 0.4
"""The DQ test runs only when at least this share of the 8x8 blocks has a pixel
standard deviation above ``DQ_FLAT_STD`` grey levels. In a mostly flat image
(colour charts, sky, studio backdrops) the few edge blocks decide the histograms,
and the aligned and shifted grids see those edges differently: first-time q90
saves of such camera photos (downscaled, so no earlier grid survived) were flagged
in 26 of 48 cases; with this rule 0 of 144 photos are (docs/signals.md)."""
DQ_CALIBRATION_SHIFT = 4
"""Offset (pixels, both axes) of the calibration grid: half a block, as far from the
file's grid as it gets."""
OFFGRID_RATIO = 6.0
"""An off-grid spectral peak this many times its background suggests resampling."""


@dataclass(frozen=True)
class ResizeHint:
    width: int
    height: int
    size_class: str  # "camera", "platform", "other"
    likely_downscaled: bool
    offgrid_peak_ratio: float | None = None
    offgrid_peak_freq: tuple[float, float] | None = None
    likely_resampled: bool = False
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class DoubleCompression:
    flagged: bool
    score: float  # -log10(combined p) / 10, clipped to 0..1
    n_significant: int  # coefficients with p < 0.001 on their own
    n_tested: int
    n_blocks: int
    grid_error: float  # mean |DCT/q - round(DCT/q)|; ~0 when the 8x8 grid is where we think
    p_value: float = 1.0  # Fisher-combined p of "single compression"
    method: str = "DQ periodic histogram of 14 low AC DCT coefficients against a shifted-grid calibration"
    note: str = ""


@dataclass(frozen=True)
class JpegHistory:
    """What the file says about its compression history. ``is_jpeg`` None = no file given."""

    is_jpeg: bool | None
    summary: str
    format: str | None = None
    quality: float | None = None
    chroma_quality: float | None = None
    standard_tables: bool | None = None
    quant_tables: dict[int, list[int]] = field(default_factory=dict)
    subsampling: str | None = None
    double_compression: DoubleCompression | None = None
    resize: ResizeHint | None = None

    def to_dict(self) -> dict[str, Any]:
        return plain(self)


def ijg_table(std: np.ndarray, quality: int) -> np.ndarray:
    """IJG (libjpeg) scaling of a standard table for ``quality`` 1..100, baseline-clipped
    (libjpeg's integer arithmetic, shared with synthtrace.io.images)."""
    q = int(np.clip(quality, 1, 100))
    scale = 5000 // q if q < 50 else 200 - 2 * q
    return ijg_scale(np.asarray(std, dtype=np.int64), scale).astype(np.float64)


def estimate_quality(table: list[int] | np.ndarray, *, chroma: bool = False) -> tuple[float, bool]:
    """(quality, exact): the IJG quality whose scaled standard table is closest (mean |diff|)."""
    t = np.asarray(table, dtype=np.float64).ravel()
    if t.size != 64:
        raise ValueError(f"expected a 64-entry quantisation table, got {t.size} entries")
    errs = np.mean(np.abs(ijg_tables(STD_CHROMINANCE if chroma else STD_LUMINANCE) - t), axis=1)
    best = int(np.argmin(errs))
    return float(best + 1), bool(errs[best] == 0.0)


def _dct_matrix() -> np.ndarray:
    n = np.arange(8)
    d = np.cos(np.pi * (2 * n[None, :] + 1) * n[:, None] / 16) * np.sqrt(2 / 8)
    d[0] /= np.sqrt(2)
    return d


def _periodicity_pvalue(h: np.ndarray, g: np.ndarray) -> float | None:
    """Bonferroni p-value of the strongest periodic deviation of histogram ``h`` from
    the calibrated histogram ``g`` (same bins) times a smooth correction."""
    nz = np.nonzero(h >= 5)[0]
    if nz.size == 0:
        return None
    n_bins = int(nz[-1]) + 1
    if n_bins < 6:
        return None
    h = h[:n_bins].astype(np.float64)
    g = g[:n_bins].astype(np.float64)
    g *= h.sum() / max(g.sum(), 1.0)
    n = np.arange(n_bins, dtype=np.float64)
    # The shifted grid sees JPEG's block edges inside its blocks, which widens its
    # histogram a little: a smooth (quadratic) log-ratio absorbs that, never a period.
    coef = np.polyfit(n, np.log((h + 0.5) / (g + 0.5)), 2, w=1.0 / np.sqrt(1.0 / (h + 1.0) + 1.0 / (g + 1.0)))
    env = (g + 0.5) * np.exp(np.polyval(coef, n))
    z = (h - env) / np.sqrt(env + env**2 / (g + 1.0) + 1.0)  # Poisson noise of both histograms
    spec = np.abs(np.fft.rfft(z)) ** 2 / n_bins
    ks = np.arange(2, spec.size)
    ks = ks[n_bins / ks <= DQ_MAX_PERIOD]
    if ks.size == 0:
        return None
    pk = spec[ks]
    tails = np.exp(-pk)  # Exp(1) tail of a periodogram ordinate under the null
    if n_bins % 2 == 0 and ks[-1] == spec.size - 1:  # the Nyquist ordinate is chi2(1): use its tail instead
        tails[-1] = chdtrc(1, 2 * pk[-1])
    return float(min(1.0, np.min(tails) * ks.size))


def _dct_coefficients(y: np.ndarray, steps: np.ndarray, basis: np.ndarray, offset: int) -> np.ndarray:
    """DC + the 14 tested AC coefficients / their steps, for every unclipped 8x8 block
    of the grid that starts at (offset, offset)."""
    y = y[offset:, offset:]
    hh, ww = (y.shape[0] // 8) * 8, (y.shape[1] // 8) * 8
    blocks = y[:hh, :ww].reshape(hh // 8, 8, ww // 8, 8).swapaxes(1, 2).reshape(-1, 8, 8)
    keep = (blocks.min(axis=(1, 2)) > 0) & (blocks.max(axis=(1, 2)) < 255)  # clipping breaks the model
    return ((blocks[keep].reshape(-1, 64) - 128.0) @ basis) / steps


def double_compression(y_plane: np.ndarray, luma_table: list[int] | np.ndarray) -> DoubleCompression:
    """DQ test on a decoded luminance plane whose 8x8 grid starts at (0, 0)."""
    y = np.asarray(y_plane, dtype=np.float64)
    q = np.asarray(luma_table, dtype=np.float64).reshape(8, 8)
    if min(y.shape[:2]) < 64 + DQ_CALIBRATION_SHIFT:
        return DoubleCompression(False, 0.0, 0, 0, 0, 0.0, note="image too small for the DQ test (< 68x68)")
    hh, ww = (y.shape[0] // 8) * 8, (y.shape[1] // 8) * 8
    block_std = y[:hh, :ww].reshape(hh // 8, 8, ww // 8, 8).std(axis=(1, 3))
    textured = float(np.mean(block_std > DQ_FLAT_STD))
    if textured < DQ_MIN_TEXTURED:
        return DoubleCompression(False, 0.0, 0, 0, int(block_std.size), 0.0,
                                 note=f"image too flat for the DQ test ({textured:.0%} of blocks textured, "
                                      f"need {DQ_MIN_TEXTURED:.0%})")
    d = _dct_matrix()
    # Only the 14 tested coefficients plus DC: one (N, 64) x (64, 15) product per grid.
    pos = [(0, 0), *_ZIGZAG_AC]
    basis = np.stack([np.outer(d[r], d[c]).ravel() for r, c in pos], axis=1)
    steps = np.array([q[r, c] for r, c in pos])
    k = _dct_coefficients(y, steps, basis, 0)
    ints = np.rint(k)
    cal = np.rint(_dct_coefficients(y, steps, basis, DQ_CALIBRATION_SHIFT))
    grid_error = float(np.mean(np.abs(k - ints)[:, :3])) if len(k) else 0.0
    pvals = []
    for j, (r, c) in enumerate(_ZIGZAG_AC, start=1):
        if q[r, c] < 2:  # a step of 1 cannot show a second quantisation
            continue
        # bins 1, 2, ...: 0 dominates and is skipped
        h = np.bincount(np.abs(ints[:, j]).astype(np.int64), minlength=41)[1:41]
        g = np.bincount(np.abs(cal[:, j]).astype(np.int64), minlength=41)[1:41]
        p = _periodicity_pvalue(h, g)
        if p is not None:
            pvals.append(max(p, 1e-300))
    note = ""
    if grid_error > 0.2:
        note = "the 8x8 grid does not line up (cropped or re-encoded from a resized image?): test unreliable"
    if not pvals:
        return DoubleCompression(False, 0.0, 0, 0, int(len(k)), grid_error, 1.0, note=note or "no usable coefficient")
    combined = float(chdtrc(2 * len(pvals), -2.0 * np.sum(np.log(pvals))))  # Fisher's method
    score = float(np.clip(-np.log10(max(combined, 1e-300)) / 10.0, 0.0, 1.0))
    flagged = combined < DQ_PVALUE and grid_error <= 0.2
    n_sig = int(sum(p < 1e-3 for p in pvals))
    return DoubleCompression(flagged, score, n_sig, len(pvals), int(len(k)), grid_error, combined, note=note)


def resize_hint(width: int, height: int, offgrid: dict[str, float] | None = None) -> ResizeHint:
    """Classify the size and read the off-grid spectral peak (see module docstring)."""
    long_side, short_side = max(width, height), min(width, height)
    reasons = []
    if (long_side, short_side) in CAMERA_SIZES:
        size_class = "camera"
        reasons.append(f"{long_side}x{short_side} is a common native camera size")
    elif long_side in PLATFORM_LONG_SIDES:
        size_class = "platform"
        reasons.append(f"long side {long_side} px is a size that platforms resize to")
    else:
        size_class = "other"
    likely_down = size_class == "platform"
    ratio = freq = None
    resampled = False
    if offgrid:
        ratio = float(offgrid.get("ratio", 0.0))
        freq = (float(offgrid.get("fx", 0.0)), float(offgrid.get("fy", 0.0)))
        resampled = ratio >= OFFGRID_RATIO
        if resampled:
            reasons.append(f"a periodic peak off the 8-pixel grid ({ratio:.1f}x background) suggests resampling")
    return ResizeHint(width, height, size_class, likely_down, ratio, freq, resampled, tuple(reasons))


def read_jpeg_history(
    data: bytes | None = None,
    path: str | Path | None = None,
    *,
    offgrid: dict[str, float] | None = None,
    max_side: int = MAX_SIDE,
) -> JpegHistory:
    """Read the JPEG history from file bytes (or a path). Never raises on a bad file."""
    if data is None and path is not None:
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            return JpegHistory(None, f"JPEG history unknown: cannot read {path} ({e})")
    if data is None:
        return JpegHistory(None, "JPEG history unknown: only pixels were given, no file")
    try:
        im = Image.open(io.BytesIO(data))
        fmt = im.format or "unknown"
        w, h = im.size
    except Exception as e:  # noqa: BLE001 - any decoder failure becomes a plain message
        return JpegHistory(None, f"JPEG history unknown: the file could not be opened ({type(e).__name__}: {e})")
    hint = resize_hint(w, h, offgrid)
    if fmt != "JPEG":
        return JpegHistory(False, f"no JPEG history: the file is {fmt}", format=fmt, resize=hint)
    tables = {int(k): list(v) for k, v in getattr(im, "quantization", {}).items()}
    if 0 not in tables:
        return JpegHistory(True, "JPEG without a readable luminance quantisation table", format=fmt, resize=hint)
    quality, exact = estimate_quality(tables[0])
    cq = estimate_quality(tables[1], chroma=True)[0] if 1 in tables else None
    sub = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}.get(_subsampling(im), None)
    dc = None
    try:
        if im.mode in ("RGB", "YCbCr"):
            im.draft("YCbCr", im.size)  # decode without colour conversion: the exact Y plane
        top, left, ch, cw = centre_box(h, w, max_side)
        crop = im.crop((left, top, left + cw, top + ch))  # decodes once, copies only the crop
        y = np.asarray(crop.convert("YCbCr") if crop.mode not in ("YCbCr", "L") else crop)
        y = y[..., 0] if y.ndim == 3 else y
        dc = double_compression(y, tables[0])
    except Exception as e:  # noqa: BLE001
        dc = DoubleCompression(False, 0.0, 0, 0, 0, 0.0, note=f"DQ test failed: {type(e).__name__}: {e}")
    parts = [f"JPEG, estimated quality {quality:.0f}" + ("" if exact else " (non-standard tables)")]
    if dc.flagged:
        parts.append("signs of an earlier JPEG save (double compression)")
    if hint.likely_downscaled:
        parts.append("size typical of a platform resize")
    if hint.likely_resampled:
        parts.append("spectral hint of resampling")
    return JpegHistory(
        True, "; ".join(parts), format=fmt, quality=quality, chroma_quality=cq, standard_tables=exact,
        quant_tables=tables, subsampling=sub, double_compression=dc, resize=hint,
    )  # fmt: skip


def _subsampling(im: Image.Image) -> int:
    try:
        return int(JpegImagePlugin.get_sampling(im))
    except Exception:  # noqa: BLE001
        return -1


def pixel_reliability(history: JpegHistory, size: tuple[int, int], *, area: bool = True) -> float:
    """How far pixel statistics can be trusted for this file, 0..1 (table in docs/signals.md).

    Product of: a quality factor (``QUALITY_RELIABILITY``, 1.0 for lossless),
    0.7 if double compression is flagged, 0.6 if the size is a platform resize
    size, 0.8 if an off-grid spectral peak suggests resampling, 0.9 when no file
    was given, and an area factor sqrt(analysed pixels / 512^2) clipped to
    0.3..1 (a small crop gives a noisy spectrum). ``area=False`` leaves the area
    factor out: for a learned detector, validated at its own input size, only the
    file's history matters.
    """
    w, h = int(size[0]), int(size[1])
    f = 1.0
    if history.is_jpeg is None:
        f *= UNKNOWN_FILE_FACTOR
    if history.is_jpeg and history.quality is not None:
        qs, fs = zip(*QUALITY_RELIABILITY)
        f *= float(np.interp(history.quality, qs, fs))
    if history.double_compression is not None and history.double_compression.flagged:
        f *= DOUBLE_COMPRESSION_FACTOR
    hint = resize_hint(w, h, None)
    if hint.likely_downscaled:
        f *= DOWNSCALED_FACTOR
    if history.resize is not None and history.resize.likely_resampled:
        f *= RESAMPLED_PEAK_FACTOR
    if area:
        analysed = min(w, MAX_SIDE) * min(h, MAX_SIDE)
        f *= float(np.clip(np.sqrt(analysed / 512.0**2), 0.3, 1.0))
    return float(np.clip(f, 0.0, 1.0))
