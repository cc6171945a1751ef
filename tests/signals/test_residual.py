import numpy as np
import pytest

from synthtrace.signals.residual import centre_box, centre_crop, noise_residual, to_luminance, wiener_denoise

from ._synth import texture


def test_constant_image_residual_is_zero():
    r = noise_residual(np.full((200, 300, 3), 77, dtype=np.uint8))
    assert r.shape == (200, 300)
    assert float(np.abs(r).max()) < 1e-3


def test_residual_keeps_noise_and_drops_smooth_content():
    rng = np.random.default_rng(0)
    smooth = texture(256, 0, sigma=6.0)
    r_smooth = noise_residual(smooth)
    r_noisy = noise_residual(smooth + rng.normal(0, 5, smooth.shape))
    assert r_noisy.std() > 3 * r_smooth.std()


def test_luminance_accepts_grey_rgba_and_float_scales():
    rgb = np.full((8, 8, 3), 255, dtype=np.uint8)
    assert np.allclose(to_luminance(rgb), 255, atol=0.01)
    assert np.allclose(to_luminance(rgb / 255.0), 255, atol=0.01)
    assert np.allclose(to_luminance(np.dstack([rgb, np.zeros((8, 8, 1), np.uint8)])), 255, atol=0.01)
    assert to_luminance(np.zeros((8, 8))).shape == (8, 8)
    with pytest.raises(ValueError, match="shape"):
        to_luminance(np.zeros((8, 8, 2)))


def test_centre_crop_is_grid_aligned_and_bounded():
    top, left, h, w = centre_box(3000, 4000, 1024)
    assert (h, w) == (1024, 1024) and top % 8 == 0 and left % 8 == 0
    assert centre_crop(np.zeros((3000, 4000)), 1024).shape == (1024, 1024)
    assert centre_box(100, 50, 1024) == (0, 0, 100, 50)


def test_wiener_preserves_a_strong_edge():
    img = np.zeros((64, 64), np.float32)
    img[:, 32:] = 200
    img += np.random.default_rng(1).normal(0, 2, img.shape).astype(np.float32)
    out = wiener_denoise(img)
    assert abs(float(out[10, 33] - out[10, 30])) > 150
