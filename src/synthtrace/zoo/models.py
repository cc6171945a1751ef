"""The networks behind converted (zoo) bundles, built on maintained implementations.

Two bundle kinds:

- ``clip_fc``: a frozen ``hf:`` CLIP vision tower (``CLIPVisionModelWithProjection``)
  → ``image_embeds`` (the *projected* embedding, not ``pooler_output``, not
  L2-normalised) → ``fc`` [1, D]. UniversalFakeDetect. The CLIP weights are not
  copied into the bundle; their hash is checked on load like a linear probe's.
- ``resnet_fc``: transformers ``ResNetModel`` (bottleneck layout) → global average
  pool → ``fc`` [1, C]. CNNDetection is the full ResNet-50; NPR is the truncated
  one (3×3 stride-2 stem, first two stages) on the neighbouring-pixel residual
  x − up(down(x)) scaled by 2/3 (see :func:`npr_residual`).

Weights are published in the torchvision layout; :func:`torchvision_to_transformers`
maps each key onto ``ResNetModel``'s names.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from synthtrace.backbones.preprocess import PreprocessConfig
from synthtrace.errors import BundleError

ZOO_KINDS = ("clip_fc", "resnet_fc")  # bundle kinds of converted published detectors

INPUT_TRANSFORMS = ("none", "npr")
# Published torchvision ResNet-50 layout: blocks per stage and output channels.
RESNET50_DEPTHS = (3, 4, 6, 3)
RESNET50_HIDDEN = (256, 512, 1024, 2048)


# ------------------------------------------------------------------ key mapping
_BN = r"(?P<p>weight|bias|running_mean|running_var|num_batches_tracked)"
_BLOCK = r"layer(?P<stage>\d+)\.(?P<block>\d+)"
# (torchvision pattern, transformers name); {stage} is 0-based there, {conv} too.
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^conv1\.weight$"), "embedder.embedder.convolution.weight"),
    (re.compile(rf"^bn1\.{_BN}$"), "embedder.embedder.normalization.{p}"),
    (re.compile(rf"^{_BLOCK}\.conv(?P<conv>\d)\.weight$"), "encoder.stages.{stage}.layers.{block}.layer.{conv}.convolution.weight"),
    (re.compile(rf"^{_BLOCK}\.bn(?P<conv>\d)\.{_BN}$"), "encoder.stages.{stage}.layers.{block}.layer.{conv}.normalization.{p}"),
    (re.compile(rf"^{_BLOCK}\.downsample\.0\.weight$"), "encoder.stages.{stage}.layers.{block}.shortcut.convolution.weight"),
    (re.compile(rf"^{_BLOCK}\.downsample\.1\.{_BN}$"), "encoder.stages.{stage}.layers.{block}.shortcut.normalization.{p}"),
)


def torchvision_to_transformers(key: str) -> str | None:
    """transformers ``ResNetModel`` name of a torchvision ResNet key (None: not a trunk key).

    torchvision ``layer{i}.{j}.conv{k}`` / ``bn{k}`` → ``encoder.stages.{i-1}.layers.{j}.layer.{k-1}``
    ``.convolution`` / ``.normalization``; ``downsample.0`` / ``.1`` → ``shortcut.convolution`` /
    ``.normalization``; ``conv1`` / ``bn1`` → ``embedder.embedder``. The fc layer is not a trunk key.
    """
    for pattern, target in _RULES:
        m = pattern.match(key)
        if m:
            g = m.groupdict()
            for name in ("stage", "conv"):  # 1-based in torchvision, 0-based in transformers
                if name in g:
                    g[name] = str(int(g[name]) - 1)
            return target.format(**g)
    return None


def map_resnet_state(state: dict[str, torch.Tensor], model: nn.Module, *, fc: str, where: str) -> dict[str, torch.Tensor]:
    """Rename a torchvision-layout trunk onto ``model`` (a ResNetModel); every key must map.

    Keys named ``{fc}.weight`` / ``{fc}.bias`` are left out (the head is separate).
    Fails on an unknown key, a missing one, or a shape mismatch.
    """
    target = model.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state.items():
        if key in (f"{fc}.weight", f"{fc}.bias"):
            continue
        name = torchvision_to_transformers(key)
        if name is None or name not in target:
            unknown.append(key)
            continue
        if tuple(value.shape) != tuple(target[name].shape):
            raise BundleError(f"{where}: {key!r} has shape {list(value.shape)}, expected {list(target[name].shape)} ({name})")
        mapped[name] = value
    if unknown:
        raise BundleError(f"{where}: {len(unknown)} keys do not belong to this network, e.g. {unknown[:5]}; is it the right checkpoint?")
    missing = sorted(set(target) - set(mapped))
    if missing:
        raise BundleError(f"{where}: {len(missing)} weights of the network are missing from the checkpoint, e.g. {missing[:5]}")
    return mapped


# ------------------------------------------------------------------ networks
def resnet_config(depths: Sequence[int], hidden_sizes: Sequence[int], *, stem_kernel: int = 7) -> dict[str, Any]:
    """The JSON-able architecture record of a ``resnet_fc`` bundle."""
    return {
        "depths": list(depths), "hidden_sizes": list(hidden_sizes), "embedding_size": 64,
        "layer_type": "bottleneck", "hidden_act": "relu", "downsample_in_first_stage": False,
        "downsample_in_bottleneck": False, "stem_kernel": stem_kernel,
    }


def npr_residual(x: torch.Tensor) -> torch.Tensor:
    """NPR input: (x − up(down(x))) · 2/3 with nearest ×0.5 then ×2 (Tan et al., CVPR 2024).

    Nearest ×0.5 keeps the top-left pixel of each 2×2 block and nearest ×2 copies it
    back, so the residual is each pixel minus the top-left pixel of its block. Odd
    sizes are undefined in the original (the shapes differ); the preprocessing of
    an NPR bundle crops the last row/column away first (``even_crop``).
    """
    h, w = x.shape[-2:]
    if h % 2 or w % 2:
        raise ValueError(f"NPR needs even height and width, got {h}x{w}")
    down = F.interpolate(x, scale_factor=0.5, mode="nearest", recompute_scale_factor=True)
    up = F.interpolate(down, scale_factor=2.0, mode="nearest", recompute_scale_factor=True)
    return (x - up) * (2.0 / 3.0)


class ResNetFC(nn.Module):
    """transformers ResNetModel trunk + pooled linear head (logit: higher = generated)."""

    def __init__(self, arch: dict[str, Any], input_transform: str = "none") -> None:
        super().__init__()
        from transformers import ResNetConfig, ResNetModel  # heavy: transformers

        if input_transform not in INPUT_TRANSFORMS:
            raise BundleError(f"input transform {input_transform!r}: expected one of {INPUT_TRANSFORMS}")
        arch = dict(arch)
        stem_kernel = int(arch.pop("stem_kernel", 7))
        config = ResNetConfig(num_channels=3, **arch)
        self.resnet = ResNetModel(config)
        if stem_kernel != 7:  # NPR: 3×3 stride-2 stem instead of ResNet's 7×7
            self.resnet.embedder.embedder.convolution = nn.Conv2d(
                3, config.embedding_size, kernel_size=stem_kernel, stride=2, padding=stem_kernel // 2, bias=False
            )
        self.fc = nn.Linear(config.hidden_sizes[-1], 1)
        self.input_transform = input_transform
        self.eval().requires_grad_(False)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = npr_residual(pixels) if self.input_transform == "npr" else pixels
        pooled = self.resnet(pixel_values=x).pooler_output.flatten(1)
        return self.fc(pooled)[:, 0]


class CLIPFC(nn.Module):
    """The linear head of a ``clip_fc`` bundle; the CLIP tower lives outside the bundle."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc = nn.Linear(dim, 1)
        self.eval().requires_grad_(False)

    def forward(self, embeds: torch.Tensor) -> torch.Tensor:
        return self.fc(embeds)[:, 0]


# ------------------------------------------------------------------ bundle hooks
def build_model(kind: str, head: dict[str, Any]) -> nn.Module:
    if kind == "clip_fc":
        return CLIPFC(int(head["in_features"]))
    if kind == "resnet_fc":
        return ResNetFC(head["architecture"], head.get("input_transform", "none"))
    raise BundleError(f"bundle kind {kind!r} is not one of {ZOO_KINDS}")


def load_model(kind: str, head: dict[str, Any], state: dict[str, torch.Tensor], *, where: str = "bundle") -> nn.Module:
    """Rebuild a zoo network from its ``head`` record and load the safetensors weights (strict)."""
    model = build_model(kind, head)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise BundleError(f"{where}: weights do not match the recorded network ({str(exc).splitlines()[0]})") from exc
    return model.eval()


def score_images(bundle: Any, images: Sequence[np.ndarray], batch_size: int = 16) -> np.ndarray:
    """Logits of a zoo bundle for uint8 RGB images (one image at a time: sizes differ)."""
    pre = dict(bundle.preprocess)
    even_crop = bool(pre.pop("even_crop", False))
    tv_crop = pre["crop"] if pre.pop("crop_offsets", None) == "torchvision" else None
    if tv_crop is not None:
        pre["crop"] = None  # cropped below with torchvision's offsets
    prep = PreprocessConfig.from_dict(pre)
    bb = bundle.feature_backbone() if bundle.kind == "clip_fc" else None
    out = []
    with torch.inference_mode():
        for im in images:
            if even_crop:
                im = im[: im.shape[0] - im.shape[0] % 2, : im.shape[1] - im.shape[1] % 2]
            if tv_crop is not None:
                im = torchvision_center_crop(im, tv_crop)
            x = torch.from_numpy(prep(np.ascontiguousarray(im)))[None]
            if bb is not None:
                x = bb.embed(x, layer="last", pooling="embeds")
            out.append(float(bundle.model(x)[0]))
    return np.asarray(out, dtype=np.float32)


def torchvision_center_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    """torchvision ``CenterCrop`` on (H, W, C): zero-pad to ``size`` (floor on the top/left),
    then crop at ``round((H - size) / 2)`` (Python rounding), as UniversalFakeDetect's test code.
    transformers floors instead, which moves some crops by one pixel."""
    h, w = rgb.shape[:2]
    if h < size or w < size:
        top, left = max(size - h, 0) // 2, max(size - w, 0) // 2
        padded = np.zeros((max(h, size), max(w, size), rgb.shape[2]), dtype=rgb.dtype)
        padded[top : top + h, left : left + w] = rgb
        rgb, h, w = padded, *padded.shape[:2]
    top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
    return rgb[top : top + size, left : left + size]
