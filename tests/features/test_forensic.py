import numpy as np
import pytest
from PIL import Image

from synthtrace.errors import InputError
from synthtrace.features.forensic import FEATURE_NAMES, MAX_SIDE, cooccurrences, forensic_features, forensic_matrix


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


def _cooc_by_loops(x, order, q, t=2):
    """Reference: every triple of neighbouring differences counted one by one, each triple's
    class named by the smallest of itself, its negation and their reversals."""
    counts = {}
    for axis in (1, 0):
        d = np.diff(x.astype(np.float64), n=order, axis=axis)
        if axis == 0:
            d = d.T
        v = np.clip(np.rint(d / q), -t, t).astype(int)
        for row in v:
            for j in range(len(row) - 2):
                a = tuple(row[j:j + 3])
                rep = min(a, tuple(-e for e in a), a[::-1], tuple(-e for e in a[::-1]))
                counts[rep] = counts.get(rep, 0) + 1
    total = sum(counts.values())
    return {k: c / total for k, c in counts.items()}


@pytest.mark.parametrize("order,q", [(1, 1.0), (2, 2.0)])
def test_cooccurrences_match_counting_by_hand(order, q):
    x = np.random.default_rng(3).normal(0, 2.0, (11, 9)).round().astype(np.float32) + 100
    shares = cooccurrences(x, order)
    ref = _cooc_by_loops(x, order, q)
    assert shares.sum() == pytest.approx(1.0)
    # one share per class that occurs, equal to the counted share; the classes that never occur get 0
    assert sorted(np.round(shares[shares > 0], 12)) == sorted(np.round(list(ref.values()), 12))
    assert np.count_nonzero(shares) == len(ref)


def test_cooccurrences_of_a_ramp():
    # Along rows a slope of 1 gives first-order triples (1, 1, 1); along columns nothing changes: (0, 0, 0).
    x = np.tile(np.arange(40, dtype=np.float32), (40, 1))
    first, second = cooccurrences(x, 1), cooccurrences(x, 2)
    assert sorted(first[first > 0]) == pytest.approx([0.5, 0.5])
    assert sorted(second[second > 0]) == pytest.approx([1.0])  # second differences vanish both ways


def test_cooccurrences_ignore_mirroring_negation_and_transposition():
    x = np.random.default_rng(4).integers(0, 256, (64, 48)).astype(np.float32)
    ref = cooccurrences(x, 1)
    for y in (x[:, ::-1], x[::-1], 255 - x, x.T):
        np.testing.assert_allclose(cooccurrences(y, 1), ref, atol=1e-12)
