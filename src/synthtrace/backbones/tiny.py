"""Random-weight models saved exactly like real checkpoints, for tests and benchmarks.

Nothing is downloaded: each kind gets a small config with random init, saved with
``save_pretrained`` together with the matching transformers image processor, so
``HFBackbone`` and ``PreprocessConfig.from_pretrained`` read the same files they
would for real weights. CLIP and SigLIP are saved as full image-text checkpoints
so loading the vision tower out of a composite config is exercised too.
The same function builds ViT-B/16-sized models for benchmarks (hidden_size=768,
num_layers=12, num_heads=12, patch_size=16, image_size=224).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from synthtrace.backbones.hf import _quiet_transformers
from synthtrace.errors import ConfigError

TINY_KINDS = ("vit", "clip", "dinov2", "siglip")
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def save_tiny_model(
    kind: str,
    out_dir: str | Path,
    *,
    image_size: int = 32,
    patch_size: int = 8,
    hidden_size: int = 32,
    num_layers: int = 2,
    num_heads: int = 2,
    intermediate_size: int | None = None,
    seed: int = 0,
) -> Path:
    """Save a random ``kind`` model + image processor to ``out_dir``; return the dir.

    ``intermediate_size`` defaults to 4 x hidden_size (3072 for ViT-B).
    """
    import transformers as T  # heavy: transformers

    if kind not in TINY_KINDS:
        raise ConfigError(f"unknown tiny model kind {kind!r}; expected one of {list(TINY_KINDS)}.")
    out = Path(out_dir)
    vision: dict[str, Any] = dict(
        image_size=image_size,
        patch_size=patch_size,
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=intermediate_size or 4 * hidden_size,
    )
    # A tiny text tower whose special-token ids fit its vocabulary.
    text: dict[str, Any] = dict(
        vocab_size=64, hidden_size=hidden_size, num_hidden_layers=1, num_attention_heads=num_heads,
        intermediate_size=2 * hidden_size, max_position_embeddings=16,
        bos_token_id=0, eos_token_id=1, pad_token_id=1,
    )
    square = {"height": image_size, "width": image_size}
    bicubic, bilinear = 3, 2
    with _quiet_transformers(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if kind == "vit":
            model = T.ViTModel(T.ViTConfig(**vision))
            processor = _processor(T, "ViTImageProcessor", size=square, resample=bilinear,
                                   image_mean=[0.5] * 3, image_std=[0.5] * 3)
        elif kind == "dinov2":
            model = T.Dinov2Model(T.Dinov2Config(**vision))
            processor = _processor(
                T, "BitImageProcessor", size={"shortest_edge": round(image_size * 256 / 224)},
                crop_size=square, do_center_crop=True, resample=bicubic,
                image_mean=list(_IMAGENET_MEAN), image_std=list(_IMAGENET_STD),
            )
        elif kind == "clip":
            config = T.CLIPConfig(vision_config=vision, text_config=text, projection_dim=max(8, hidden_size // 2))
            model = T.CLIPModel(config)
            processor = _processor(
                T, "CLIPImageProcessor", size={"shortest_edge": image_size}, crop_size=square,
                do_center_crop=True, resample=bicubic, image_mean=list(_CLIP_MEAN), image_std=list(_CLIP_STD),
            )
        else:  # siglip
            model = T.SiglipModel(T.SiglipConfig(vision_config=vision, text_config=text))
            processor = _processor(T, "SiglipImageProcessor", size=square, resample=bicubic,
                                   image_mean=[0.5] * 3, image_std=[0.5] * 3)
        model.save_pretrained(out)
        processor.save_pretrained(out)
    return out


def _processor(T: Any, name: str, **kwargs: Any) -> Any:
    """The PIL-backed processor class when this transformers has one (no torchvision needed)."""
    cls = getattr(T, f"{name}Pil", None) or getattr(T, name)
    return cls(**kwargs)
