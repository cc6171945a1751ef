"""A simulated camera: optics, PRNU, Bayer CFA, sensor noise, demosaicing, tone.

Real photographs carry traces of how they were captured; these are the ones the
forensics literature relies on (and the ones a detector may wrongly rely on when
fakes never carry them, which is why generator families imitate some of them).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage

from .seeding import stable_seed


@dataclass(frozen=True)
class Camera:
    name: str
    demosaic: str  # "bilinear" | "edge"
    prnu_strength: float  # std of the multiplicative sensor pattern
    denoise: float  # 0..1 blend toward a smoothed image (in-camera noise reduction)
    sharpen: float  # unsharp-mask amount


CAMERAS: dict[str, Camera] = {
    c.name: c
    for c in (
        Camera("cam0", demosaic="bilinear", prnu_strength=0.015, denoise=0.0, sharpen=0.0),
        Camera("cam1", demosaic="edge", prnu_strength=0.010, denoise=0.4, sharpen=0.3),
        Camera("cam2", demosaic="bilinear", prnu_strength=0.020, denoise=0.2, sharpen=0.6),
        # Held out: never in train/val; tests whether a detector learned "this camera".
        Camera("cam3", demosaic="edge", prnu_strength=0.012, denoise=0.0, sharpen=0.4),
    )
}
SEEN_CAMERAS = ("cam0", "cam1", "cam2")
HELD_OUT_CAMERAS = ("cam3",)


@lru_cache(maxsize=16)
def prnu_pattern(camera: str, size: int) -> np.ndarray:
    """The camera's fixed sensor pattern: the same for every photo it takes."""
    rng = np.random.default_rng(stable_seed("prnu", camera, size))
    k = rng.standard_normal((size, size)).astype(np.float32)
    return ndimage.gaussian_filter(k, 0.5)  # slight spatial correlation, as in real sensors


def box_down2(img: np.ndarray) -> np.ndarray:
    """2x2 mean: the sensor integrates light over each photosite."""
    h, w = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2
    x = img[:h, :w]
    return 0.25 * (x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2])


def blur(img: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return img
    return ndimage.gaussian_filter(img, (sigma, sigma, 0) if img.ndim == 3 else sigma, mode="reflect")


def cfa_masks(h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RGGB Bayer masks."""
    r = np.zeros((h, w), np.float32)
    g = np.zeros((h, w), np.float32)
    b = np.zeros((h, w), np.float32)
    r[0::2, 0::2] = 1
    g[0::2, 1::2] = 1
    g[1::2, 0::2] = 1
    b[1::2, 1::2] = 1
    return r, g, b


_K_RB = np.array([[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]], np.float32)
_K_G = np.array([[0.0, 0.25, 0.0], [0.25, 1.0, 0.25], [0.0, 0.25, 0.0]], np.float32)


def mosaic(rgb: np.ndarray) -> np.ndarray:
    r, g, b = cfa_masks(*rgb.shape[:2])
    return rgb[..., 0] * r + rgb[..., 1] * g + rgb[..., 2] * b


def demosaic(raw: np.ndarray, method: str) -> np.ndarray:
    """Bilinear demosaicing, or edge-directed green with bilinear chroma."""
    h, w = raw.shape
    mr, mg, mb = cfa_masks(h, w)
    red = ndimage.correlate(raw * mr, _K_RB, mode="mirror")
    blue = ndimage.correlate(raw * mb, _K_RB, mode="mirror")
    if method == "bilinear":
        green = ndimage.correlate(raw * mg, _K_G, mode="mirror")
    elif method == "edge":
        p = np.pad(raw, 1, mode="reflect")
        horiz = 0.5 * (p[1:-1, :-2] + p[1:-1, 2:])
        vert = 0.5 * (p[:-2, 1:-1] + p[2:, 1:-1])
        dh = np.abs(p[1:-1, :-2] - p[1:-1, 2:])
        dv = np.abs(p[:-2, 1:-1] - p[2:, 1:-1])
        interp = np.where(dh < dv, horiz, np.where(dv < dh, vert, 0.5 * (horiz + vert)))
        green = np.where(mg > 0, raw, interp)
    else:
        raise ValueError(f"unknown demosaic method {method!r}; expected 'bilinear' or 'edge'")
    return np.stack([red, green, blue], axis=-1)


def draw_noise_level(rng: np.random.Generator) -> float:
    """Sensor noise std at mid-grey (linear light), from a wide ISO range."""
    return float(np.exp(rng.uniform(np.log(0.002), np.log(0.04))))


def draw_tone(rng: np.random.Generator) -> tuple[float, float, np.ndarray]:
    """Exposure, gamma and white-balance jitter; drawn the same way for every class."""
    # Python floats: a NumPy float64 scalar would silently promote the images to float64.
    exposure = float(rng.uniform(0.75, 1.1))
    gamma = float(rng.uniform(2.0, 2.4))
    wb = rng.uniform(0.95, 1.05, 3).astype(np.float32)
    return exposure, gamma, wb


def apply_tone(linear: np.ndarray, gamma: float, wb: np.ndarray) -> np.ndarray:
    return np.clip(linear * wb, 0.0, 1.0) ** (1.0 / gamma)


def capture(scene: np.ndarray, camera: Camera, rng: np.random.Generator) -> np.ndarray:
    """Photograph a scene (linear light, already integrated over photosites with
    ``box_down2``); returns gamma-encoded RGB float in [0, 1]."""
    optics = float(rng.uniform(0.3, 0.7))
    exposure, gamma, wb = draw_tone(rng)
    x = blur(scene, optics) * exposure
    size = x.shape[0]
    x = x * (1.0 + camera.prnu_strength * prnu_pattern(camera.name, size))[..., None]
    raw = mosaic(x)
    sigma = draw_noise_level(rng)
    # Shot noise grows with the signal, read noise does not; both scale with ISO.
    std = sigma * np.sqrt(0.3 * np.clip(raw, 0, None) / 0.3 + 0.7)
    raw = raw + std * rng.standard_normal(raw.shape, dtype=np.float32)
    rgb = demosaic(raw, camera.demosaic)
    out = apply_tone(rgb, gamma, wb)
    if camera.denoise > 0:
        out = (1 - camera.denoise) * out + camera.denoise * blur(out, 0.8)
    if camera.sharpen > 0:
        out = out + camera.sharpen * (out - blur(out, 1.0))
    return np.clip(out, 0.0, 1.0).astype(np.float32)
