"""Token merging (ToMe) for ``hf:`` ViT and CLIP vision towers: less work per image.

Bolya et al., "Token Merging: Your ViT but Faster" (ICLR 2023). In every transformer
block, between attention and MLP, the ``r`` most redundant tokens are merged into
their closest partner, so later blocks process fewer tokens. Written here over the
transformers modules' own weights: the replacement block forward calls the layer's
LayerNorms, q/k/v/output projections and MLP (float32, bf16 autocast or their int8
dynamically quantised copies alike) and only changes what happens to the sequence.

Why: on a small CPU without AMX, a full ViT-B/16 forward pass is bounded by the
matrix-multiply rate alone (docs/cpu-speed.md); going faster means doing less work per image.

Per block, with tokens ``x`` (B, N, C) and their sizes ``s`` (B, N, 1; how many
input patches each token stands for, 1 at the start):

1. attention with *proportional attention*: ``log s`` is added to the attention
   logits of every key (an additive float mask to ``scaled_dot_product_attention``),
   so a merged token gets the weight of the patches it replaces;
2. bipartite soft matching on the attention **keys** (the block's ``k_proj`` output,
   averaged over heads, cosine similarity): tokens alternate into sets A (even
   positions) and B (odd); each A token's most similar B token is its match; the
   ``r`` A tokens with the most similar matches are merged into them by a
   size-weighted average, sizes add up. The CLS token (position 0, in A) is never
   merged and stays at position 0; the kept A tokens keep their order, merged B
   tokens follow;
3. the MLP on the shorter sequence.

``r`` is capped per block at half the mergeable tokens, so a large ``r`` on a short
sequence cannot fail. Matching runs in float32 even under bf16 autocast (its cost is
negligible, and bfloat16 ties would make the merge pattern, not just the rounding,
differ from float32).

Pooling: ``cls`` is token 0; ``mean`` is the **size-weighted** mean over non-CLS
tokens, which equals the plain mean over patches when nothing was merged; ``embeds``
(CLIP) is the projection of the normalised CLS token. Layer ``"i"`` runs only the
first ``i`` blocks. With ``r = 0`` everything reproduces ``HFBackbone.embed`` to float
tolerance (tested).

Used through the precision names ``"<base>+tome<r>"`` of ``backbones/speed.py``
(``bf16+tome16``: bfloat16 autocast, r = 16 in every block); ``"<base>+tome"`` means
:data:`DEFAULT_R`. How far merged features and decisions move from float32 is measured
on random weights only so far (docs/cpu-speed.md): re-check on trained weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

from synthtrace.errors import ConfigError

__all__ = [
    "DEFAULT_R", "ToMeConfig", "bipartite_merge", "merged_features", "merged_tokens", "size_weighted_mean",
    "supports_token_merging",
]

# The r that "bf16+tome" means: the smallest r that met the throughput target of
# benchmarks/feature_throughput.py with the decision agreement required (docs/cpu-speed.md).
DEFAULT_R = 18

_SUPPORTED = ("vit", "clip", "clip_vision_model")


@dataclass(frozen=True)
class ToMeConfig:
    """Tokens merged per block: ``r`` in every block, or ``r_per_layer`` (one per block).

    ``proportional_attention=False`` drops the log-size term (for ablations; the
    paper's default, and ours, is on).
    """

    r: int = DEFAULT_R
    r_per_layer: tuple[int, ...] | None = None
    proportional_attention: bool = True

    def __post_init__(self) -> None:
        values = (self.r,) if self.r_per_layer is None else tuple(self.r_per_layer)
        if any(not isinstance(v, int) or v < 0 for v in values):
            raise ConfigError(f"token merging r must be integers >= 0, got {values}.")

    def schedule(self, num_layers: int) -> tuple[int, ...]:
        """Requested r per block (before the per-block cap at half the mergeable tokens)."""
        if self.r_per_layer is None:
            return (self.r,) * num_layers
        if len(self.r_per_layer) != num_layers:
            raise ConfigError(
                f"token merging r_per_layer has {len(self.r_per_layer)} entries but the tower has "
                f"{num_layers} blocks; give one r per block, or a single r."
            )
        return tuple(self.r_per_layer)

    def token_counts(self, num_tokens: int, num_layers: int, protected: int = 1) -> list[int]:
        """Tokens after each block (index 0 = input), given the per-block cap."""
        counts = [num_tokens]
        for r in self.schedule(num_layers):
            counts.append(counts[-1] - min(r, (counts[-1] - protected) // 2))
        return counts


def bipartite_merge(
    x: torch.Tensor, size: torch.Tensor, metric: torch.Tensor, r: int, *, protect_first: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Merge the ``r`` most redundant tokens: (x (B, N, C), size (B, N, 1)) → N - r tokens.

    ``metric`` (B, N, D) decides who is similar (cosine); ``x`` is what gets
    averaged, weighted by ``size``. With ``protect_first`` token 0 (CLS) is never
    merged and stays at position 0.
    """
    n = x.shape[1]
    r = min(r, (n - int(protect_first)) // 2)
    if r <= 0:
        return x, size
    with torch.autocast(x.device.type, enabled=False):
        m = metric.float()
        m = m / m.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        sim = m[:, 0::2] @ m[:, 1::2].transpose(1, 2)  # (B, |A|, |B|)
        if protect_first:
            sim[:, 0] = -math.inf
        best, partner = sim.max(dim=-1)  # each A token's closest B token
        order = best.argsort(dim=-1, descending=True)
        merged = order[:, :r]  # A positions that disappear
        kept = order[:, r:].sort(dim=-1).values  # stays in input order, so CLS stays first
        target = partner.gather(1, merged)  # the B position each merged token joins

        xa, xb = x[:, 0::2], x[:, 1::2]
        sa, sb = size[:, 0::2].to(x.dtype), size[:, 1::2].to(x.dtype)
        c = x.shape[-1]
        take = lambda t, idx: t.gather(1, idx.unsqueeze(-1).expand(-1, -1, t.shape[-1]))  # noqa: E731
        sa_m = take(sa, merged)
        weighted = (xb * sb).scatter_add(1, target.unsqueeze(-1).expand(-1, -1, c), take(xa, merged) * sa_m)
        sb_new = sb.scatter_add(1, target.unsqueeze(-1), sa_m)
        x_out = torch.cat([take(xa, kept), weighted / sb_new], dim=1)
        s_out = torch.cat([take(sa, kept), sb_new], dim=1)
    return x_out, s_out


class _Block(NamedTuple):
    """The parts of one transformer block, whatever the transformers version calls them."""

    norm1: Any
    q: Any
    k: Any
    v: Any
    out: Any
    norm2: Any
    mlp: Any
    heads: int
    scale: float


def _vit_block(layer: Any) -> _Block:
    att = layer.attention
    if hasattr(att, "q_proj"):  # transformers >= 5
        mlp = layer.mlp
        return _Block(layer.layernorm_before, att.q_proj, att.k_proj, att.v_proj, att.o_proj,
                      layer.layernorm_after, mlp, att.num_attention_heads, att.scaling)
    sa = att.attention  # transformers 4.x: ViTSelfAttention + ViTSelfOutput, ViTIntermediate + ViTOutput

    def mlp4(h: torch.Tensor) -> torch.Tensor:
        return layer.output.dense(layer.intermediate(h))

    return _Block(layer.layernorm_before, sa.query, sa.key, sa.value, att.output.dense, layer.layernorm_after,
                  mlp4, sa.num_attention_heads, sa.attention_head_size ** -0.5)


def _clip_block(layer: Any) -> _Block:
    att = layer.self_attn
    return _Block(layer.layer_norm1, att.q_proj, att.k_proj, att.v_proj, att.out_proj, layer.layer_norm2,
                  layer.mlp, att.num_heads, att.scale)


class _Tower(NamedTuple):
    embed: Any  # pixels -> tokens before the first block (hidden_states[0])
    blocks: list[_Block]
    final_norm: Any
    projection: Any | None


def _tower(backbone: Any, model: torch.nn.Module) -> _Tower:
    if backbone.model_type == "vit":
        layers = model.layers if hasattr(model, "layers") else model.encoder.layer
        return _Tower(model.embeddings, [_vit_block(lay) for lay in layers], model.layernorm, None)
    vm = model.vision_model

    def embed(px: torch.Tensor) -> torch.Tensor:
        return vm.pre_layrnorm(vm.embeddings(px))

    proj = getattr(model, "visual_projection", None)
    return _Tower(embed, [_clip_block(lay) for lay in vm.encoder.layers], vm.post_layernorm, proj)


def supports_token_merging(backbone: Any) -> bool:
    return getattr(backbone, "model_type", None) in _SUPPORTED


def _check(backbone: Any) -> None:
    if not supports_token_merging(backbone):
        kind = getattr(backbone, "model_type", type(backbone).__name__)
        raise ConfigError(
            f"{getattr(backbone, 'id', backbone)}: token merging (precision '+tome') is implemented for "
            f"hf: ViT and CLIP vision towers only, not {kind!r}; use precision 'bf16' or 'int8' instead."
        )


def _block_forward(
    blk: _Block, x: torch.Tensor, size: torch.Tensor, r: int, proportional: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """One block; ``proportional``: add log(size) to the logits (False while all sizes are 1,
    which keeps the unmerged path identical to transformers' SDPA call)."""
    b, n, _ = x.shape
    h = blk.norm1(x)
    q, k, v = (proj(h).view(b, n, blk.heads, -1).transpose(1, 2) for proj in (blk.q, blk.k, blk.v))
    mask = None
    if proportional:
        # log(size) on every key: a token standing for s patches gets s times the weight.
        mask = size.log().to(q.dtype).view(b, 1, 1, n)
    a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.0, scale=blk.scale)
    x = x + blk.out(a.transpose(1, 2).reshape(b, n, -1))
    if r > 0:
        x, size = bipartite_merge(x, size, k.mean(dim=1), r)
    x = x + blk.mlp(blk.norm2(x))
    return x, size


def merged_tokens(
    backbone: Any, model: torch.nn.Module, pixels: torch.Tensor, config: ToMeConfig, *, upto: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens (B, M, C), sizes (B, M, 1)) after ``upto`` blocks (default: all, before the final norm)."""
    _check(backbone)
    tower = _tower(backbone, model)
    n_blocks = len(tower.blocks) if upto is None else upto
    schedule = config.schedule(len(tower.blocks))
    x = tower.embed(pixels)
    size = torch.ones(x.shape[0], x.shape[1], 1, dtype=torch.float32, device=x.device)
    merged = False  # decided from shapes, not values: no data-dependent branch for torch.compile
    for blk, r in zip(tower.blocks[:n_blocks], schedule):
        n = x.shape[1]
        x, size = _block_forward(blk, x, size, r, config.proportional_attention and merged)
        merged = merged or x.shape[1] < n
    return x, size


def merged_features(
    backbone: Any, model: torch.nn.Module, pixels: torch.Tensor, *, layer: str, pooling: str, config: ToMeConfig
) -> torch.Tensor:
    """(layer, pooling) features with token merging; same meaning as ``HFBackbone.embed``."""
    _check(backbone)
    n_layers = backbone.num_layers
    upto = n_layers if layer == "last" else int(layer)
    tokens, size = merged_tokens(backbone, model, pixels, config, upto=upto)
    if layer == "last":
        tower = _tower(backbone, model)
        if pooling == "embeds":
            if tower.projection is None:
                raise ConfigError(f"{backbone.id}: pooling 'embeds' needs CLIP's visual projection.")
            return tower.projection(tower.final_norm(tokens[:, 0])).float()
        tokens = tower.final_norm(tokens)
    feats = tokens[:, 0] if pooling == "cls" else size_weighted_mean(tokens[:, 1:], size[:, 1:])
    return feats.float().contiguous()


def size_weighted_mean(tokens: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """Mean over tokens (B, M, C) weighted by their sizes (B, M, 1): the mean over the
    original patches, since each merged token is the average of the patches it holds."""
    w = size.to(tokens.dtype)
    return (tokens * w).sum(dim=1) / w.sum(dim=1)
