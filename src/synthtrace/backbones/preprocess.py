"""Image preprocessing for backbones, as an explicit frozen config.

Why not call the transformers image processor directly: its defaults change
between releases and it is slow per image; a detector bundle must record exactly
what its backbone saw. ``PreprocessConfig`` reproduces the transformers PIL
pipeline (resize with Pillow → centre crop → rescale → normalise) so features
match the reference processor, and it serialises to a small dict with a stable
digest used in feature-cache keys.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from synthtrace.errors import ConfigError

INTERPOLATIONS: dict[str, Image.Resampling] = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
# Pillow's integer codes, as stored in preprocessor_config.json "resample".
_RESAMPLE_CODES = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic"}
RESIZE_MODES = ("shortest_edge", "square")


@dataclass(frozen=True)
class PreprocessConfig:
    """How an RGB uint8 image becomes a model input.

    - ``resize``: target size in pixels, or None for no resize. With
      ``resize_mode="shortest_edge"`` the short side becomes ``resize`` and the long
      side ``int(resize * long / short)`` (transformers' rule, aspect kept); with
      ``"square"`` the image is stretched to ``resize x resize`` (ViT, SigLIP).
    - ``crop``: centre crop to ``crop x crop`` (zero-padded if the image is smaller,
      like transformers), or None.
    - ``mean``/``std``: per-channel normalisation applied after ``rescale``.
    """

    resize: int | None
    crop: int | None
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"
    rescale: float = 1 / 255
    resize_mode: str = "shortest_edge"

    def __post_init__(self) -> None:
        # JSON gives lists; equality and hashing need tuples of floats.
        for name in ("mean", "std"):
            value = tuple(float(v) for v in getattr(self, name))
            if len(value) != 3:
                raise ConfigError(f"PreprocessConfig.{name} must have 3 values (RGB), got {value}.")
            object.__setattr__(self, name, value)
        if any(s <= 0 for s in self.std):
            raise ConfigError(f"PreprocessConfig.std must be positive, got {self.std}.")
        for name in ("resize", "crop"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
                raise ConfigError(f"PreprocessConfig.{name} must be a positive int or None, got {v!r}.")
        if self.interpolation not in INTERPOLATIONS:
            raise ConfigError(
                f"PreprocessConfig.interpolation={self.interpolation!r} is not supported; "
                f"expected one of {sorted(INTERPOLATIONS)}."
            )
        if self.resize_mode not in RESIZE_MODES:
            raise ConfigError(
                f"PreprocessConfig.resize_mode={self.resize_mode!r} is not supported; "
                f"expected one of {list(RESIZE_MODES)}."
            )
        object.__setattr__(self, "rescale", float(self.rescale))

    # -- applying -----------------------------------------------------------------
    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(H, W) of the result for an input of this size."""
        h, w = self._resized_size(height, width)
        return (self.crop, self.crop) if self.crop is not None else (h, w)

    def _resized_size(self, height: int, width: int) -> tuple[int, int]:
        if self.resize is None:
            return height, width
        if self.resize_mode == "square":
            return self.resize, self.resize
        short, long = (width, height) if width <= height else (height, width)
        new_long = int(self.resize * long / short)
        return (new_long, self.resize) if width <= height else (self.resize, new_long)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """RGB uint8 (H, W, 3) → float32 (3, H', W'), normalised."""
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected an RGB uint8 array (H, W, 3), got {rgb.dtype} {rgb.shape}")
        h, w = rgb.shape[:2]
        nh, nw = self._resized_size(h, w)
        if (nh, nw) != (h, w):
            im = Image.fromarray(rgb, "RGB").resize((nw, nh), resample=INTERPOLATIONS[self.interpolation])
            rgb = np.asarray(im)
        if self.crop is not None:
            rgb = _center_crop(rgb, self.crop)
        x = rgb.astype(np.float32) * np.float32(self.rescale)
        x -= np.asarray(self.mean, dtype=np.float32)
        x /= np.asarray(self.std, dtype=np.float32)
        return np.ascontiguousarray(x.transpose(2, 0, 1))

    # -- serialising --------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PreprocessConfig:
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(valid))
        if unknown:
            raise ConfigError(f"unknown PreprocessConfig keys {unknown}; valid keys: {valid}.")
        try:
            return cls(**d)
        except TypeError as exc:  # missing required keys
            raise ConfigError(f"invalid PreprocessConfig {d}: {exc}; valid keys: {valid}.") from None

    def digest(self) -> str:
        """Short stable hash of the config, for cache keys and bundle checks."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | Path, *, local_files_only: bool | None = None
    ) -> PreprocessConfig:
        """Read a model's ``preprocessor_config.json`` (local dir or hub id)."""
        path = Path(name_or_path) / "preprocessor_config.json"
        if not path.is_file():
            from transformers.utils import cached_file  # heavy: transformers

            kw = {} if local_files_only is None else {"local_files_only": local_files_only}
            try:
                resolved = cached_file(str(name_or_path), "preprocessor_config.json", **kw)
            except OSError as exc:
                raise ConfigError(
                    f"no preprocessor_config.json for {str(name_or_path)!r} ({exc}). Save the "
                    "model's image processor next to it (processor.save_pretrained(dir))."
                ) from None
            if resolved is None:
                raise ConfigError(f"no preprocessor_config.json for {str(name_or_path)!r}.")
            path = Path(resolved)
        return cls.from_processor_dict(json.loads(path.read_text()), source=str(path))

    @classmethod
    def from_processor_dict(cls, p: dict[str, Any], *, source: str = "processor config") -> PreprocessConfig:
        """Map a transformers image-processor dict onto a PreprocessConfig."""
        crop_flag = bool(p.get("do_center_crop", False))
        resize, mode = None, "shortest_edge"
        if p.get("do_resize", True) and p.get("size") is not None:
            size = p["size"]
            if isinstance(size, int):  # legacy configs: int means short side when cropping
                resize, mode = size, ("shortest_edge" if crop_flag else "square")
            elif set(size) == {"shortest_edge"}:
                resize = int(size["shortest_edge"])
            elif set(size) == {"height", "width"} and size["height"] == size["width"]:
                resize, mode = int(size["height"]), "square"
            else:
                raise ConfigError(
                    f"{source}: size={size} is not supported; expected {{'shortest_edge': n}} or "
                    "a square {'height': n, 'width': n}."
                )
        crop = None
        if crop_flag:
            cs = p.get("crop_size")
            if isinstance(cs, int):
                crop = cs
            elif isinstance(cs, dict) and cs.get("height") == cs.get("width") and cs.get("height"):
                crop = int(cs["height"])
            else:
                raise ConfigError(f"{source}: crop_size={cs} is not supported; expected a square crop.")
        resample = p.get("resample", 2)
        if resample not in _RESAMPLE_CODES:
            raise ConfigError(
                f"{source}: resample={resample} is not supported; expected one of "
                f"{ {k: v for k, v in _RESAMPLE_CODES.items()} }."
            )
        normalize = p.get("do_normalize", True)
        mean = tuple(p.get("image_mean", (0.5, 0.5, 0.5))) if normalize else (0.0, 0.0, 0.0)
        std = tuple(p.get("image_std", (0.5, 0.5, 0.5))) if normalize else (1.0, 1.0, 1.0)
        rescale = float(p.get("rescale_factor", 1 / 255)) if p.get("do_rescale", True) else 1.0
        return cls(
            resize=resize,
            crop=crop,
            mean=mean,  # type: ignore[arg-type]
            std=std,  # type: ignore[arg-type]
            interpolation=_RESAMPLE_CODES[resample],
            rescale=rescale,
            resize_mode=mode,
        )


def _center_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    """Centre crop (H, W, C), zero-padding when smaller, with transformers' offsets."""
    h, w = rgb.shape[:2]
    if h < size or w < size:
        nh, nw = max(h, size), max(w, size)
        padded = np.zeros((nh, nw, rgb.shape[2]), dtype=rgb.dtype)
        top, left = -(-(nh - h) // 2), -(-(nw - w) // 2)  # ceil, as transformers
        padded[top : top + h, left : left + w] = rgb
        rgb, h, w = padded, nh, nw
    top, left = (h - size) // 2, (w - size) // 2
    return rgb[top : top + size, left : left + size]
