"""Every layer of a transformers backbone from one forward pass per batch.

Two products, both for ``HFBackbone`` (``hf:`` towers):

- :func:`extract_all_layers`: pooled features for every (layer, pooling) pair,
  ``{("0", "cls"): (N, D), ..., ("last", "mean"): (N, D)}``, for the per-layer probe
  sweep. ``output_hidden_states=True`` returns all layers at once, so the model runs
  once per batch however many layers are probed. The values are exactly what
  ``backbone.embed(pixels, layer=L, pooling=P)`` returns (see ``backbones/hf.py``).
  With ``cache_dir`` every pair is stored in the same content-addressed cache as
  :func:`~synthtrace.features.extract.extract_features`, so ``train --layer L`` after
  a sweep reads its features from the cache.
- :func:`layer_tokens` / :func:`extract_layer_tokens`: per-layer patch tokens P_l
  (output of block l) and attention keys A_l (the key projection inside block l's
  self-attention, captured with forward hooks) for the multi-layer head (spec §4).
  Both keep patch tokens only (CLS, distillation and register tokens dropped), so
  they are (L, T, D) per image. Memory is N·L·T·D·2 floats: fine for small models and
  a few thousand images, large for ViT-L at 224 px (about 50 MB per image).

Both take ``precision`` "fp32" (reference) or "bf16" (bfloat16 autocast; fp32 with a
logged note on a CPU without native bfloat16), as ``extract_features`` does. int8 and
token merging are not offered here: the sweep compares layers, and quantisation error
or merged tokens would differ by layer and blur that comparison.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from synthtrace.backbones.base import Backbone
from synthtrace.backbones.hf import HFBackbone
from synthtrace.backbones.speed import FP32, Precision, resolve_precision
from synthtrace.errors import ConfigError, SynthtraceError, UnreadableImageError
from synthtrace.features.cache import FeatureCache
from synthtrace.features.extract import _feed_batches, _ordered, _progress_bar, _read, cache_key
from synthtrace.io.images import load_image, load_image_bytes

__all__ = ["extract_all_layers", "extract_layer_tokens", "key_projections", "layer_tokens", "probe_layer_names"]

_KEY_MODULE = re.compile(r"(?:^|\.)(?:k_proj|key)$")


def _check_hf(backbone: Backbone) -> None:

    if not isinstance(backbone, HFBackbone):
        raise ConfigError(
            f"backbone {backbone.id!r} has no transformer layers to sweep; use an hf:<hub id or local dir> backbone."
        )


def probe_layer_names(backbone: Backbone) -> list[str]:
    """The layers a sweep covers: ``"0"`` … ``"N"`` and ``"last"``."""
    return list(backbone.layer_names())


def _resolve(precision: Precision) -> Precision:
    if precision.dtype not in ("fp32", "bf16") or precision.tome_r is not None:
        raise ConfigError(f"all-layer features run at precision fp32 or bf16, not {str(precision)!r}.")
    return resolve_precision(precision)


def _forward(backbone, pixels: torch.Tensor, precision: Precision):
    """The model's output with every hidden state, in float32 or under bfloat16 autocast."""
    device = next(backbone.model.parameters()).device
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision.dtype == "bf16"):
        return backbone.model(pixel_values=pixels.to(device=device, dtype=torch.float32), output_hidden_states=True)


def _pool(tokens: torch.Tensor, pooling: str, n_prefix: int) -> torch.Tensor:
    return tokens[:, 0] if pooling == "cls" else tokens[:, n_prefix:].mean(dim=1)


def _all_layer_batch(
    backbone, pixels: torch.Tensor, pairs: list[tuple[str, str]], precision: Precision = FP32
) -> dict[tuple[str, str], np.ndarray]:
    """One forward pass → every requested (layer, pooling) for one batch."""
    out = _forward(backbone, pixels, precision)
    with torch.inference_mode():
        last = out.last_hidden_state.float()
        if backbone._final_norm is not None:
            last = backbone._final_norm(last)
        result = {}
        for layer, pooling in pairs:
            if pooling == "embeds":
                feats = out.image_embeds
            else:
                tokens = last if layer == "last" else out.hidden_states[int(layer)].float()
                feats = _pool(tokens, pooling, backbone.n_prefix)
            result[(layer, pooling)] = feats.float().cpu().numpy()
    return result


def extract_all_layers(
    images: Sequence[str | Path],
    backbone: Backbone,
    *,
    poolings: Sequence[str] = ("cls", "mean"),
    layers: Sequence[str] | None = None,
    batch_size: int = 32,
    cache_dir: str | Path | None = None,
    refresh_cache: bool = False,
    progress: bool = True,
    num_workers: int = 2,
    precision: Precision = FP32,
) -> dict[tuple[str, str], np.ndarray]:
    """Features of ``images`` for every (layer, pooling), one forward pass per batch.

    ``layers`` defaults to every layer (``"0"`` … ``"N"``, ``"last"``). ``"embeds"``
    is only paired with layer ``"last"``. An image whose features are all cached is
    never decoded.
    """
    _check_hf(backbone)
    precision = _resolve(precision)
    layers = list(layers) if layers is not None else probe_layer_names(backbone)
    pairs: list[tuple[str, str]] = []
    for pooling in poolings:
        for layer in layers:
            if pooling == "embeds" and layer != "last":
                continue
            backbone.validate(layer, pooling)
            pairs.append((layer, pooling))
    if not pairs:
        raise ConfigError(f"no (layer, pooling) pair to extract from layers {layers} and poolings {list(poolings)}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    paths = [Path(p) for p in images]
    spaces = {}
    if cache_dir is not None:
        cache = FeatureCache(cache_dir)
        details = {"preprocess": backbone.preprocess.to_dict(), "precision": str(precision)}
        for layer, pooling in pairs:
            key = cache_key(backbone, layer=layer, pooling=pooling, precision=precision)
            spaces[(layer, pooling)] = cache.open(key, refresh=refresh_cache, details=details)
    use_cache = bool(spaces) and not refresh_cache
    out: dict[tuple[str, str], np.ndarray] = {}

    def store(index: int, pair: tuple[str, str], vec: np.ndarray) -> None:
        if pair not in out:
            out[pair] = np.empty((len(paths), vec.shape[-1]), dtype=np.float32)
        out[pair][index] = vec

    def prepare(i: int):
        data = _read(paths[i])
        sha = hashlib.sha256(data).hexdigest()
        if use_cache:
            hits = {pair: ns.get(sha) for pair, ns in spaces.items()}
            if all(v is not None for v in hits.values()):
                return i, sha, hits, None

        try:
            return i, sha, None, backbone.preprocess(load_image_bytes(data, str(paths[i])).rgb)
        except SynthtraceError:
            raise
        except Exception as exc:
            raise UnreadableImageError(f"{paths[i]}: cannot be decoded or preprocessed ({exc}).") from exc

    def cached(item) -> bool:
        index, _, hits, _ = item
        if hits is None:
            return False
        for pair, vec in hits.items():
            store(index, pair, vec)
        return True

    def run_batch(pending: list) -> None:
        groups: dict[tuple[int, ...], list[tuple[int, str, np.ndarray]]] = {}
        for item in pending:
            groups.setdefault(item[3].shape, []).append(item)
        for items in groups.values():
            feats = _all_layer_batch(backbone, torch.from_numpy(np.stack([it[3] for it in items])), pairs, precision)
            for pair, mat in feats.items():
                for (index, sha, _, _), vec in zip(items, mat):
                    store(index, pair, vec)
                    if pair in spaces:
                        spaces[pair].put(sha, vec)

    label = f"features {backbone.id} [{len(pairs)} layer/pooling pairs{'' if precision.reference else f', {precision}'}]"
    with _progress_bar(len(paths), enabled=progress, label=label) as advance:
        _feed_batches(_ordered(prepare, len(paths), num_workers, lookahead=2 * batch_size),
                      batch_size, run_batch, advance, cached=cached)
    if not paths:
        side = backbone.preprocess.crop or backbone.preprocess.resize or 224
        dims = _all_layer_batch(backbone, torch.zeros(1, 3, side, side), pairs, precision)
        return {pair: np.zeros((0, v.shape[-1]), np.float32) for pair, v in dims.items()}
    return {pair: out[pair] for pair in pairs}


# ------------------------------------------------------------ tokens and keys


def key_projections(backbone: Backbone) -> list[torch.nn.Module]:
    """The key projection of every encoder block, in block order.

    Matches ``k_proj`` (CLIP, SigLIP, recent ViT/DINOv2) and ``key`` (older ViT/DINOv2).
    """
    _check_hf(backbone)
    found = [(name, m) for name, m in backbone.model.named_modules() if _KEY_MODULE.search(name)]
    # CLIPVisionModelWithProjection has no text tower, but be strict about the count anyway.
    if len(found) != backbone.num_layers:
        raise ConfigError(
            f"{backbone.id}: found {len(found)} attention key projections for {backbone.num_layers} blocks "
            f"({[n for n, _ in found][:4]}...); this model's attention layout is not understood."
        )
    return [m for _, m in found]


def layer_tokens(backbone: Backbone, pixels: torch.Tensor, precision: Precision = FP32) -> tuple[torch.Tensor, torch.Tensor]:
    """Preprocessed pixels (B, 3, H, W) → (P, A), each (B, L, T, D) float32.

    P[:, l] = patch tokens output by block l+1 (``hidden_states[l+1]``), A[:, l] = the
    keys block l+1's self-attention computed for the same patch positions.
    """
    modules = key_projections(backbone)
    keys: list[torch.Tensor | None] = [None] * len(modules)

    def hook(i: int):
        def fn(_module, _inputs, output):
            keys[i] = output.detach()

        return fn

    precision = _resolve(precision)
    handles = [m.register_forward_hook(hook(i)) for i, m in enumerate(modules)]
    try:
        out = _forward(backbone, pixels, precision)
    finally:
        for h in handles:
            h.remove()
    n = backbone.n_prefix
    hidden = out.hidden_states[1:]
    if any(k is None for k in keys) or len(hidden) != len(keys):
        raise ConfigError(f"{backbone.id}: the key hooks did not fire for every block; cannot export attention keys.")
    P = torch.stack([h[:, n:] for h in hidden], dim=1).float()
    A = torch.stack([k[:, n:] for k in keys], dim=1).float()  # type: ignore[index]
    return P.contiguous(), A.contiguous()


def extract_layer_tokens(
    images: Sequence[str | Path],
    backbone: Backbone,
    *,
    batch_size: int = 32,
    progress: bool = True,
    num_workers: int = 2,
    precision: Precision = FP32,
) -> tuple[np.ndarray, np.ndarray]:
    """(P, A) for image files, each (N, L, T, D) float32; images must share one input size."""
    _check_hf(backbone)
    precision = _resolve(precision)
    paths = [Path(p) for p in images]

    def prepare(i: int) -> np.ndarray:

        return backbone.preprocess(load_image(paths[i]).rgb)

    P_parts: list[np.ndarray] = []
    A_parts: list[np.ndarray] = []
    def run_batch(pending: list[np.ndarray]) -> None:
        shapes = {p.shape for p in pending}
        if len(shapes) > 1:
            raise ConfigError(
                f"{backbone.id}: images preprocess to different sizes {sorted(shapes)}; the multi-layer head needs a "
                "fixed token grid (use a backbone whose preprocessing crops to a square)."
            )
        P, A = layer_tokens(backbone, torch.from_numpy(np.stack(pending)), precision)
        P_parts.append(P.numpy())
        A_parts.append(A.numpy())

    with _progress_bar(len(paths), enabled=progress, label=f"layer tokens {backbone.id}") as advance:
        _feed_batches(_ordered(prepare, len(paths), num_workers, lookahead=2 * batch_size), batch_size, run_batch, advance)
    if not P_parts:
        raise ConfigError("no images to extract layer tokens from.")
    P, A = np.concatenate(P_parts), np.concatenate(A_parts)
    if P.shape[2] != A.shape[2]:
        raise ConfigError(f"token grids differ across images: {P.shape} vs {A.shape}")
    return P, A
