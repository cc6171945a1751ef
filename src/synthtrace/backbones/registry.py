"""The backbone registry: a name → a Backbone.

The one registry in synthtrace (see DESIGN.md). ``hf:<hub id or local dir>``
loads any supported transformers vision tower; built-ins are import strings
resolved only when asked for, so listing backbones imports neither torch models
nor optional modules.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from synthtrace.backbones.base import Backbone
from synthtrace.backbones.hf import HFBackbone
from synthtrace.errors import ConfigError

HF_PATTERN = "hf:<hub id or local dir>"
_BUILTINS: dict[str, tuple[str, str]] = {
    "cnn-small": (
        "synthtrace.backbones.cnn:CNNSmallBackbone",
        "small built-in CNN, trained on the built-in benchmark; fast on CPU",
    ),
}


def list_backbones() -> list[tuple[str, str]]:
    """(name or pattern, description) for every way to name a backbone."""
    rows = [(HF_PATTERN, "transformers vision tower: CLIP, SigLIP, DINOv2, ViT (e.g. hf:openai/clip-vit-large-patch14)")]
    return rows + [(name, desc) for name, (_, desc) in _BUILTINS.items()]


def create_backbone(name: str, **kwargs: Any) -> Backbone:
    """Build the backbone called ``name``; keyword arguments go to its constructor."""
    if name.startswith("hf:"):
        target = name[3:]
        if not target:
            raise ConfigError(f"backbone {name!r} names no model; expected {HF_PATTERN}.")
        return HFBackbone(target, **kwargs)
    if name in _BUILTINS:
        module_name, _, attr = _BUILTINS[name][0].partition(":")
        cls = getattr(importlib.import_module(module_name), attr)
        return cls(**kwargs)
    hint = ""
    if "/" in name or Path(name).exists():
        hint = f" Did you mean 'hf:{name}'?"
    available = ", ".join([*_BUILTINS, HF_PATTERN])
    raise ConfigError(f"unknown backbone {name!r}; available: {available}.{hint}")
