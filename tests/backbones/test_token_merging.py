"""Token merging (ToMe): r = 0 is the unmodified tower, merging follows the schedule,
pooling is size-weighted, CLS is never merged, batches merge per image.

Tiny ViT and CLIP towers (64 px, patch 8: 64 patches + CLS, 4 blocks) are built and
saved here; speed and agreement on ViT-B/16 live in benchmarks/.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from synthtrace.backbones import create_backbone, speed
from synthtrace.backbones.speed import PRECISIONS, TOME_R, Precision, resolve_precision
from synthtrace.backbones.tiny import save_tiny_model
from synthtrace.backbones.token_merging import (
    DEFAULT_R,
    ToMeConfig,
    _block_forward,
    _tower,
    bipartite_merge,
    merged_features,
    merged_tokens,
    size_weighted_mean,
)
from synthtrace.errors import ConfigError

N_LAYERS, SIDE, PATCH = 4, 64, 8
N_TOKENS = 1 + (SIDE // PATCH) ** 2  # 65


@pytest.fixture(scope="module")
def towers(tmp_path_factory):
    root = tmp_path_factory.mktemp("tome")
    size = dict(image_size=SIDE, patch_size=PATCH, num_layers=N_LAYERS)
    return {kind: create_backbone(f"hf:{save_tiny_model(kind, root / kind, **size)}") for kind in ("vit", "clip")}


def _pixels(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, SIDE, SIDE, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind", ["vit", "clip"])
def test_r0_reproduces_the_unmodified_tower(towers, kind):
    bb = towers[kind]
    x = _pixels(3)
    with torch.inference_mode():
        for layer in ("0", "2", "last"):
            for pooling in bb.poolings():
                if pooling == "embeds" and layer != "last":
                    continue
                ref = bb.embed(x, layer=layer, pooling=pooling)
                got = merged_features(bb, bb.model, x, layer=layer, pooling=pooling, config=ToMeConfig(r=0))
                torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["vit", "clip"])
def test_token_count_follows_the_schedule(towers, kind):
    bb = towers[kind]
    x = _pixels(2)
    for cfg in (ToMeConfig(r=8), ToMeConfig(r_per_layer=(16, 8, 0, 4)), ToMeConfig(r=100)):
        counts = cfg.token_counts(N_TOKENS, N_LAYERS)
        with torch.inference_mode():
            for upto in range(N_LAYERS + 1):
                tokens, size = merged_tokens(bb, bb.model, x, cfg, upto=upto)
                assert tokens.shape == (2, counts[upto], bb.config.hidden_size)
                # every patch is still accounted for, in exactly one token
                assert torch.equal(size.sum(dim=1).flatten(), torch.full((2,), float(N_TOKENS)))
    assert ToMeConfig(r=8).token_counts(N_TOKENS, N_LAYERS) == [65, 57, 49, 41, 33]
    assert ToMeConfig(r_per_layer=(16, 8, 0, 4)).token_counts(N_TOKENS, N_LAYERS) == [65, 49, 41, 41, 37]
    # r larger than half the mergeable tokens is capped per block: (65-1)//2 = 32, then 16, 8, 4
    assert ToMeConfig(r=100).token_counts(N_TOKENS, N_LAYERS) == [65, 33, 17, 9, 5]
    with pytest.raises(ConfigError, match="one r per block"):
        ToMeConfig(r_per_layer=(1, 2)).schedule(N_LAYERS)
    with pytest.raises(ConfigError, match=">= 0"):
        ToMeConfig(r=-1)


def _toy():
    """5 tokens: CLS=0 (set A), B0=1, A1=2, B1=3, A2=4. CLS's key equals B0's exactly,
    A1 is closest to B1 (cos 0.995), A2 to B0 (cos 0.894)."""
    metric = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.1, 1.0], [1.0, 0.5]]])
    x = torch.arange(15, dtype=torch.float32).reshape(1, 5, 3) ** 1.5
    size = torch.tensor([1.0, 2.0, 3.0, 1.0, 1.0]).reshape(1, 5, 1)
    return x, size, metric


def test_bipartite_merge_by_hand():
    x, size, metric = _toy()
    x0, x1, x2, x3, x4 = x[0]
    out, s = bipartite_merge(x, size, metric, r=1)
    # A1 (size 3) joins B1 (size 1); kept A tokens first in order, then B
    torch.testing.assert_close(out[0], torch.stack([x0, x4, x1, (3 * x2 + x3) / 4]))
    assert s.flatten().tolist() == [1.0, 1.0, 2.0, 4.0]
    out, s = bipartite_merge(x, size, metric, r=2)
    torch.testing.assert_close(out[0], torch.stack([x0, (2 * x1 + x4) / 3, (3 * x2 + x3) / 4]))
    assert s.flatten().tolist() == [1.0, 3.0, 4.0]
    # r beyond the cap ((5-1)//2 = 2) changes nothing more: CLS is never merged
    out3, s3 = bipartite_merge(x, size, metric, r=3)
    assert torch.equal(out3, out) and torch.equal(s3, s)


def test_size_weighted_mean_pooling_by_hand():
    x, size, metric = _toy()
    out, s = bipartite_merge(x, size, metric, r=2)
    x1, x2, x3, x4 = x[0, 1:]
    by_hand = (2 * x1 + 3 * x2 + 1 * x3 + 1 * x4) / 7  # the original patches, with their sizes
    torch.testing.assert_close(size_weighted_mean(out[:, 1:], s[:, 1:])[0], by_hand)
    torch.testing.assert_close(size_weighted_mean(x[:, 1:], size[:, 1:])[0], by_hand)
    # unit sizes: the plain mean
    torch.testing.assert_close(size_weighted_mean(x, torch.ones(1, 5, 1)), x.mean(dim=1))


def test_cls_is_never_merged(towers):
    bb = towers["vit"]
    x, size, metric = _toy()
    out, s = bipartite_merge(x, size, metric, r=2)
    assert torch.equal(out[0, 0], x[0, 0]) and s[0, 0].item() == 1.0
    with torch.inference_mode():
        _, s = merged_tokens(bb, bb.model, _pixels(3), ToMeConfig(r=100))
    assert s.shape[1] == 5 and torch.all(s[:, 0] == 1)
    # without protection the CLS token would have merged (its key equals B0's)
    out, s = bipartite_merge(x, size, metric, r=1, protect_first=False)
    assert not torch.equal(out[0, 0], x[0, 0]) and s.flatten().tolist() == [3.0, 1.0, 3.0, 1.0]


def test_proportional_attention_equals_duplicated_tokens(towers):
    """A token of size 2 attends and is attended to like two identical copies of it."""
    blk = _tower(towers["vit"], towers["vit"].model).blocks[0]
    g = torch.Generator().manual_seed(3)
    base = torch.randn(1, 6, towers["vit"].config.hidden_size, generator=g)
    dup = torch.cat([base, base[:, 2:3]], dim=1)  # token 2 twice
    with torch.inference_mode():
        got, _ = _block_forward(blk, base, torch.tensor([[1.0, 1, 2, 1, 1, 1]]).reshape(1, 6, 1), 0, True)
        ref, _ = _block_forward(blk, dup, torch.ones(1, 7, 1), 0, False)
        plain, _ = _block_forward(blk, base, torch.ones(1, 6, 1), 0, False)
    torch.testing.assert_close(got, ref[:, :6], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(plain, ref[:, :6], atol=1e-4)


@pytest.mark.parametrize("kind", ["vit", "clip"])
def test_batch_merges_each_image_on_its_own(towers, kind):
    bb = towers[kind]
    x = _pixels(4, seed=1)
    cfg = ToMeConfig(r=12)
    with torch.inference_mode():
        for pooling in bb.poolings():
            batch = merged_features(bb, bb.model, x, layer="last", pooling=pooling, config=cfg)
            single = torch.cat([merged_features(bb, bb.model, x[i : i + 1], layer="last", pooling=pooling, config=cfg)
                                for i in range(4)])
            torch.testing.assert_close(batch, single, rtol=1e-4, atol=1e-5)
            assert not torch.allclose(batch[0], batch[1])


def test_precision_names_route_to_token_merging(towers, monkeypatch):
    bb = towers["clip"]
    x = _pixels(2)
    assert {f"bf16+tome{r}" for r in TOME_R} | {"bf16+tome", "int8+tome8", "fp32+tome16"} <= set(PRECISIONS)
    assert bb.precisions() == list(PRECISIONS)
    assert Precision.parse("int8+tome12") == Precision("int8", 12) and Precision.parse("bf16") == Precision("bf16")
    assert str(Precision.parse("fp32+tome")) == f"fp32+tome{DEFAULT_R}"
    monkeypatch.setattr(speed, "cpu_bf16_native", lambda: False)
    monkeypatch.setattr(speed, "_fallback_noted", True)
    assert resolve_precision(Precision.parse("bf16+tome8")) == Precision("fp32", 8)
    monkeypatch.undo()
    with torch.inference_mode():
        for pooling in ("cls", "mean", "embeds"):
            got = bb.embed(x, pooling=pooling, precision=Precision.parse("fp32+tome8"))
            ref = merged_features(bb, bb.model, x, layer="last", pooling=pooling, config=ToMeConfig(r=8))
            assert torch.equal(got, ref)
            assert not torch.allclose(got, bb.embed(x, pooling=pooling), atol=1e-4)
        q = bb.embed(x, pooling="mean", precision=Precision.parse("int8+tome8"))
    cos = torch.nn.functional.cosine_similarity(q, bb.embed(x, pooling="mean", precision=Precision.parse("fp32+tome8")))
    assert float(cos.min()) > 0.9 and not torch.equal(q, bb.embed(x, pooling="mean", precision=Precision.parse("fp32+tome8")))
    with pytest.raises(ConfigError, match="expected one of"):
        bb.embed(x, precision=Precision.parse("bf16+merge"))


def test_unsupported_tower_is_a_clear_error(tiny_dirs):
    bb = create_backbone(f"hf:{tiny_dirs['dinov2']}")
    with pytest.raises(ConfigError, match="ViT and CLIP vision towers only"):
        bb.embed(torch.zeros(1, 3, 32, 32), precision=Precision.parse("fp32+tome4"))


def test_extract_features_caches_per_tome_precision(towers, tmp_path):
    from PIL import Image

    from synthtrace.features import extract_features

    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        p = tmp_path / f"im{i}.png"
        Image.fromarray(rng.integers(0, 255, (70, 80, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    bb = towers["vit"]
    kw = dict(pooling="mean", cache_dir=tmp_path / "cache", progress=False, num_workers=0)
    ref = extract_features(paths, bb, **kw)
    merged = extract_features(paths, bb, precision=Precision.parse("fp32+tome"), **kw)
    again = extract_features(paths, bb, precision=Precision.parse(f"fp32+tome{DEFAULT_R}"), **kw)
    assert np.array_equal(merged, again) and not np.allclose(ref, merged, atol=1e-4)
    names = sorted(d.name for d in (tmp_path / "cache").iterdir() if d.is_dir())
    assert len(names) == 2 and any(f"tome{DEFAULT_R}" in n for n in names), names
    assert math.isfinite(float(merged.sum()))
