import numpy as np
import pytest
from PIL import Image

from synthtrace.errors import InputError
from synthtrace.features.forensic import FEATURE_NAMES, MAX_SIDE, forensic_features, forensic_matrix


def _noise(side=128, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)


def _feature(vec, name):
    return float(vec[FEATURE_NAMES.index(name)])


def test_one_named_finite_value_per_feature():
    f = forensic_features(_noise())
    assert f.shape == (len(FEATURE_NAMES),) and f.dtype == np.float32
    assert np.isfinite(f).all()
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)


def test_upsampled_image_survives_a_down_up_copy_at_its_own_factor():
    # A bicubic 2x up-sampled image is nearly its own x2 down-then-up copy, but not its x4 copy;
    # white noise loses about as much either way.
    def gap(img):
        f = forensic_features(img)
        return _feature(f, "resample_x4") - _feature(f, "resample_x2")

    up = np.asarray(Image.fromarray(_noise(96, seed=1)).resize((192, 192), Image.BICUBIC))
    assert gap(up) > gap(_noise(192, seed=2)) + 0.5


def test_clipped_share_counts_saturated_pixels():
    img = np.full((128, 128, 3), 128, np.uint8)
    img[:32] = 255
    img += np.random.default_rng(5).integers(0, 2, img.shape, dtype=np.uint8) * (img < 255)
    assert _feature(forensic_features(img), "clipped_share") == pytest.approx(0.25, abs=0.01)


def test_large_images_use_the_centre_crop_without_resampling():
    big = _noise(MAX_SIDE + 200, seed=6)
    centre = big[100:100 + MAX_SIDE, 100:100 + MAX_SIDE]
    np.testing.assert_array_equal(forensic_features(big), forensic_features(centre))


def test_grey_and_rgba_inputs_and_matrix():
    rgb = _noise(96, seed=7)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    np.testing.assert_array_equal(forensic_features(rgb), forensic_features(rgba))
    assert forensic_features(rgb[..., 0]).shape == (len(FEATURE_NAMES),)
    assert forensic_matrix([rgb, rgba]).shape == (2, len(FEATURE_NAMES))
    assert forensic_matrix([]).shape == (0, len(FEATURE_NAMES))


def test_bad_inputs_say_what_is_wrong():
    with pytest.raises(InputError, match="too small"):
        forensic_features(_noise(32))
    with pytest.raises(InputError, match="shape"):
        forensic_features(np.zeros((64, 64, 5), np.uint8))
