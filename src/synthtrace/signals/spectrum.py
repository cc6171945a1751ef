"""Power spectrum of the noise residual and a periodic-peak score.

Learned up-sampling (transposed convolution, pixel shuffle, ...) repeats the same
weights every 2, 4 or 8 output pixels. That periodic gain copies the image's
energy to the grid frequencies k/8 cycles/pixel, which shows as sharp peaks in
the residual's power spectrum and as a lattice in its autocorrelation.

Estimate: Welch's method. The residual is cut into ``tile`` x ``tile`` tiles
(50 % overlap when fewer than 16 disjoint tiles fit), each mean-subtracted and
multiplied by a 2-D Hann window; the power spectra are averaged (averaging N tiles makes each bin's relative error about
1/sqrt(N)) and divided by their mean so the spectrum has no unit.

Peak strength at a grid frequency f = power at f / median power of its
neighbourhood (a 9x9 bin window minus its centre 3x3, or for points on an axis
13 bins along that axis minus the centre 3, because residual spectra often carry
a bright cross along the axes from horizontal and vertical structures). The
ratio is compared with what chance gives for this many tiles
(``1 + 4 / sqrt(N)``) and mapped to 0..1 on a log scale: the ratio saturates at
``SATURATION`` times the chance level.

What the score counts (documented in docs/signals.md):

* Demosaicing: a camera's colour filter array repeats every 2 pixels and puts a
  peak at 1/2 (on the axes and at (1/2, 1/2)) in genuine photos. Those three
  points are weighted by ``HALF_BAND_WEIGHT`` (0.5), so a 1/2 peak alone never
  reaches the "generated" threshold; their strength is reported as
  ``half_band_strength``. A x2-only generator is therefore not detected by this
  score; x4 and x8 up-sampling also peak at 1/4 and 1/8, which demosaicing does
  not explain.
* JPEG: the 8x8 block grid puts peaks on the axes at 1/8, 1/4, 3/8 and 1/2.
  Worse, quantising each 8x8 block modulates any strong pattern (a demosaic
  1/2 peak) by the block grid, which copies it to every (a/8, b/8): measured on
  a camera-like checkerboard saved at q75-q90, the copies next to (1/2, 1/2)
  reached 20-66 % of it and scored 1.0 before these rules. So, in a JPEG file,
  axis points and every point with an odd multiple of 1/8 ("period 8", the
  block period itself) are "jpeg_grid" (weight ``JPEG_AXIS_WEIGHT`` = 0.25,
  strength reported as ``jpeg_grid_strength``); the remaining 1/4 points
  count only when stronger than every period-8 point (a x4 grid is stronger at
  1/4 than its own copies at 3/8; demosaic copies are strongest at 3/8).
  Consequence: in a JPEG only x4-type grids (1/4 points) can trigger the score.
* Intermodulation in any file (a PNG can be a converted JPEG): a point weaker
  than ``INTERMOD_FRACTION`` (10 %) of the strongest 1/2 peak, and with a
  period-8 point at least ``PERIOD8_FRACTION`` (half) as strong (JPEG's copies
  always include period-8 points), is treated as its copy ("intermodulation",
  weight 0.25). The period-8 condition was added after a measured failure:
  on the lossless built-in benchmark, decoders that up-sample x2 per stage
  have a strong 1/2 peak, and the 10 % rule alone discounted their genuine
  1/4 peaks in 96 % of tconv / pixel-shuffle fakes although no JPEG trace was
  present (docs/measurements-signals.md).

score = max over grid frequencies of weight x strength. A missing peak is not
evidence of authenticity: bilinear/nearest up-sampling and diffusion decoders
often leave none.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
from scipy import fft as sfft
from scipy import ndimage

from synthtrace.records import plain

SATURATION = 8.0
"""A peak this many times above the chance level gets strength 1."""
HALF_BAND_WEIGHT = 0.5
"""Weight of the 1/2 points, which demosaicing also explains."""
JPEG_AXIS_WEIGHT = 0.25
"""Weight of on-axis multiples of 1/8 in a JPEG file (the block grid explains them)."""
INTERMOD_FRACTION = 0.1
"""Grid peaks weaker than this fraction of the strongest 1/2 peak are treated as its
intermodulation products with the JPEG grid (see the module docstring)."""
PERIOD8_FRACTION = 0.5
"""Outside the JPEG-only rules, a point is an intermodulation copy only if some
period-8 point (JPEG's own period) is at least this fraction of it: JPEG's copies
of a 1/2 peak include period-8 points of comparable strength (0.93x the strongest
1/4 copy on a q90 checkerboard), x2-per-stage decoders' 1/4 peaks do not (median
0.05-0.44x on the built-in benchmark's tconv / pixel-shuffle fakes)."""
MIN_SIDE = 32
"""Smallest residual side that can be analysed."""


@dataclass(frozen=True)
class Peak:
    """Strength of one grid frequency (cycles/pixel; fx horizontal, fy vertical)."""

    fx: str
    fy: str
    ratio: float
    strength: float
    weight: float
    explained_by: str | None  # "jpeg_grid", "demosaic" or None


@dataclass(frozen=True)
class PeakScore:
    """Result of ``periodic_peaks``; ``peaks`` lists every grid point."""

    score: float
    peaks: list[Peak]
    jpeg_grid_strength: float
    half_band_strength: float
    by_order: dict[str, float]
    chance_ratio: float
    n_tiles: int
    tile: int
    is_jpeg: bool
    offgrid: dict[str, float] = field(default_factory=dict)
    jpeg_rules: bool = False  # whether the JPEG-grid discounts were applied (see periodic_peaks)

    def top(self, n: int = 3) -> list[Peak]:
        """The ``n`` peaks with the largest weighted strength."""
        return sorted(self.peaks, key=lambda p: p.weight * p.strength, reverse=True)[:n]

    def to_dict(self) -> dict[str, Any]:
        d = plain(self)
        d["top"] = [plain(p) for p in self.top()]
        return d


@dataclass(frozen=True)
class Spectrum:
    """Averaged power spectrum (unshifted, full plane, mean 1) and its metadata."""

    power: np.ndarray
    tile: int
    n_tiles: int
    n_independent: float  # area / tile**2: the tiles' worth of independent data


def choose_tile(height: int, width: int) -> int:
    """128 px tiles when the crop allows 2 per side, else 64, else 32."""
    side = min(height, width)
    for t in (128, 64):
        if side >= 2 * t:
            return t
    return 32


def power_spectrum(residual: np.ndarray, tile: int | None = None) -> Spectrum:
    """Welch power spectrum of a 2-D residual; raises ValueError if too small."""
    r = np.asarray(residual, dtype=np.float32)
    if r.ndim != 2 or min(r.shape) < MIN_SIDE:
        raise ValueError(
            f"residual of shape {r.shape} is too small; need at least {MIN_SIDE}x{MIN_SIDE} pixels"
        )
    t = tile or choose_tile(*r.shape)
    # 50 % overlap only while tiles are scarce: it adds stability on small
    # images, and on a 1024 px crop 64 disjoint tiles are already plenty.
    step = t if (r.shape[0] // t) * (r.shape[1] // t) >= 16 else t // 2
    ys = range(0, r.shape[0] - t + 1, step)
    xs = range(0, r.shape[1] - t + 1, step)
    tiles = np.stack([r[y : y + t, x : x + t] for y in ys for x in xs])
    tiles = tiles - tiles.mean(axis=(1, 2), keepdims=True)
    win = np.hanning(t).astype(np.float32)
    tiles *= np.outer(win, win)[None]
    half = (np.abs(sfft.rfft2(tiles)) ** 2).mean(axis=0, dtype=np.float64)  # one thread: scans run side by side
    full = _full_plane(half, t)
    mean = float(full.mean())
    power = full / mean if mean > 0 else np.ones_like(full)
    n_ind = r.shape[0] * r.shape[1] / float(t * t)
    return Spectrum(power=power, tile=t, n_tiles=len(tiles), n_independent=n_ind)


def _full_plane(half: np.ndarray, t: int) -> np.ndarray:
    """Rebuild the full spectrum of a real signal from its rfft2 half plane."""
    full = np.empty((t, t), dtype=np.float64)
    full[:, : t // 2 + 1] = half
    ky = (-np.arange(t)) % t
    kx = t - np.arange(t // 2 + 1, t)
    full[:, t // 2 + 1 :] = half[ky][:, kx]
    return full


def autocorrelation(power: np.ndarray) -> np.ndarray:
    """Autocorrelation of the residual (inverse FFT of the power), zero lag = 1, unshifted."""
    ac = np.real(np.fft.ifft2(power))
    return ac / ac[0, 0] if ac[0, 0] != 0 else ac


def _grid_points() -> list[tuple[int, int]]:
    """Unique (kx, ky) in eighths, one of each +-f pair, without DC."""
    seen: set[tuple[int, int]] = set()
    out = []
    for ky in range(-3, 5):
        for kx in range(0, 5):
            if (kx, ky) == (0, 0):
                continue
            a, b = (kx % 8, ky % 8), ((-kx) % 8, (-ky) % 8)
            if a in seen or b in seen:
                continue
            seen.add(a)
            out.append((kx, ky))
    return out


GRID_POINTS = _grid_points()


def _label(k: int) -> str:
    return str(Fraction(k, 8))


_AXIS_OFFSETS = np.array([d for d in range(-6, 7) if abs(d) > 1])
_WINDOW = np.ones((9, 9), dtype=bool)
_WINDOW[3:6, 3:6] = False  # the 9x9 neighbourhood minus the peak's own 3x3
_WINDOW_DY, _WINDOW_DX = (np.nonzero(_WINDOW)[0] - 4), (np.nonzero(_WINDOW)[1] - 4)


def _backgrounds(p: np.ndarray, iy: np.ndarray, ix: np.ndarray) -> np.ndarray:
    """Median background of each grid point (windows in the module docstring), wrapping at the edges."""
    t = p.shape[0]
    out = np.empty(len(iy))
    on_x, on_y = iy == 0, (ix == 0) & (iy != 0)  # fy == 0: along the horizontal axis; fx == 0: vertical
    off = ~(on_x | on_y)
    out[on_x] = np.median(p[iy[on_x, None], (ix[on_x, None] + _AXIS_OFFSETS) % t], axis=1)
    out[on_y] = np.median(p[(iy[on_y, None] + _AXIS_OFFSETS) % t, ix[on_y, None]], axis=1)
    out[off] = np.median(p[(iy[off, None] + _WINDOW_DY) % t, (ix[off, None] + _WINDOW_DX) % t], axis=1)
    return out


@functools.lru_cache(maxsize=8)
def _rings(t: int) -> tuple[np.ndarray, np.ndarray]:
    """(ring of each bin, flattened; bins per ring) for a t x t unshifted spectrum."""
    k = np.fft.fftfreq(t) * t
    r = np.minimum(np.rint(np.hypot(*np.meshgrid(k, k, indexing="ij"))).astype(int), t // 2 - 1).ravel()
    return r, np.bincount(r, minlength=t // 2)


def radial_whiten(power: np.ndarray) -> np.ndarray:
    """Divide by the median power at the same radius |f| (rings beyond 1/2 use the last ring).

    Image content gives isotropic bumps and rings in the residual spectrum (a
    smooth texture leaks through the denoiser as a band-pass ring); on a small
    image, where bins are coarse, a ring crossing a grid point looks like a
    peak. Whitening removes anything isotropic and keeps sharp, isolated peaks.
    """
    t = power.shape[0]
    r, counts = _rings(t)
    # One sort by (ring, power) gives every ring's median at once.
    vals = power.ravel()[np.lexsort((power.ravel(), r))]
    starts = np.cumsum(counts) - counts
    lo = vals[np.minimum(starts + (counts - 1) // 2, vals.size - 1)]
    hi = vals[np.minimum(starts + counts // 2, vals.size - 1)]
    prof = np.where(counts > 0, np.maximum((lo + hi) / 2, 1e-12), 1.0)
    return power / prof[r].reshape(power.shape)


def _explain(peaks: list[Peak], is_jpeg: bool) -> list[Peak]:
    """Set ``explained_by`` and ``weight`` of each grid peak (rules in the module docstring)."""
    kinds = []
    for kx, ky in GRID_POINTS:
        if {abs(kx), abs(ky)} <= {0, 4}:
            kinds.append("half")
        elif kx == 0 or ky == 0:
            kinds.append("axis")
        elif kx % 2 or ky % 2:
            kinds.append("odd")  # an odd multiple of 1/8 on at least one axis: period 8
        else:
            kinds.append("quarter")
    half_max = max(pk.ratio for pk, k in zip(peaks, kinds) if k == "half")
    odd_max = max(pk.ratio for pk, k in zip(peaks, kinds) if k == "odd")
    # Strongest point of period 8 (an odd multiple of 1/8 on either axis, axes included):
    # JPEG's block grid copies a 1/2 peak to these too, so a point with no period-8
    # point of comparable strength has no JPEG trace to be explained by.
    period8_max = max(pk.ratio for pk, (kx, ky) in zip(peaks, GRID_POINTS) if kx % 2 or ky % 2)
    out = []
    for pk, kind in zip(peaks, kinds):
        explained, weight = None, 1.0
        if kind == "half":
            explained, weight = "demosaic", HALF_BAND_WEIGHT
        elif is_jpeg and kind in ("axis", "odd"):
            explained, weight = "jpeg_grid", JPEG_AXIS_WEIGHT
        elif (pk.ratio < INTERMOD_FRACTION * half_max and PERIOD8_FRACTION * pk.ratio <= period8_max) or (
            is_jpeg and pk.ratio <= odd_max
        ):
            explained, weight = "intermodulation", JPEG_AXIS_WEIGHT
        out.append(Peak(pk.fx, pk.fy, pk.ratio, pk.strength, weight, explained))
    return out


def periodic_peaks(
    spec: Spectrum, *, is_jpeg: bool = False, offgrid: dict[str, float] | None = None,
    jpeg_rules: bool | None = None,
) -> PeakScore:
    """Score peaks at multiples of 1/8 cycles/pixel against their local background.

    ``jpeg_rules`` applies the JPEG-grid discounts (axis and period-8 points, weaker
    1/4 points) whatever the container; the default follows ``is_jpeg``.
    ``analyze_pixels`` always applies them, because a PNG can be a converted JPEG
    (docs/signals.md, "Calibration on real camera photos").
    """
    rules = is_jpeg if jpeg_rules is None else bool(jpeg_rules)
    p, t = radial_whiten(spec.power), spec.tile
    chance = 1.0 + 4.0 / np.sqrt(max(spec.n_independent, 1.0))
    kxs, kys = np.array(GRID_POINTS).T
    ixs, iys = (kxs * t // 8) % t, (kys * t // 8) % t
    bgs = _backgrounds(p, iys, ixs)
    peaks: list[Peak] = []
    for kx, ky, ix, iy, bg in zip(kxs.tolist(), kys.tolist(), ixs, iys, bgs):
        ratio = float(p[iy, ix] / bg) if bg > 0 else 0.0
        strength = float(np.clip(np.log(max(ratio, 1e-12) / chance) / np.log(SATURATION), 0.0, 1.0))
        peaks.append(Peak(_label(kx), _label(ky), ratio, strength, 1.0, None))
    peaks = _explain(peaks, rules)
    by_order: dict[str, float] = {"1/2": 0.0, "1/4": 0.0, "1/8": 0.0}
    for (kx, ky), pk in zip(GRID_POINTS, peaks):
        order = max(Fraction(kx, 8).denominator, Fraction(ky, 8).denominator)
        key = f"1/{order}"
        by_order[key] = max(by_order[key], pk.strength)
    return PeakScore(
        score=max((pk.weight * pk.strength for pk in peaks), default=0.0),
        peaks=peaks,
        jpeg_grid_strength=max((pk.strength for pk in peaks if pk.explained_by == "jpeg_grid"), default=0.0),
        half_band_strength=max(
            (pk.strength for (kx, ky), pk in zip(GRID_POINTS, peaks) if {abs(kx), abs(ky)} <= {0, 4}),
            default=0.0,
        ),
        by_order=by_order,
        chance_ratio=float(chance),
        n_tiles=spec.n_tiles,
        tile=t,
        is_jpeg=is_jpeg,
        offgrid=offgrid if offgrid is not None else offgrid_peak(spec),
        jpeg_rules=rules,
    )


OFFGRID_CANDIDATES = 128
"""Bins that get an exact 9x9 median background in ``offgrid_peak``."""


def offgrid_peak(spec: Spectrum) -> dict[str, float]:
    """Strongest peak away from DC and the 1/8 grid: a hint of resampling.

    A resized image moves its old grid peaks (JPEG blocks, demosaicing) to
    frequencies that are no longer multiples of 1/8. Returns the frequency
    (cycles/pixel) and ratio to the 9x9 median background (axes: 13-bin median
    along the axis).

    A full 9x9 median filter cost a fifth of a scan's pixel-signal time, so exact
    medians are taken only for the ``OFFGRID_CANDIDATES`` bins with the largest
    ratio to their 9x9 mean: a peak that stands out from its median also stands
    out from its mean. The axes are 1-D and keep their exact filter. Against the
    full filter on 339 spectra (built-in benchmark, smooth JPEGs, resized copies)
    the answer was identical for 336 and for every peak near the resampling
    threshold; the 3 others were noise-level peaks (ratio 2.4-3.5, within 10 %).
    """
    p, t = spec.power, spec.tile
    f = np.fft.fftfreq(t)
    fy, fx = np.meshgrid(f, f, indexing="ij")
    mask = np.hypot(fx, fy) > 5.0 / t  # away from DC
    near = (np.abs(fx * 8 - np.round(fx * 8)) * t / 8 <= 1.5) & (np.abs(fy * 8 - np.round(fy * 8)) * t / 8 <= 1.5)
    mask &= ~near
    if not mask.any():
        return {"fx": 0.0, "fy": 0.0, "ratio": 0.0}
    ratio = np.zeros_like(p)
    ratio[0, :] = p[0, :] / np.maximum(ndimage.median_filter(p[0, :], size=13, mode="wrap"), 1e-12)
    ratio[:, 0] = p[:, 0] / np.maximum(ndimage.median_filter(p[:, 0], size=13, mode="wrap"), 1e-12)
    inner = mask.copy()
    inner[0, :] = inner[:, 0] = False
    if inner.any():
        q = p.copy()  # the bright axis cross would inflate the mean of every bin next to it
        q[0, :], q[:, 0] = q[1, :], q[:, 1]
        rough = np.where(inner, p / np.maximum(ndimage.uniform_filter(q, size=9, mode="wrap"), 1e-12), -1.0)
        k = min(OFFGRID_CANDIDATES, int(inner.sum()))
        cy, cx = np.unravel_index(np.argpartition(rough.ravel(), -k)[-k:], p.shape)
        offs = np.arange(-4, 5)
        rows, cols = (cy[:, None] + offs) % t, (cx[:, None] + offs) % t
        med = np.median(p[rows[:, :, None], cols[:, None, :]].reshape(k, -1), axis=1)
        ratio[cy, cx] = p[cy, cx] / np.maximum(med, 1e-12)
    masked = np.where(mask, ratio, 0.0)
    iy, ix = np.unravel_index(int(np.argmax(masked)), masked.shape)
    return {"fx": float(abs(fx[iy, ix])), "fy": float(fy[iy, ix] * np.sign(fx[iy, ix] or 1.0)), "ratio": float(masked[iy, ix])}
