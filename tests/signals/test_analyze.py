import io

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from synthtrace.records import Evidence
from synthtrace.signals import GENERATED_THRESHOLD, analyze_pixels

from ._synth import jpeg_bytes, rgb_texture, texture, transposed_conv_up


def _check(evs):
    assert [e.name for e in evs] == ["periodic_peaks", "jpeg_history"]
    for e in evs:
        assert isinstance(e, Evidence)
        assert e.direction in ("generated", "authentic", "none")
        assert 0.0 <= e.strength <= 1.0 and 0.0 <= e.reliability <= 1.0
        assert e.explanation


def test_upsampled_fake_points_to_generated():
    fake = transposed_conv_up(texture(128, 0), 4, 0)
    rgb = np.repeat(np.clip(fake, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    evs = analyze_pixels(rgb)
    _check(evs)
    spec = evs[0]
    assert spec.direction == "generated" and spec.strength >= GENERATED_THRESHOLD
    assert spec.details["top"][0]["explained_by"] is None
    assert "grid" in spec.explanation


def test_camera_like_jpeg_gives_none_and_informational_history():
    data = jpeg_bytes(rgb_texture(256, 1), 85)
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    spec, hist = analyze_pixels(rgb, data=data)
    assert spec.direction == "none" and "not proof" in spec.explanation
    assert hist.direction == "none" and hist.details["quality"] == 85
    assert spec.reliability == hist.details["pixel_reliability"]
    assert spec.details["is_jpeg"] is True


def test_png_history_says_no_jpeg_history(tmp_path):
    p = tmp_path / "a.png"
    img = rgb_texture(128, 2)
    Image.fromarray(img).save(p)
    _, hist = analyze_pixels(img, path=p)
    assert "no JPEG history" in hist.explanation


def test_odd_inputs_never_raise():
    cases = [
        np.zeros((5, 5, 3), np.uint8),  # tiny
        np.full((300, 300, 3), 128, np.uint8),  # constant
        texture(128, 3).astype(np.uint8),  # grayscale 2-D
        np.zeros((10,)),  # 1-D
        np.full((64, 64, 3), np.nan),  # NaN floats
        np.zeros((64, 64, 7)),  # odd channel count
        None,
    ]
    for arr in cases:
        evs = analyze_pixels(arr, data=b"garbage")
        _check(evs)
    assert analyze_pixels(np.full((300, 300, 3), 128, np.uint8))[0].error
    assert "too small" in analyze_pixels(np.zeros((5, 5, 3), np.uint8))[0].explanation


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    h=st.integers(1, 96),
    w=st.integers(1, 96),
    c=st.sampled_from([None, 1, 3, 4]),
    seed=st.integers(0, 2**16),
)
def test_random_shapes_never_raise(h, w, c, seed):
    shape = (h, w) if c is None else (h, w, c)
    arr = np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)
    _check(analyze_pixels(arr))


def test_demosaic_pattern_saved_as_jpeg_is_not_called_generated():
    # JPEG copies a strong 1/2 (demosaic) peak to every k/8 point; that must not count.
    yy, xx = np.mgrid[:512, :512]
    for q in (90, 75):
        g = 0.5 * texture(512, 0) + 64 + np.random.default_rng(0).normal(0, 3, (512, 512)) + 4 * (-1.0) ** (xx + yy)
        data = jpeg_bytes(np.repeat(np.clip(g, 0, 255).astype(np.uint8)[..., None], 3, axis=2), q)
        rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        spec = analyze_pixels(rgb, data=data)[0]
        assert spec.direction == "none" and spec.strength <= 0.5


def test_x4_grid_survives_jpeg():
    fake = transposed_conv_up(texture(128, 4), 4, 4)
    data = jpeg_bytes(np.repeat(np.clip(fake, 0, 255).astype(np.uint8)[..., None], 3, axis=2), 80)
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert analyze_pixels(rgb, data=data)[0].direction == "generated"
