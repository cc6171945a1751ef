from __future__ import annotations

import numpy as np
import pytest
import transformers

from synthtrace.backbones.preprocess import PreprocessConfig
from synthtrace.errors import ConfigError


def _processor(path):
    from transformers.utils import logging

    logging.set_verbosity_error()  # "torchvision missing, using PIL backend" notice
    return transformers.AutoImageProcessor.from_pretrained(path)


@pytest.mark.parametrize("kind", ["vit", "clip", "dinov2", "siglip"])
def test_from_pretrained_reads_the_saved_processor(tiny_dirs, kind):
    proc = _processor(tiny_dirs[kind])
    cfg = PreprocessConfig.from_pretrained(tiny_dirs[kind])
    assert cfg.mean == pytest.approx(tuple(proc.image_mean))
    assert cfg.std == pytest.approx(tuple(proc.image_std))
    assert cfg.rescale == pytest.approx(proc.rescale_factor)
    assert cfg.interpolation == {2: "bilinear", 3: "bicubic"}[int(proc.resample)]
    size = dict(proc.size)
    if "shortest_edge" in size and size["shortest_edge"]:
        assert (cfg.resize, cfg.resize_mode) == (size["shortest_edge"], "shortest_edge")
    else:
        assert (cfg.resize, cfg.resize_mode) == (size["height"], "square")
    assert cfg.crop == (proc.crop_size["height"] if getattr(proc, "do_center_crop", False) else None)


@pytest.mark.parametrize("kind", ["vit", "clip", "dinov2", "siglip"])
@pytest.mark.parametrize("transpose", [False, True])
def test_output_matches_transformers_processor(tiny_dirs, test_rgb, kind, transpose):
    rgb = np.ascontiguousarray(test_rgb.transpose(1, 0, 2)) if transpose else test_rgb
    ours = PreprocessConfig.from_pretrained(tiny_dirs[kind])(rgb)
    theirs = _processor(tiny_dirs[kind])(images=rgb, return_tensors="np")["pixel_values"][0]
    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_dict_round_trip_and_digest():
    cfg = PreprocessConfig(resize=256, crop=224, mean=(0.1, 0.2, 0.3), std=(0.4, 0.5, 0.6))
    again = PreprocessConfig.from_dict(cfg.to_dict())
    assert again == cfg and again.digest() == cfg.digest()
    assert len(cfg.digest()) == 16
    assert PreprocessConfig.from_dict({**cfg.to_dict(), "crop": 200}).digest() != cfg.digest()


def test_unknown_and_missing_keys_list_valid_ones():
    with pytest.raises(ConfigError, match="unknown PreprocessConfig keys \\['size'\\].*resize_mode"):
        PreprocessConfig.from_dict({"size": 3})
    with pytest.raises(ConfigError, match="valid keys"):
        PreprocessConfig.from_dict({"resize": 3})


def test_invalid_values_are_refused():
    with pytest.raises(ConfigError, match="bicubic"):
        PreprocessConfig(resize=8, crop=None, mean=(0, 0, 0), std=(1, 1, 1), interpolation="area")
    with pytest.raises(ConfigError, match="3 values"):
        PreprocessConfig(resize=8, crop=None, mean=(0, 0), std=(1, 1, 1))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="positive"):
        PreprocessConfig(resize=0, crop=None, mean=(0, 0, 0), std=(1, 1, 1))


def test_crop_larger_than_image_pads_with_zeros_like_transformers():
    cfg = PreprocessConfig(resize=None, crop=8, mean=(0, 0, 0), std=(1, 1, 1), rescale=1.0)
    out = cfg(np.full((4, 10, 3), 7, np.uint8))
    assert out.shape == (3, 8, 8)
    assert (out[:, :2] == 0).all() and (out[:, 2:6] == 7).all() and (out[:, 6:] == 0).all()


def test_rejects_non_rgb_input():
    cfg = PreprocessConfig(resize=8, crop=None, mean=(0, 0, 0), std=(1, 1, 1))
    with pytest.raises(ValueError, match="uint8"):
        cfg(np.zeros((4, 4), np.uint8))
