"""Simulated generators: fixed random-weight decoders of one up-sampling family each.

The decoder turns a low-resolution "latent" of the scene into a full-resolution
image; its up-sampling operator imprints a periodic pattern whose form depends on
the family and whose exact shape depends on the weights (two seeds of one
architecture are two distinguishable sources, as Yu et al. 2019 found for GANs).
The fake is a camera-matched rendering of the scene (same tone curves, optics
slightly softer to match demosaiced reals) plus the decoder's high-frequency
residual plus camera-like noise, so the fingerprint, not blur or noise level,
tells it apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from .cameras import apply_tone, blur, demosaic, draw_noise_level, draw_tone, mosaic
from .seeding import stable_seed

FAMILIES = ("tconv", "nearest", "bilinear", "pixelshuffle", "ldm")
SEEN_FAMILIES = ("tconv", "nearest", "bilinear", "pixelshuffle")
# A latent-diffusion family that also imitates camera traces: the hard, realistic
# "new generator nobody trained on" case.
HELD_OUT_FAMILIES = ("ldm",)
SEEDS = (0, 1, 2)
SEEN_SEEDS = (0, 1)

# Down-sampling factor of the latent per family (latent diffusion decodes from 1/8).
LATENT_FACTOR = {"tconv": 4, "nearest": 4, "bilinear": 4, "pixelshuffle": 4, "ldm": 8}
# Families that imitate camera traces: "mosaic" passes the output through a fake
# Bayer mosaic + demosaic (every fake already carries camera-like noise).
CAMERA_MIMIC = {"ldm": "mosaic"}
BASE_SOFTEN = 0.6


@dataclass(frozen=True)
class GeneratorSpec:
    family: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.family}-s{self.seed}"

    @property
    def seen(self) -> bool:
        return self.family in SEEN_FAMILIES and self.seed in SEEN_SEEDS


ALL_GENERATORS = tuple(GeneratorSpec(f, s) for f in FAMILIES for s in SEEDS)


def _conv_weight(g: torch.Generator, c_out: int, c_in: int, k: int = 3, gain: float = 1.4) -> torch.Tensor:
    return torch.randn(c_out, c_in, k, k, generator=g) * (gain / np.sqrt(c_in * k * k))


class Decoder:
    """A fixed random-weight decoder; weights come from a stable hash of its name."""

    def __init__(self, spec: GeneratorSpec):
        self.spec = spec
        self.factor = LATENT_FACTOR[spec.family]
        g = torch.Generator().manual_seed(stable_seed("generator", spec.name))
        n_stages = int(np.log2(self.factor))
        widths = [16] * n_stages + [8]  # <=16 channels up to 64 px, 8 at full resolution
        self.lift = _conv_weight(g, widths[0], 3)
        self.refine = [(_conv_weight(g, 16, 16), _conv_weight(g, 16, 16, gain=0.5)) for _ in range(4)] if spec.family == "ldm" else []
        self.stages = []
        for i in range(n_stages):
            c_in, c_out = widths[i], widths[i + 1]
            if spec.family == "tconv":
                up = torch.randn(c_in, c_out, 3, 3, generator=g) * (1.4 / np.sqrt(c_in * 9 / 4))
            elif spec.family == "pixelshuffle":
                up = _conv_weight(g, 4 * c_out, c_in)
            else:
                up = _conv_weight(g, c_out, c_in)
            self.stages.append((up, _conv_weight(g, c_out, c_out)))
        self.head = _conv_weight(g, 3, widths[-1], gain=1.0)
        self.noise_std = 0.3

    def _up(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        fam = self.spec.family
        if fam == "tconv":
            return F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1)
        if fam == "pixelshuffle":
            return F.pixel_shuffle(F.conv2d(x, w, padding=1), 2)
        mode = "bilinear" if fam == "bilinear" else "nearest"
        kwargs = {"align_corners": False} if mode == "bilinear" else {}
        return F.conv2d(F.interpolate(x, scale_factor=2, mode=mode, **kwargs), w, padding=1)

    @torch.no_grad()
    def __call__(self, latent: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Decode an (h, w, 3) latent to the (h*f, w*f, 3) full-resolution output."""
        x = torch.from_numpy(np.ascontiguousarray(latent.transpose(2, 0, 1)))[None] * 2 - 1

        def noise(t: torch.Tensor) -> torch.Tensor:
            # One noise plane per stage, mixed into every channel by the next convolution.
            plane = rng.standard_normal((1, 1, *t.shape[2:]), dtype=np.float32)
            return torch.from_numpy(plane) * self.noise_std

        x = F.leaky_relu(F.conv2d(x, self.lift, padding=1), 0.2)
        for w1, w2 in self.refine:  # "diffusion" steps at latent resolution
            x = x + F.conv2d(torch.tanh(F.conv2d(x, w1, padding=1)), w2, padding=1) + 0.5 * noise(x)
        for up, conv in self.stages:
            x = F.leaky_relu(self._up(x, up), 0.2)
            x = F.leaky_relu(F.conv2d(x + noise(x), conv, padding=1), 0.2)
        out = F.conv2d(x, self.head, padding=1)[0]
        return out.numpy().transpose(1, 2, 0)


@lru_cache(maxsize=None)
def decoder(name: str) -> Decoder:
    family, seed = name.rsplit("-s", 1)
    return Decoder(GeneratorSpec(family, int(seed)))


def residual_pattern(spec: GeneratorSpec, base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The decoder's high-frequency output for this scene: zero mean colour, unit high-pass std."""
    f = LATENT_FACTOR[spec.family]
    h, w = base.shape[0] // f, base.shape[1] // f
    latent = base[: h * f, : w * f].reshape(h, f, w, f, 3).mean(axis=(1, 3))
    out = decoder(spec.name)(latent, rng)
    hp = out - blur(out, 1.0)
    hp -= hp.mean(axis=(0, 1))
    return hp / (hp.std() + 1e-8)


def camera_like_noise(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """White noise passed through a Bayer mosaic and demosaicing, unit high-pass std."""
    noise = demosaic(mosaic(rng.standard_normal(shape, dtype=np.float32)), "bilinear")
    hp = noise - blur(noise, 1.0)
    return hp / (hp.std() + 1e-8)


def generate(
    scene: np.ndarray, spec: GeneratorSpec, rng: np.random.Generator, amplitude: float, noise_gain: float
) -> np.ndarray:
    """A fake of the scene: camera-matched base + fingerprint + camera-like noise.

    The fingerprint (the decoder's residual, high-pass std ``amplitude`` in [0, 1]
    pixel units; the build calibrates it per generator so that file sizes match
    reals') does not depend on any ISO: a generator has no sensor. Camera-like
    noise of a drawn ISO, scaled by ``noise_gain``, partly hides it, the way sensor
    noise would, so "noisy or not" does not tell the classes apart.
    """
    # Slightly softer optics than the cameras': demosaicing and in-camera noise
    # reduction soften reals, and a sharper base would make fakes' files larger.
    optics = float(rng.uniform(0.3, 0.7)) + BASE_SOFTEN
    exposure, gamma, wb = draw_tone(rng)
    base = apply_tone(blur(scene, optics) * exposure, gamma, wb)
    level = draw_noise_level(rng)
    fake = base + amplitude * residual_pattern(spec, base, rng) + noise_gain * level * camera_like_noise(base.shape, rng)
    if CAMERA_MIMIC.get(spec.family) == "mosaic":
        fake = demosaic(mosaic(fake), "bilinear")
    return np.clip(fake, 0.0, 1.0).astype(np.float32)
