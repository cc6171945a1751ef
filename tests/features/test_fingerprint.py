"""Handcrafted fingerprints: shape, determinism, grid phase, and that they tell decoders apart."""

import numpy as np
import pytest

from synthtrace.errors import InputError
from synthtrace.features.fingerprint import fingerprint_dim, fingerprint_features, fingerprint_files


def _periodic(kernel_seed, n=6, size=64, seed=0):
    """Smooth content plus a fixed period-4 pattern (a stand-in for an up-sampling trace)."""
    rng = np.random.default_rng(seed)
    pat = np.random.default_rng(kernel_seed).normal(size=(4, 4, 3))
    tile = np.tile(pat, (size // 4, size // 4, 1))
    out = []
    for _ in range(n):
        base = rng.uniform(0.2, 0.8, size=(1, 1, 3)) + 0.1 * np.sin(np.arange(size) / rng.uniform(5, 15))[:, None, None]
        out.append(np.clip(base + 0.03 * tile + 0.01 * rng.normal(size=(size, size, 3)), 0, 1))
    return np.stack(out).astype(np.float32)


def test_shape_dtype_and_determinism():
    x = _periodic(1, n=3)
    f = fingerprint_features(x)
    assert f.shape == (3, fingerprint_dim()) and f.dtype == np.float32 and np.isfinite(f).all()
    np.testing.assert_array_equal(f, fingerprint_features(list(x)))
    u8 = (x * 255).round().astype(np.uint8)
    np.testing.assert_allclose(fingerprint_features(u8), fingerprint_features(u8.astype(np.float32) / 255), atol=1e-5)


def test_separates_two_periodic_patterns_and_ignores_brightness():
    a, b = fingerprint_features(_periodic(1, seed=0)), fingerprint_features(_periodic(2, seed=1))
    within = np.linalg.norm(a[:, None] - a[None], axis=-1).mean()
    between = np.linalg.norm(a[:, None] - b[None], axis=-1).mean()
    assert between > 2 * within
    x = _periodic(1, n=2)
    np.testing.assert_allclose(fingerprint_features(x), fingerprint_features(x * 0.5 + 0.1), atol=1e-4)


def test_files_match_arrays_and_errors(tmp_path):
    from PIL import Image

    x = (_periodic(3, n=2, size=64) * 255).round().astype(np.uint8)
    paths = []
    for i, im in enumerate(x):
        Image.fromarray(im).save(tmp_path / f"{i}.png")
        paths.append(tmp_path / f"{i}.png")
    Image.fromarray(np.zeros((72, 40, 3), np.uint8) + 100).save(tmp_path / "odd.png")
    f = fingerprint_files(paths + [tmp_path / "odd.png"])
    np.testing.assert_allclose(f[:2], fingerprint_features(x), atol=1e-5)
    assert np.isfinite(f).all()
    with pytest.raises(InputError):
        fingerprint_features(np.zeros((1, 8, 8, 3), np.uint8))
    with pytest.raises(InputError):
        fingerprint_features([np.zeros((32, 32, 3)), np.zeros((40, 40, 3))])
