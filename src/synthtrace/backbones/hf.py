"""Hugging Face `transformers` vision towers as backbones (CLIP, SigLIP, DINOv2, ViT).

One code path for real and test weights: a hub id or a local directory written by
``save_pretrained`` (tests use tiny random ones, see ``tiny.py``).

What each (layer, pooling) returns, for a tower with N blocks:

- layer ``"0"`` … ``"N"``: ``hidden_states[i]`` as transformers returns them
  ("0" = patch + position embeddings, "i" = output of block i), *before* any final
  LayerNorm. For CLIP, "0" is after CLIP's ``pre_layrnorm``.
- layer ``"last"``: the tower's final normalised tokens, i.e. hidden_states[N] after
  the final LayerNorm: ``last_hidden_state`` for ViT, DINOv2 and SigLIP (their
  final norm is inside it), ``post_layernorm(last_hidden_state)`` for CLIP (applied
  to every token). So "last" and "N" differ exactly by that LayerNorm.
- pooling ``"cls"``: token 0. With layer "last" this is ``pooler_output`` for CLIP
  and DINOv2 (not ViT's pooler, which adds a tanh dense layer). Refused for
  SigLIP, which has no CLS token.
- pooling ``"mean"``: mean over patch tokens only; CLS, distillation and register
  tokens are excluded.
- pooling ``"embeds"`` (CLIP only, layer "last" only): ``image_embeds`` =
  ``visual_projection(pooler_output)``, the vector in CLIP's joint image-text space
  used by UnivFD-style linear probes. Not L2-normalised here; heads normalise.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from synthtrace.backbones.base import Backbone
from synthtrace.backbones.preprocess import PreprocessConfig
from synthtrace.backbones.speed import FP32, PRECISIONS, Precision, fast_forward, resolve_precision
from synthtrace.errors import ConfigError

# model_type → (class name in transformers, number of leading non-patch tokens).
# Composite checkpoints (full CLIP / SigLIP with a text tower) load their vision tower.
_TOWERS: dict[str, tuple[str, int]] = {
    "clip": ("CLIPVisionModelWithProjection", 1),
    "clip_vision_model": ("CLIPVisionModelWithProjection", 1),
    "siglip": ("SiglipVisionModel", 0),
    "siglip_vision_model": ("SiglipVisionModel", 0),
    "vit": ("AutoModel", 1),
    "dinov2": ("AutoModel", 1),
    "dinov2_with_registers": ("AutoModel", 1),  # + config.num_register_tokens
    "deit": ("AutoModel", 2),  # CLS + distillation token
}


class HFBackbone(Backbone):
    """A transformers vision tower, frozen, float32, eval mode.

    ``local_files_only``: None lets transformers decide (honours HF_HUB_OFFLINE);
    an existing local directory is always read offline.
    """

    def __init__(self, name_or_path: str | Path, *, local_files_only: bool | None = None) -> None:
        import transformers  # heavy: transformers

        self.name_or_path = str(name_or_path).rstrip("/") or str(name_or_path)
        self.id = f"hf:{self.name_or_path}"
        if local_files_only is None and Path(self.name_or_path).is_dir():
            local_files_only = True
        kw: dict[str, Any] = {} if local_files_only is None else {"local_files_only": local_files_only}

        with _quiet_transformers():
            try:
                config = transformers.AutoConfig.from_pretrained(self.name_or_path, **kw)
            except (OSError, ValueError) as exc:
                raise ConfigError(
                    f"cannot load a model config from {self.name_or_path!r}: {str(exc).rstrip('.')}. Pass a local "
                    "directory written by save_pretrained, or a hub id already in the local cache "
                    "(nothing is downloaded when HF_HUB_OFFLINE=1)."
                ) from None
            model_type = config.model_type
            if model_type not in _TOWERS:
                raise ConfigError(
                    f"{self.id}: model type {model_type!r} is not a supported vision tower; "
                    f"supported: {sorted(_TOWERS)}."
                )
            cls_name, n_prefix = _TOWERS[model_type]
            if model_type == "clip":  # the projection size lives on the composite config
                vision = config.vision_config
                vision.projection_dim = config.projection_dim
                config = vision
            elif model_type == "siglip":
                config = config.vision_config
            model_cls = getattr(transformers, cls_name)
            model, info = _load(model_cls, self.name_or_path, config, kw)

        missing = set(info.get("missing_keys", ()))
        self.has_projection = hasattr(model, "visual_projection") and not any(
            k.startswith("visual_projection") for k in missing
        )
        self.model = model.eval().float().requires_grad_(False)
        self.config = config
        self.model_type = model_type
        self.n_prefix = n_prefix + int(getattr(config, "num_register_tokens", 0) or 0)
        self.num_layers = int(config.num_hidden_layers)
        patch = config.patch_size
        self.patch_size = int(patch[0] if isinstance(patch, (list, tuple)) else patch)
        vision_model = getattr(model, "vision_model", None)
        # CLIP keeps its final LayerNorm outside last_hidden_state; see the module docstring.
        self._final_norm = vision_model.post_layernorm if model_type.startswith("clip") else None
        self.preprocess = PreprocessConfig.from_pretrained(self.name_or_path, local_files_only=local_files_only)

    def layer_names(self) -> list[str]:
        return [str(i) for i in range(self.num_layers + 1)] + ["last"]

    def poolings(self) -> list[str]:
        names = ["cls", "mean"] if self.n_prefix > 0 else ["mean"]
        return names + (["embeds"] if self.has_projection else [])

    def validate(self, layer: str, pooling: str) -> None:
        if pooling == "cls" and self.n_prefix == 0:
            raise ConfigError(
                f"{self.id} ({self.model_type}) has no CLS token, so pooling 'cls' is undefined; "
                f"valid poolings: {self.poolings()}."
            )
        if pooling == "embeds" and not self.has_projection:
            raise ConfigError(
                f"{self.id}: pooling 'embeds' needs CLIP's visual projection, which this "
                f"checkpoint lacks; valid poolings: {self.poolings()}."
            )
        super().validate(layer, pooling)
        if pooling == "embeds" and layer != "last":
            raise ConfigError(
                f"pooling 'embeds' is the projected final embedding and needs layer 'last', "
                f"got layer {layer!r}. Use pooling 'cls' or 'mean' for intermediate layers."
            )

    def precisions(self) -> list[str]:
        return list(PRECISIONS)

    def embed(
        self,
        pixels: torch.Tensor,
        *,
        layer: str = "last",
        pooling: str = "cls",
        precision: Precision = FP32,
        compile: bool = False,
    ) -> torch.Tensor:
        """See ``Backbone.embed``. ``precision`` and ``compile``
        select the CPU fast path (``backbones/speed.py``); the defaults are the float32
        reference."""
        self.validate(layer, pooling)
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            x = pixels.to(device=device, dtype=torch.float32)
            if precision.reference and not compile:
                return self._features(self.model, x, layer, pooling)
            precision = resolve_precision(precision)
            if precision.dtype == "int8" and device.type != "cpu":
                raise ConfigError(f"{self.id}: precision 'int8' (dynamic quantisation) runs on CPU only, not {device}.")
            ff = fast_forward(
                self, lambda model, px: self._features(model, px, layer, pooling),
                precision=precision, compile=compile, key=(layer, pooling),
            )
            return ff(x)

    def _features(self, model: torch.nn.Module, x: torch.Tensor, layer: str, pooling: str) -> torch.Tensor:
        """(layer, pooling) features of ``model`` (the float32 tower or its fast variant)."""
        out = model(pixel_values=x, output_hidden_states=layer != "last")
        if pooling == "embeds":
            return out.image_embeds.float()
        if layer == "last":
            tokens = out.last_hidden_state
            if self._final_norm is not None:
                tokens = self._final_norm(tokens)
        else:
            tokens = out.hidden_states[int(layer)]
        n_patches = (x.shape[-2] // self.patch_size) * (x.shape[-1] // self.patch_size)
        if tokens.shape[1] != self.n_prefix + n_patches:
            raise RuntimeError(
                f"{self.id}: expected {self.n_prefix} prefix + {n_patches} patch tokens, "
                f"got {tokens.shape[1]}; the token layout of {self.model_type!r} is not understood."
            )
        feats = tokens[:, 0] if pooling == "cls" else tokens[:, self.n_prefix :].mean(dim=1)
        return feats.float().contiguous()


def _load(model_cls: Any, name: str, config: Any, kw: dict[str, Any]) -> tuple[torch.nn.Module, dict]:
    """from_pretrained with SDPA attention when the class supports it."""
    common = dict(config=config, dtype=torch.float32, output_loading_info=True, **kw)
    try:
        return model_cls.from_pretrained(name, attn_implementation="sdpa", **common)
    except (ValueError, ImportError) as exc:
        if "sdpa" not in str(exc).lower() and "attn" not in str(exc).lower():
            raise
        return model_cls.from_pretrained(name, **common)


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence load reports (unused text-tower weights) and progress bars, then restore."""
    from transformers.utils import logging  # heavy: transformers

    level = logging.get_verbosity()
    bar = logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        if bar:
            logging.enable_progress_bar()
