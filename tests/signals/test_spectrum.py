import numpy as np

from synthtrace.signals.residual import noise_residual
from synthtrace.signals.spectrum import (
    HALF_BAND_WEIGHT,
    JPEG_AXIS_WEIGHT,
    autocorrelation,
    periodic_peaks,
    power_spectrum,
)

from ._synth import texture, transposed_conv_up


def score(img, **kw):
    return periodic_peaks(power_spectrum(noise_residual(img)), **kw)


def test_x2_upsampled_texture_scores_higher_than_noisy_texture():
    rng = np.random.default_rng(0)
    for seed in range(3):
        fake = transposed_conv_up(texture(256, seed), 2, seed)
        real = texture(512, seed) + rng.normal(0, 3, (512, 512))
        s_fake, s_real = score(fake), score(real)
        assert s_fake.score > s_real.score + 0.3
        assert s_fake.half_band_strength > 0.9
        assert s_real.score < 0.1


def test_x4_upsampling_puts_a_peak_at_one_quarter():
    ps = score(transposed_conv_up(texture(128, 1), 4, 1))
    assert ps.by_order["1/4"] > 0.9
    quarter = [p for p in ps.peaks if "1/4" in (p.fx, p.fy) and p.explained_by is None]
    assert max(p.strength for p in quarter) > 0.9
    assert ps.score > 0.9


def test_white_noise_has_no_peak():
    ps = score(np.random.default_rng(3).normal(128, 20, (512, 512)))
    assert ps.score == 0.0 and max(ps.by_order.values()) < 0.1


def _axis_pattern(period: int) -> np.ndarray:
    rng = np.random.default_rng(5)
    x = np.arange(512)
    img = 128 + rng.normal(0, 4, (512, 512))
    return img + 3 * np.cos(2 * np.pi * x / period)[None, :] + 3 * np.cos(2 * np.pi * x / period)[:, None]


def test_axis_peaks_at_multiples_of_one_eighth_are_down_weighted_for_jpeg():
    img = _axis_pattern(4)  # peaks at (1/4, 0) and (0, 1/4), as a JPEG block grid makes
    plain, as_jpeg = score(img), score(img, is_jpeg=True)
    assert plain.score > 0.9
    assert as_jpeg.jpeg_grid_strength > 0.9
    assert as_jpeg.score <= JPEG_AXIS_WEIGHT + 1e-9


def test_demosaic_like_half_band_peak_cannot_reach_full_score():
    rng = np.random.default_rng(6)
    yy, xx = np.mgrid[:512, :512]
    img = 128 + rng.normal(0, 4, (512, 512)) + 3 * (-1.0) ** (xx + yy)  # CFA-like checkerboard
    ps = score(img)
    assert ps.half_band_strength > 0.9
    assert ps.score <= HALF_BAND_WEIGHT + 1e-9


def test_autocorrelation_is_normalised_and_shows_the_period():
    spec = power_spectrum(noise_residual(transposed_conv_up(texture(128, 2), 4, 2)))
    ac = autocorrelation(spec.power)
    assert np.isclose(ac[0, 0], 1.0)
    assert ac[0, 4] > ac[0, 3] and ac[4, 0] > ac[3, 0]


def test_small_image_uses_small_tiles_and_scores_nothing_on_noise():
    rng = np.random.default_rng(8)
    ps = score(texture(128, 3) + rng.normal(0, 3, (128, 128)))
    assert ps.tile == 32 or ps.tile == 64
    assert ps.score < 0.3
