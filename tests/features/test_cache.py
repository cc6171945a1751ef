from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import synthtrace
from synthtrace.backbones import create_backbone
from synthtrace.backbones.preprocess import PreprocessConfig
from synthtrace.backbones.tiny import save_tiny_model
from synthtrace.errors import CacheMismatchError
from synthtrace.features import CacheKey, FeatureCache, extract_features

KEY = CacheKey("hf:some/model", "w" * 64, "p" * 16, "last", "cls", "0.1.0")
SHA = "ab" + "0" * 62


def test_put_get_round_trip(tmp_path):
    ns = FeatureCache(tmp_path).open(KEY)
    assert ns.get(SHA) is None
    ns.put(SHA, np.arange(5, dtype=np.float64))
    got = FeatureCache(tmp_path).open(KEY).get(SHA)
    assert got.dtype == np.float32 and np.array_equal(got, np.arange(5))
    assert ns.path(SHA).parent.name == "ab"
    assert not list(ns.folder.rglob(".tmp-*"))


def test_different_backbone_layer_pooling_get_separate_namespaces(tmp_path):
    cache = FeatureCache(tmp_path)
    folders = {cache.open(dataclasses.replace(KEY, **kv)).folder for kv in
               [{}, {"backbone_id": "hf:other"}, {"layer": "3"}, {"pooling": "mean"}]}
    assert len(folders) == 4


@pytest.mark.parametrize("part", [f.name for f in dataclasses.fields(CacheKey)])
def test_each_key_part_mismatch_is_named(tmp_path, part):
    """A namespace whose key.json disagrees in any part is refused, naming that part."""
    ns = FeatureCache(tmp_path).open(KEY)
    stored = json.loads((ns.folder / "key.json").read_text())
    stored["key"][part] = "something-else"
    (ns.folder / "key.json").write_text(json.dumps(stored))
    with pytest.raises(CacheMismatchError) as err:
        FeatureCache(tmp_path).open(KEY)
    msg = str(err.value)
    assert f"{part}: cached 'something-else', requested {getattr(KEY, part)!r}" in msg
    assert str(ns.folder) in msg and "refresh_cache=True" in msg
    assert msg.count(": cached ") == 1


def test_refresh_replaces_a_mismatched_namespace(tmp_path):
    FeatureCache(tmp_path).open(KEY).put(SHA, np.ones(3, np.float32))
    newer = dataclasses.replace(KEY, weights_hash="x" * 64)
    ns = FeatureCache(tmp_path).open(newer, refresh=True)
    assert ns.get(SHA) is None  # stale vectors must not survive
    assert FeatureCache(tmp_path).open(newer).key == newer


def test_corrupt_entry_reads_as_miss(tmp_path):
    ns = FeatureCache(tmp_path).open(KEY)
    ns.put(SHA, np.ones(3, np.float32))
    ns.path(SHA).write_bytes(b"garbage")
    assert ns.get(SHA) is None


# -- real mismatches through extract_features --------------------------------------


def test_weights_overwritten_in_place_are_detected(tmp_path, image_paths):
    model_dir = save_tiny_model("vit", tmp_path / "model", seed=0)
    extract_features(image_paths[:2], create_backbone(f"hf:{model_dir}"), cache_dir=tmp_path / "c", progress=False)
    save_tiny_model("vit", model_dir, seed=1)  # same id, new weights
    with pytest.raises(CacheMismatchError, match="weights_hash: cached '[0-9a-f]{64}', requested"):
        extract_features(image_paths[:2], create_backbone(f"hf:{model_dir}"), cache_dir=tmp_path / "c", progress=False)


def test_preprocess_change_is_detected_with_both_configs(backbone, tmp_path, image_paths):
    extract_features(image_paths[:2], backbone, cache_dir=tmp_path, progress=False)
    backbone.preprocess = dataclasses.replace(backbone.preprocess, interpolation="bilinear")
    with pytest.raises(CacheMismatchError, match="preprocess.interpolation: cached 'bicubic', requested 'bilinear'"):
        extract_features(image_paths[:2], backbone, cache_dir=tmp_path, progress=False)


def test_version_change_is_detected(backbone, tmp_path, image_paths, monkeypatch):
    extract_features(image_paths[:2], backbone, cache_dir=tmp_path, progress=False)
    monkeypatch.setattr(synthtrace, "__version__", "9.9.9")
    with pytest.raises(CacheMismatchError, match="synthtrace_version: cached '0.1.0', requested '9.9.9'"):
        extract_features(image_paths[:2], backbone, cache_dir=tmp_path, progress=False)
    feats = extract_features(image_paths[:2], backbone, cache_dir=tmp_path, refresh_cache=True, progress=False)
    assert feats.shape == (2, 32)


def test_preprocess_config_from_dict_used_in_details(backbone):
    assert PreprocessConfig.from_dict(backbone.preprocess.to_dict()) == backbone.preprocess
