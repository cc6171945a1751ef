"""Every layer from one forward pass: equal to per-layer embed(), cached, keys hooked."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthtrace.backbones.speed import Precision
from synthtrace.errors import ConfigError
from synthtrace.features.extract import extract_features
from synthtrace.features.layers import extract_all_layers, extract_layer_tokens, key_projections, layer_tokens


def test_all_layers_match_per_layer_extraction_in_one_pass(backbone, image_paths):
    calls = []
    forward = backbone.model.forward
    backbone.model.forward = lambda *a, **k: calls.append(1) or forward(*a, **k)
    feats = extract_all_layers(image_paths, backbone, poolings=("cls", "mean", "embeds"), batch_size=8, progress=False)
    assert len(calls) == 1  # 7 same-size crops → one batch → one forward pass for 2 * 4 + 1 pairs
    backbone.model.forward = forward
    assert set(feats) == {(l, p) for l in ("0", "1", "2", "last") for p in ("cls", "mean")} | {("last", "embeds")}
    for (layer, pooling), x in feats.items():
        ref = extract_features(image_paths, backbone, layer=layer, pooling=pooling, progress=False)
        np.testing.assert_allclose(x, ref, atol=1e-5, err_msg=f"{layer}/{pooling}")


def test_all_layers_fill_the_shared_cache(backbone, image_paths, tmp_path):
    feats = extract_all_layers(image_paths, backbone, poolings=("mean",), cache_dir=tmp_path, progress=False)
    backbone.embed = None  # any model call now fails: everything must come from the cache
    again = extract_all_layers(image_paths, backbone, poolings=("mean",), cache_dir=tmp_path, progress=False)
    for pair in feats:
        np.testing.assert_array_equal(feats[pair], again[pair])


def test_keys_and_tokens(backbone, image_paths):
    assert len(key_projections(backbone)) == backbone.num_layers
    P, A = extract_layer_tokens(image_paths, backbone, batch_size=4, progress=False)
    assert P.shape == A.shape == (7, backbone.num_layers, 16, 32)
    pixels = torch.zeros(2, 3, 32, 32)
    P1, A1 = layer_tokens(backbone, pixels)
    out = backbone.model(pixel_values=pixels, output_hidden_states=True)
    torch.testing.assert_close(P1[:, -1], out.hidden_states[-1][:, 1:])
    layer = backbone.model.vision_model.encoder.layers[0]
    expected = layer.self_attn.k_proj(layer.layer_norm1(out.hidden_states[0]))[:, 1:]
    torch.testing.assert_close(A1[:, 0], expected)
    assert not any(m._forward_hooks for m in key_projections(backbone))  # hooks removed


def test_refuses_a_cnn_backbone():
    from synthtrace.backbones import create_backbone

    with pytest.raises(ConfigError, match="hf:"):
        extract_all_layers([], create_backbone("cnn-small"))


def test_bf16_all_layers_close_to_fp32_and_cached_apart(backbone, image_paths, tmp_path, monkeypatch):
    from synthtrace.backbones import speed

    monkeypatch.setattr(speed, "cpu_bf16_native", lambda: True)  # run bf16 even on a CPU that would fall back
    ref = extract_all_layers(image_paths, backbone, poolings=("mean",), cache_dir=tmp_path, progress=False)
    fast = extract_all_layers(image_paths, backbone, poolings=("mean",), cache_dir=tmp_path, progress=False,
                              precision=Precision.parse("bf16"))
    for pair in ref:
        assert not np.array_equal(fast[pair], ref[pair])  # computed, not read from the fp32 cache
        cos = np.sum(fast[pair] * ref[pair], 1) / np.linalg.norm(fast[pair], axis=1) / np.linalg.norm(ref[pair], axis=1)
        assert cos.min() > 0.99, pair
    P32, _ = extract_layer_tokens(image_paths, backbone, progress=False)
    P16, _ = extract_layer_tokens(image_paths, backbone, progress=False, precision=Precision.parse("bf16"))
    assert P16.dtype == np.float32 and not np.array_equal(P16, P32)
    np.testing.assert_allclose(P16, P32, atol=0.1 * np.abs(P32).max())
    with pytest.raises(ConfigError, match="fp32 or bf16"):
        extract_all_layers(image_paths, backbone, progress=False, precision=Precision.parse("int8"))
