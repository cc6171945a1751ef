from __future__ import annotations

import pytest
import torch
import transformers

from synthtrace.backbones import create_backbone
from synthtrace.backbones.hf import HFBackbone
from synthtrace.backbones.tiny import save_tiny_model
from synthtrace.errors import ConfigError

KINDS = ["vit", "clip", "dinov2", "siglip"]
POOLINGS = {"vit": ["cls", "mean"], "clip": ["cls", "mean", "embeds"], "dinov2": ["cls", "mean"], "siglip": ["mean"]}


@pytest.fixture(scope="module")
def backbones(tiny_dirs):
    return {k: create_backbone(f"hf:{tiny_dirs[k]}") for k in KINDS}


def _pixels(n: int = 2, side: int = 32) -> torch.Tensor:
    return torch.randn(n, 3, side, side, generator=torch.Generator().manual_seed(0))


def _quiet():
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


@pytest.mark.parametrize("kind", KINDS)
def test_loads_through_registry_with_layers_and_poolings(backbones, tiny_dirs, kind):
    b = backbones[kind]
    assert isinstance(b, HFBackbone) and b.id == f"hf:{tiny_dirs[kind]}"
    assert b.layer_names() == ["0", "1", "2", "last"]
    assert b.poolings() == POOLINGS[kind]
    assert not b.model.training and all(not p.requires_grad for p in b.model.parameters())
    assert b.model.config._attn_implementation == "sdpa"
    x = _pixels()
    for layer in b.layer_names():
        for pooling in b.poolings():
            if pooling == "embeds" and layer != "last":
                continue
            f = b.embed(x, layer=layer, pooling=pooling)
            assert f.dtype == torch.float32
            assert f.shape == (2, 16 if pooling == "embeds" else 32)


def test_clip_embeds_equal_projection_model_and_full_model(backbones, tiny_dirs):
    _quiet()
    x = _pixels()
    ours = backbones["clip"].embed(x, pooling="embeds")
    cfg = transformers.AutoConfig.from_pretrained(tiny_dirs["clip"])
    vcfg = cfg.vision_config
    vcfg.projection_dim = cfg.projection_dim
    ref = transformers.CLIPVisionModelWithProjection.from_pretrained(tiny_dirs["clip"], config=vcfg).eval()
    full = transformers.CLIPModel.from_pretrained(tiny_dirs["clip"]).eval()
    with torch.no_grad():
        torch.testing.assert_close(ours, ref(pixel_values=x).image_embeds)
        feats = full.get_image_features(pixel_values=x)
        torch.testing.assert_close(ours, getattr(feats, "pooler_output", feats))


def test_last_layer_semantics_match_the_documented_tensors(backbones, tiny_dirs):
    """'last' = hidden_states[N] after the final LayerNorm; cls = token 0; mean skips CLS."""
    _quiet()
    x = _pixels()
    clip = transformers.CLIPVisionModel.from_pretrained(tiny_dirs["clip"]).eval()
    dino = transformers.Dinov2Model.from_pretrained(tiny_dirs["dinov2"]).eval()
    vit = transformers.ViTModel.from_pretrained(tiny_dirs["vit"]).eval()
    sig = transformers.SiglipModel.from_pretrained(tiny_dirs["siglip"]).eval()
    with torch.no_grad():
        oc = clip(pixel_values=x, output_hidden_states=True)
        torch.testing.assert_close(backbones["clip"].embed(x, pooling="cls"), oc.pooler_output)
        torch.testing.assert_close(backbones["clip"].embed(x, layer="2", pooling="cls"), oc.hidden_states[2][:, 0])
        od = dino(pixel_values=x)
        torch.testing.assert_close(backbones["dinov2"].embed(x, pooling="cls"), od.pooler_output)
        torch.testing.assert_close(backbones["dinov2"].embed(x, pooling="mean"), od.last_hidden_state[:, 1:].mean(1))
        ov = vit(pixel_values=x, output_hidden_states=True)
        torch.testing.assert_close(backbones["vit"].embed(x, pooling="cls"), ov.last_hidden_state[:, 0])
        torch.testing.assert_close(backbones["vit"].embed(x, layer="1", pooling="mean"), ov.hidden_states[1][:, 1:].mean(1))
        os_ = sig.vision_model(pixel_values=x)
        torch.testing.assert_close(backbones["siglip"].embed(x, pooling="mean"), os_.last_hidden_state.mean(1))
    # "last" is post-norm, "2" (= N) is pre-norm: they must differ.
    assert not torch.allclose(backbones["vit"].embed(x, layer="2"), backbones["vit"].embed(x, layer="last"))


def test_invalid_layer_pooling_list_the_valid_ones(backbones):
    x = _pixels(1)
    with pytest.raises(ConfigError, match=r"no layer '7'.*'0', '1', '2', 'last'"):
        backbones["vit"].embed(x, layer="7")
    with pytest.raises(ConfigError, match=r"no pooling 'gem'.*'cls', 'mean'"):
        backbones["vit"].embed(x, pooling="gem")
    with pytest.raises(ConfigError, match="no CLS token.*'mean'"):
        backbones["siglip"].embed(x, pooling="cls")
    with pytest.raises(ConfigError, match="needs layer 'last'"):
        backbones["clip"].embed(x, layer="1", pooling="embeds")
    with pytest.raises(ConfigError, match="visual projection"):
        backbones["dinov2"].embed(x, pooling="embeds")


def test_weights_hash_is_stable_memoised_and_content_based(backbones, tiny_dirs, tmp_path):
    b = backbones["vit"]
    h = b.weights_hash()
    assert len(h) == 64 and b.weights_hash() is h
    assert HFBackbone(tiny_dirs["vit"]).weights_hash() == h
    other = save_tiny_model("vit", tmp_path / "vit-seed1", seed=1)
    assert HFBackbone(other).weights_hash() != h


def test_vision_only_clip_checkpoint_without_projection(tmp_path):
    _quiet()
    cfg = transformers.CLIPVisionConfig(
        image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    transformers.CLIPVisionModel(cfg).save_pretrained(tmp_path)
    (tmp_path / "preprocessor_config.json").write_text(
        '{"size": {"shortest_edge": 32}, "crop_size": {"height": 32, "width": 32}, "do_center_crop": true}'
    )
    b = HFBackbone(tmp_path)
    assert b.poolings() == ["cls", "mean"]
    assert b.embed(_pixels(1)).shape == (1, 32)


def test_bad_sources_raise_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot load a model config"):
        create_backbone(f"hf:{tmp_path / 'nope'}", local_files_only=True)
    transformers.BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8).save_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="'bert' is not a supported vision tower.*clip"):
        create_backbone(f"hf:{tmp_path}")
