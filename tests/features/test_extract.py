from __future__ import annotations

import numpy as np
import pytest
import torch

from synthtrace.backbones.preprocess import PreprocessConfig
from synthtrace.errors import ConfigError, UnreadableImageError
from synthtrace.features import extract, extract_features
from synthtrace.io.images import load_image


def _count_calls(monkeypatch, backbone) -> list[int]:
    """Wrap backbone.embed; the list collects batch sizes."""
    calls: list[int] = []
    real = backbone.embed

    def counting(pixels, **kw):
        calls.append(len(pixels))
        return real(pixels, **kw)

    monkeypatch.setattr(backbone, "embed", counting)
    return calls


def test_matches_direct_embedding_in_input_order(backbone, image_paths):
    feats = extract_features(image_paths, backbone, batch_size=3, progress=False)
    assert feats.shape == (7, 32) and feats.dtype == np.float32
    pixels = np.stack([backbone.preprocess(load_image(p).rgb) for p in image_paths])
    ref = backbone.embed(torch.from_numpy(pixels)).numpy()
    np.testing.assert_allclose(feats, ref, atol=1e-5)


def test_workers_and_batch_size_do_not_change_results(backbone, image_paths):
    a = extract_features(image_paths, backbone, batch_size=2, num_workers=0, progress=False)
    b = extract_features(image_paths, backbone, batch_size=32, num_workers=3, progress=False)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_layer_and_pooling_are_passed_and_checked_first(backbone, image_paths, monkeypatch):
    f = extract_features(image_paths[:2], backbone, layer="1", pooling="mean", progress=False)
    assert f.shape == (2, 32)
    assert extract_features(image_paths[:2], backbone, pooling="embeds", progress=False).shape == (2, 16)
    monkeypatch.setattr(extract, "_read", lambda p: pytest.fail("read before validating"))
    with pytest.raises(ConfigError, match="valid layers"):
        extract_features(image_paths, backbone, layer="99", progress=False)


def test_cache_hit_skips_model_and_decoding(backbone, image_paths, tmp_path, monkeypatch):
    first = extract_features(image_paths, backbone, cache_dir=tmp_path, progress=False)
    calls = _count_calls(monkeypatch, backbone)
    import synthtrace.io.images as images

    monkeypatch.setattr(images, "load_image_bytes", lambda *a, **k: pytest.fail("decoded a cache hit"))
    again = extract_features(image_paths, backbone, cache_dir=tmp_path, progress=False)
    assert calls == [] and np.array_equal(first, again)


def test_partial_hits_compute_only_new_images(backbone, image_paths, tmp_path, monkeypatch):
    extract_features(image_paths[:4], backbone, cache_dir=tmp_path, progress=False)
    calls = _count_calls(monkeypatch, backbone)
    feats = extract_features(image_paths, backbone, cache_dir=tmp_path, progress=False)
    assert sum(calls) == 3
    np.testing.assert_allclose(feats, extract_features(image_paths, backbone, progress=False), atol=1e-5)


def test_refresh_cache_recomputes(backbone, image_paths, tmp_path, monkeypatch):
    extract_features(image_paths, backbone, cache_dir=tmp_path, progress=False)
    calls = _count_calls(monkeypatch, backbone)
    extract_features(image_paths, backbone, cache_dir=tmp_path, refresh_cache=True, progress=False)
    assert sum(calls) == 7


def test_unreadable_and_missing_files_are_named(backbone, image_paths, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 definitely not a jpeg")
    with pytest.raises(UnreadableImageError, match="broken.jpg"):
        extract_features([*image_paths[:3], bad], backbone, progress=False)
    with pytest.raises(UnreadableImageError, match="missing.png"):
        extract_features([tmp_path / "missing.png"], backbone, progress=False, cache_dir=tmp_path / "c")


def test_uncropped_images_of_different_shapes_are_batched_by_shape(image_paths, tmp_path):
    """Without a crop, outputs differ in size; DINOv2 accepts any size, so group and batch."""
    from synthtrace.backbones import create_backbone
    from synthtrace.backbones.tiny import save_tiny_model

    dino = create_backbone(f"hf:{save_tiny_model('dinov2', tmp_path / 'dino')}")
    dino.preprocess = PreprocessConfig(resize=32, crop=None, mean=(0.5,) * 3, std=(0.5,) * 3)
    shapes = {dino.preprocess(load_image(p).rgb).shape for p in image_paths}
    assert len(shapes) > 2
    feats = extract_features(image_paths, dino, batch_size=4, progress=False)
    for p, row in zip(image_paths, feats):
        one = dino.embed(torch.from_numpy(dino.preprocess(load_image(p).rgb))[None])[0].numpy()
        np.testing.assert_allclose(row, one, atol=1e-5)


def test_empty_input_gives_zero_rows(backbone):
    assert extract_features([], backbone, progress=False).shape == (0, 32)


def test_progress_bar_runs(backbone, image_paths, tmp_path, capsys):
    extract_features(image_paths[:2], backbone, progress=True, cache_dir=tmp_path)
    extract_features(image_paths[:2], backbone, progress=True, cache_dir=tmp_path)
