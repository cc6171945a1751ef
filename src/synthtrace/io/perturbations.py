"""Image perturbations for train-time augmentation and robustness evaluation.

Every perturbation is a frozen dataclass that holds *all* its parameters, including
the seed of any randomness it draws (noise), so ``p.apply(rgb)`` is a pure function
of the image and ``p.to_dict()`` records it exactly as applied; ``from_dict`` turns a
record back into the same perturbation. Inputs and outputs are uint8 RGB arrays
(H, W, 3); some perturbations change the size (scale, pad, aspect ratio, crop).

Two samplers (detection-methods.md §2 and §8):

- ``"spec"`` (Adapt to Scarcity): each image gets 0–2 of the 16 transforms
  (:data:`SPEC_TRANSFORMS`), each at a strength drawn from 5 bins;
- ``"bart"``: with probability 0.5 an image gets one of gamma, noise, blur,
  upscale, up-then-down scale, rotation.

Sampling is deterministic given a ``numpy.random.Generator``; pass
``np.random.default_rng(seed)`` for reproducible augmentation.

Pure numpy / Pillow / scipy: no torchvision.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter
from scipy import ndimage

from synthtrace.errors import ConfigError, reject_unknown_keys

__all__ = [
    "Perturbation",
    "PERTURBATIONS",
    "SPEC_TRANSFORMS",
    "BART_TRANSFORMS",
    "N_BINS",
    "AugmentConfig",
    "Chain",
    "apply_perturbations",
    "sample_perturbations",
    "augment_image",
    "perturbation_from_dict",
    "encode_jpeg",
    "Blur", "Brightness", "Contrast", "Saturation", "AspectRatio", "Pixelize", "Rotation", "JPEG", "Opacity",
    "OverlayStripes", "Pad", "Scale", "Sharpen", "Skew", "Grayscale", "HorizontalFlip", "GaussianNoise", "CenterCrop",
    "ResizeLongSide", "Gamma", "UpDownScale", "Upscale",
]

N_BINS = 5  # strength bins, 0 = mildest


def _pil(rgb: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB")


def _arr(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("RGB"), dtype=np.uint8)


def _clip(a: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def _resize(rgb: np.ndarray, width: int, height: int, resample: str) -> np.ndarray:
    method = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "lanczos": Image.LANCZOS}[resample]
    return _arr(_pil(rgb).resize((max(1, width), max(1, height)), method))


def encode_jpeg(rgb: np.ndarray, quality: int, subsampling: int = 2) -> bytes:
    """JPEG bytes at libjpeg ``quality`` (4:2:0 chroma by default, as most platforms)."""
    buf = io.BytesIO()
    _pil(rgb).save(buf, format="JPEG", quality=int(quality), subsampling=subsampling)
    return buf.getvalue()


class Perturbation:
    """Base of all perturbations: ``apply``, ``to_dict`` and per-bin sampling."""

    name: ClassVar[str] = ""

    def apply(self, rgb: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return self.apply(rgb)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **asdict(self)}  # type: ignore[call-overload]

    @classmethod
    def at_strength(cls, level: int, rng: np.random.Generator) -> Perturbation:
        """An instance at strength bin ``level`` (0..4); random aspects (sign, phase) from ``rng``."""
        return cls()

    def label(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in asdict(self).items())  # type: ignore[call-overload]
        return f"{self.name}({params})"


def _sign(rng: np.random.Generator) -> int:
    return 1 if rng.random() < 0.5 else -1


# ------------------------------------------------------------ the 16 transforms


@dataclass(frozen=True)
class Blur(Perturbation):
    """Gaussian blur with standard deviation ``sigma`` pixels (scipy, reflect border)."""

    sigma: float = 1.0
    name: ClassVar[str] = "blur"
    BINS: ClassVar[tuple[float, ...]] = (0.5, 1.0, 1.5, 2.0, 3.0)

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        if self.sigma <= 0:
            return rgb.copy()
        return _clip(ndimage.gaussian_filter(rgb.astype(np.float32), sigma=(self.sigma, self.sigma, 0), mode="reflect"))

    @classmethod
    def at_strength(cls, level, rng):
        return cls(cls.BINS[level])


@dataclass(frozen=True)
class Brightness(Perturbation):
    """Pixel values × ``factor`` (PIL ImageEnhance.Brightness)."""

    factor: float = 1.0
    name: ClassVar[str] = "brightness"
    BINS: ClassVar[tuple[float, ...]] = (0.1, 0.2, 0.3, 0.4, 0.5)

    def apply(self, rgb):
        return _arr(ImageEnhance.Brightness(_pil(rgb)).enhance(self.factor))

    @classmethod
    def at_strength(cls, level, rng):
        return cls(round(1.0 + _sign(rng) * cls.BINS[level], 4))


@dataclass(frozen=True)
class Contrast(Perturbation):
    """Contrast × ``factor`` around the mean grey (PIL ImageEnhance.Contrast)."""

    factor: float = 1.0
    name: ClassVar[str] = "contrast"
    BINS: ClassVar[tuple[float, ...]] = (0.1, 0.2, 0.3, 0.4, 0.5)

    def apply(self, rgb):
        return _arr(ImageEnhance.Contrast(_pil(rgb)).enhance(self.factor))

    @classmethod
    def at_strength(cls, level, rng):
        return cls(round(1.0 + _sign(rng) * cls.BINS[level], 4))


@dataclass(frozen=True)
class Saturation(Perturbation):
    """Colour saturation × ``factor`` (PIL ImageEnhance.Color; 0 = grey)."""

    factor: float = 1.0
    name: ClassVar[str] = "saturation"
    BINS: ClassVar[tuple[float, ...]] = (0.15, 0.3, 0.45, 0.6, 0.8)

    def apply(self, rgb):
        return _arr(ImageEnhance.Color(_pil(rgb)).enhance(self.factor))

    @classmethod
    def at_strength(cls, level, rng):
        return cls(round(1.0 + _sign(rng) * cls.BINS[level], 4))


@dataclass(frozen=True)
class AspectRatio(Perturbation):
    """Width × ``ratio``, height kept (bicubic)."""

    ratio: float = 1.0
    name: ClassVar[str] = "aspect_ratio"
    BINS: ClassVar[tuple[float, ...]] = (0.05, 0.1, 0.2, 0.3, 0.4)

    def apply(self, rgb):
        h, w = rgb.shape[:2]
        return _resize(rgb, int(round(w * self.ratio)), h, "bicubic")

    @classmethod
    def at_strength(cls, level, rng):
        return cls(round(1.0 + _sign(rng) * cls.BINS[level], 4))


@dataclass(frozen=True)
class Pixelize(Perturbation):
    """Down to ``ratio`` of the size (box filter), back up with nearest neighbour."""

    ratio: float = 0.5
    name: ClassVar[str] = "pixelize"
    BINS: ClassVar[tuple[float, ...]] = (0.8, 0.6, 0.5, 0.4, 0.25)

    def apply(self, rgb):
        h, w = rgb.shape[:2]
        small = _arr(_pil(rgb).resize((max(1, round(w * self.ratio)), max(1, round(h * self.ratio))), Image.BOX))
        return _resize(small, w, h, "nearest")

    @classmethod
    def at_strength(cls, level, rng):
        return cls(cls.BINS[level])


@dataclass(frozen=True)
class Rotation(Perturbation):
    """Rotate by ``degrees`` (counter-clockwise) about the centre, same size, bilinear, black corners."""

    degrees: float = 0.0
    name: ClassVar[str] = "rotation"
    BINS: ClassVar[tuple[float, ...]] = (3.0, 6.0, 10.0, 15.0, 25.0)

    def apply(self, rgb):
        return _arr(_pil(rgb).rotate(self.degrees, resample=Image.BILINEAR, expand=False))

    @classmethod
    def at_strength(cls, level, rng):
        return cls(_sign(rng) * cls.BINS[level])


@dataclass(frozen=True)
class JPEG(Perturbation):
    """Re-encode as JPEG at libjpeg ``quality`` (4:2:0) and decode."""

    quality: int = 75
    name: ClassVar[str] = "jpeg"
    BINS: ClassVar[tuple[int, ...]] = (90, 75, 60, 45, 30)

    def apply(self, rgb):
        return _arr(Image.open(io.BytesIO(encode_jpeg(rgb, self.quality))))

    @classmethod
    def at_strength(cls, level, rng):
        return cls(cls.BINS[level])


@dataclass(frozen=True)
class Opacity(Perturbation):
    """The image at opacity ``alpha`` over a flat ``background`` grey level."""

    alpha: float = 1.0
    background: int = 255
    name: ClassVar[str] = "opacity"
    BINS: ClassVar[tuple[float, ...]] = (0.9, 0.8, 0.7, 0.6, 0.5)

    def apply(self, rgb):
        return _clip(self.alpha * rgb.astype(np.float32) + (1 - self.alpha) * self.background)

    @classmethod
    def at_strength(cls, level, rng):
        return cls(cls.BINS[level], 255 if rng.random() < 0.5 else 0)


@dataclass(frozen=True)
class OverlayStripes(Perturbation):
    """Semi-transparent stripes: ``width`` px bars every ``period`` px at opacity ``alpha``."""

    width: int = 4
    period: int = 16
    alpha: float = 0.3
    vertical: bool = False
    color: int = 255
    name: ClassVar[str] = "overlay_stripes"
    BINS: ClassVar[tuple[float, ...]] = (0.1, 0.2, 0.3, 0.4, 0.5)

    def apply(self, rgb):
        h, w = rgb.shape[:2]
        pos = np.arange(w if self.vertical else h) % self.period < self.width
        mask = np.zeros((h, w), dtype=bool)
        if self.vertical:
            mask[:, pos] = True
        else:
            mask[pos, :] = True
        out = rgb.astype(np.float32)
        out[mask] = (1 - self.alpha) * out[mask] + self.alpha * self.color
        return _clip(out)

    @classmethod
    def at_strength(cls, level, rng):
        width = int(rng.integers(2, 9))
        return cls(width, width * int(rng.integers(2, 5)), cls.BINS[level], bool(rng.random() < 0.5), 255 if rng.random() < 0.5 else 0)


@dataclass(frozen=True)
class Pad(Perturbation):
    """Add a border of ``fraction`` × the side on every side, flat grey level ``color``."""

    fraction: float = 0.1
    color: int = 0
    name: ClassVar[str] = "pad"
    BINS: ClassVar[tuple[float, ...]] = (0.03, 0.06, 0.1, 0.15, 0.25)

    def apply(self, rgb):
        h, w = rgb.shape[:2]
        ph, pw = int(round(h * self.fraction)), int(round(w * self.fraction))
        return np.pad(rgb, ((ph, ph), (pw, pw), (0, 0)), mode="constant", constant_values=self.color)

    @classmethod
    def at_strength(cls, level, rng):
        return cls(cls.BINS[level], int(rng.choice([0, 127, 255])))


@dataclass(frozen=True)
class Scale(Perturbation):
    """Resize both sides by ``factor`` (rounded to whole pixels) with ``resample``."""

    factor: float = 0.5
    resample: str = "bicubic"
    name: ClassVar[str] = "scale"
    BINS: ClassVar[tuple[float, ...]] = (0.1, 0.2, 0.3, 0.4, 0.5)

    def __post_init__(self):
        if self.factor <= 0:
            raise ConfigError(f"scale factor={self.factor}: expected > 0 (e.g. 0.5)")
        if self.resample not in ("nearest", "bilinear", "bicubic", "lanczos"):
            raise ConfigError(f"resample={self.resample!r}: expected nearest, bilinear, bicubic or lanczos")

    def apply(self, rgb):
        h, w = rgb.shape[:2]
        return _resize(rgb, int(round(w * self.factor)), int(round(h * self.factor)), self.resample)

    @classmethod
    def at_strength(cls, level, rng):
        # Down-scaling destroys more evidence than up-scaling by the same amount.
        d = cls.BINS[level]
        return cls(round(1.0 - d, 4) if rng.random() < 0.5 else round(1.0 + 2 * d, 4))


@dataclass(frozen=True)
class Sharpen(Perturbation):
    """Unsharp mask (PIL) with ``radius`` and ``percent`` strength, threshold 0."""

    percent: int = 100
    radius: float = 2.0
    name: ClassVar[str] = "sharpen"
    BINS: ClassVar[tuple[int, ...]] = (40, 80, 120, 180, 250)

    def apply(self, rgb):
        return _arr(_pil(rgb).filter(ImageFilter.UnsharpMask(radius=self.radius, percent=int(self.percent), threshold=0)))

    @classmethod
    def at_strength(cls, level, rng):
        return cls(cls.BINS[level])


@dataclass(frozen=True)
class Skew(Perturbation):
    """Horizontal shear x' = x + ``shear`` · (y − h/2), same size, bilinear, black fill."""

    shear: float = 0.1
    name: ClassVar[str] = "skew"
    BINS: ClassVar[tuple[float, ...]] = (0.03, 0.06, 0.1, 0.15, 0.25)

    def apply(self, rgb):
        h, w = rgb.shape[:2]
        # PIL's affine maps output → input coordinates.
        coeffs = (1.0, self.shear, -self.shear * h / 2, 0.0, 1.0, 0.0)
        return _arr(_pil(rgb).transform((w, h), Image.AFFINE, coeffs, resample=Image.BILINEAR))

    @classmethod
    def at_strength(cls, level, rng):
        return cls(_sign(rng) * cls.BINS[level])


@dataclass(frozen=True)
class Grayscale(Perturbation):
    """ITU-R 601 luma (PIL "L"), copied to three channels."""

    name: ClassVar[str] = "grayscale"

    def apply(self, rgb):
        return _arr(_pil(rgb).convert("L"))


@dataclass(frozen=True)
class HorizontalFlip(Perturbation):
    """Mirror left-right."""

    name: ClassVar[str] = "hflip"

    def apply(self, rgb):
        return np.ascontiguousarray(rgb[:, ::-1])


# ------------------------------------------------ robustness grid and BaRT extras


@dataclass(frozen=True)
class GaussianNoise(Perturbation):
    """Additive i.i.d. Gaussian noise, std ``sigma`` in 0–255 units, drawn from ``seed``."""

    sigma: float = 5.0
    seed: int = 0
    name: ClassVar[str] = "noise"
    BINS: ClassVar[tuple[float, ...]] = (2.0, 4.0, 6.0, 9.0, 12.0)

    def apply(self, rgb):
        noise = np.random.default_rng(self.seed).normal(0.0, self.sigma, size=rgb.shape)
        return _clip(rgb.astype(np.float32) + noise)

    @classmethod
    def at_strength(cls, level, rng):
        return cls(cls.BINS[level], int(rng.integers(0, 2**31 - 1)))


@dataclass(frozen=True)
class CenterCrop(Perturbation):
    """Keep the central ``fraction`` of each side (at least 1 px)."""

    fraction: float = 0.5
    name: ClassVar[str] = "center_crop"

    def __post_init__(self):
        if not 0 < self.fraction <= 1:
            raise ConfigError(f"center_crop fraction={self.fraction}: expected a value in (0, 1]")

    def apply(self, rgb):
        h, w = rgb.shape[:2]
        ch, cw = max(1, int(round(h * self.fraction))), max(1, int(round(w * self.fraction)))
        top, left = (h - ch) // 2, (w - cw) // 2
        return rgb[top : top + ch, left : left + cw].copy()


@dataclass(frozen=True)
class ResizeLongSide(Perturbation):
    """Resize so the longer side is ``size`` px, aspect kept; ``downscale_only`` leaves smaller images alone
    (social platforms shrink large uploads and do not enlarge small ones)."""

    size: int = 1080
    downscale_only: bool = True
    resample: str = "bicubic"
    name: ClassVar[str] = "resize_long_side"

    def apply(self, rgb):
        h, w = rgb.shape[:2]
        long = max(h, w)
        if long == self.size or (self.downscale_only and long <= self.size):
            return rgb.copy()
        f = self.size / long
        return _resize(rgb, int(round(w * f)), int(round(h * f)), self.resample)


@dataclass(frozen=True)
class Gamma(Perturbation):
    """out = 255 · (in / 255) ^ ``gamma``."""

    gamma: float = 1.0
    name: ClassVar[str] = "gamma"
    BINS: ClassVar[tuple[float, ...]] = (0.1, 0.2, 0.3, 0.45, 0.6)

    def apply(self, rgb):
        lut = _clip(255.0 * (np.arange(256) / 255.0) ** self.gamma)
        return lut[rgb]

    @classmethod
    def at_strength(cls, level, rng):
        d = cls.BINS[level]
        return cls(round(1.0 + d, 4) if rng.random() < 0.5 else round(1.0 / (1.0 + d), 4))


@dataclass(frozen=True)
class UpDownScale(Perturbation):
    """Resize by ``factor`` and back to the original size (resampling traces, size kept)."""

    factor: float = 0.5
    resample: str = "bicubic"
    name: ClassVar[str] = "up_down_scale"
    BINS: ClassVar[tuple[float, ...]] = (0.1, 0.2, 0.3, 0.4, 0.5)

    def apply(self, rgb):
        h, w = rgb.shape[:2]
        mid = _resize(rgb, int(round(w * self.factor)), int(round(h * self.factor)), self.resample)
        return _resize(mid, w, h, self.resample)

    @classmethod
    def at_strength(cls, level, rng):
        d = cls.BINS[level]
        return cls(round(1.0 - d, 4) if rng.random() < 0.5 else round(1.0 + 2 * d, 4))


@dataclass(frozen=True)
class Upscale(Perturbation):
    """Enlarge by ``factor`` ≥ 1 (bicubic)."""

    factor: float = 1.5
    name: ClassVar[str] = "upscale"
    BINS: ClassVar[tuple[float, ...]] = (1.1, 1.25, 1.5, 1.75, 2.0)

    def apply(self, rgb):
        h, w = rgb.shape[:2]
        return _resize(rgb, int(round(w * self.factor)), int(round(h * self.factor)), "bicubic")

    @classmethod
    def at_strength(cls, level, rng):
        return cls(cls.BINS[level])


@dataclass(frozen=True)
class Chain(Perturbation):
    """Several perturbations in order (e.g. a platform's resize then JPEG)."""

    steps: tuple[Perturbation, ...] = field(default_factory=tuple)
    name: ClassVar[str] = "chain"

    def apply(self, rgb):
        return apply_perturbations(rgb, self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "steps": [s.to_dict() for s in self.steps]}

    def label(self) -> str:
        return " → ".join(s.label() for s in self.steps)


_ALL = (Blur, Brightness, Contrast, Saturation, AspectRatio, Pixelize, Rotation, JPEG, Opacity, OverlayStripes, Pad,
        Scale, Sharpen, Skew, Grayscale, HorizontalFlip, GaussianNoise, CenterCrop, ResizeLongSide, Gamma, UpDownScale,
        Upscale, Chain)
PERTURBATIONS: dict[str, type[Perturbation]] = {c.name: c for c in _ALL}

# The 16 transforms of Adapt to Scarcity (detection-methods.md §2).
SPEC_TRANSFORMS = ("blur", "brightness", "aspect_ratio", "pixelize", "rotation", "contrast", "saturation", "jpeg",
                   "opacity", "overlay_stripes", "pad", "scale", "sharpen", "skew", "grayscale", "hflip")
# BaRT-style train-time robustness (detection-methods.md §8).
BART_TRANSFORMS = ("gamma", "noise", "blur", "upscale", "up_down_scale", "rotation")


def perturbation_from_dict(d: dict[str, Any]) -> Perturbation:
    """Inverse of ``to_dict``: the same perturbation, ready to apply again."""
    d = dict(d)
    name = d.pop("name", None)
    if name not in PERTURBATIONS:
        raise ConfigError(f"perturbation {name!r}: expected one of {', '.join(sorted(PERTURBATIONS))}")
    cls = PERTURBATIONS[name]
    if cls is Chain:
        return Chain(tuple(perturbation_from_dict(s) for s in d.get("steps", [])))
    valid = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = set(d) - valid
    if unknown:
        raise ConfigError(f"perturbation {name!r}: unknown parameters {sorted(unknown)}; valid: {sorted(valid)}")
    return cls(**d)


def apply_perturbations(rgb: np.ndarray, ops: Sequence[Perturbation]) -> np.ndarray:
    """Apply ``ops`` in order to a uint8 RGB image; returns a new uint8 array."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ConfigError(f"perturbations take uint8 RGB arrays (H, W, 3); got {rgb.dtype} {rgb.shape}")
    out = rgb
    for op in ops:
        out = op.apply(out)
    return out if out is not rgb else rgb.copy()


# ------------------------------------------------------------------ sampling


@dataclass(frozen=True)
class AugmentConfig:
    """How training images are perturbed.

    ``mode="spec"``: ``min_ops``..``max_ops`` distinct transforms from ``transforms``
    (default the 16 of §2), each at a strength bin drawn uniformly from
    ``0..N_BINS-1``. ``mode="bart"``: with probability ``p`` one of ``transforms``
    (default :data:`BART_TRANSFORMS`).
    """

    mode: str = "spec"
    min_ops: int = 0
    max_ops: int = 2
    p: float = 0.5
    transforms: tuple[str, ...] = ()

    def __post_init__(self):
        if self.mode not in ("spec", "bart"):
            raise ConfigError(f"augment mode {self.mode!r}: expected 'spec' (0–2 of 16 transforms) or 'bart'")
        if not 0 <= self.min_ops <= self.max_ops:
            raise ConfigError(f"augment min_ops={self.min_ops}, max_ops={self.max_ops}: expected 0 <= min_ops <= max_ops")
        if not 0 <= self.p <= 1:
            raise ConfigError(f"augment p={self.p}: expected a probability in [0, 1]")
        unknown = [t for t in self.transforms if t not in PERTURBATIONS or t == "chain"]
        if unknown:
            raise ConfigError(f"augment transforms {unknown}: expected names from {', '.join(sorted(set(PERTURBATIONS) - {'chain'}))}")
        if len(set(self.names)) < self.max_ops and self.mode == "spec":
            raise ConfigError(f"augment max_ops={self.max_ops} but only {len(set(self.names))} transforms to choose from")

    @property
    def names(self) -> tuple[str, ...]:
        return self.transforms or (SPEC_TRANSFORMS if self.mode == "spec" else BART_TRANSFORMS)

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "min_ops": self.min_ops, "max_ops": self.max_ops, "p": self.p, "transforms": list(self.names)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AugmentConfig:
        reject_unknown_keys(cls, d, "augment")
        d = dict(d)
        if "transforms" in d:
            d["transforms"] = tuple(d["transforms"])
        return cls(**d)

    @classmethod
    def parse(cls, value: str | AugmentConfig | None) -> AugmentConfig | None:
        """``None``/"none" → no augmentation; "spec" or "bart" → that sampler's defaults;
        "spec:jpeg,scale" → that sampler over the named transforms only."""
        if value is None or isinstance(value, AugmentConfig):
            return value
        if value in ("", "none", "off"):
            return None
        mode, _, names = value.partition(":")
        transforms = tuple(n.strip() for n in names.split(",") if n.strip())
        max_ops = min(2, len(transforms)) if transforms and mode == "spec" else 2
        return cls(mode=mode, transforms=transforms, max_ops=max_ops)


def sample_perturbations(rng: np.random.Generator, config: AugmentConfig = AugmentConfig()) -> tuple[Perturbation, ...]:
    """Draw the perturbations for one image (possibly none), fully parameterised."""
    names = config.names
    if config.mode == "bart":
        if rng.random() >= config.p:
            return ()
        chosen = [names[int(rng.integers(len(names)))]]
    else:
        k = int(rng.integers(config.min_ops, config.max_ops + 1))
        chosen = [names[i] for i in rng.choice(len(names), size=k, replace=False)] if k else []
    return tuple(PERTURBATIONS[n].at_strength(int(rng.integers(N_BINS)), rng) for n in chosen)


def augment_image(rgb: np.ndarray, rng: np.random.Generator, config: AugmentConfig = AugmentConfig()) -> tuple[np.ndarray, tuple[Perturbation, ...]]:
    """(perturbed image, the perturbations applied, in order)."""
    ops = sample_perturbations(rng, config)
    return apply_perturbations(rgb, ops), ops
