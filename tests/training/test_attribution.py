"""Fitting attribution heads, on the learned fingerprint (features="learned") kept inside the bundle."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from synthtrace.errors import BundleError, ConfigError
from synthtrace.detector.attribution import bind_attribution, load_attribution_head
from synthtrace.heads.learned_fingerprint import LearnedFingerprint, LearnedFingerprintConfig
from synthtrace.tasks.attribute import load_attribution
from synthtrace.training.attribution import fit_bundle_head

TINY = LearnedFingerprintConfig(epochs=2, widths=(8, 8, 16, 16), strides=(1, 1, 2, 2), batch_size=16)


def test_fit_bundle_head_trains_the_fingerprint_into_the_bundle(tiny_bench, tmp_path, one_thread):
    from synthtrace.io.images import load_image
    from synthtrace.io.manifest import read_manifest

    bundle = tmp_path / "b"
    head, summary = fit_bundle_head(bundle, tiny_bench / "manifest.csv", features="learned", fingerprint_config=TINY,
                                    random_state=0)
    fp = LearnedFingerprint.from_pretrained(bundle / "fingerprint")
    assert fp.config == TINY and summary["learned_fingerprint"]["source"] == "trained"
    assert list(fp.classes_) == head.label_map()  # same rows, same labels
    assert summary["learned_fingerprint"]["n_val"] == summary["n_calibration"]
    back = load_attribution_head(bundle)
    assert back.features == "learned" and back.n_features_in_ == 16

    m = read_manifest(tiny_bench / "manifest.csv")
    paths = [m.path_of(r) for r in m if r.label == "fake" and r.split == "test" and not r.mask_path][:5]
    attribution = load_attribution(bundle)  # a folder with a head on learned features, no detector
    X_paths = attribution.features(paths)
    X_arrays = attribution.features([load_image(p).rgb for p in paths])
    np.testing.assert_allclose(X_paths, X_arrays, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(X_paths, fp.transform_files(paths), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(back.predict_proba(X_paths), head.predict_proba(X_paths))

    # re-fitting the head with the bundle's own folder keeps it as it is
    before = (bundle / "fingerprint" / "learned_fingerprint.safetensors").read_bytes()
    fit_bundle_head(bundle, tiny_bench / "manifest.csv", features="learned", fingerprint=bundle / "fingerprint")
    assert (bundle / "fingerprint" / "learned_fingerprint.safetensors").read_bytes() == before

    with pytest.raises(ConfigError, match="bundle folder"):
        bind_attribution(back)


def test_given_fingerprint_is_copied_and_errors_are_clear(tiny_bench, tmp_path):
    with pytest.raises(ConfigError, match="features='learned'"):
        fit_bundle_head(tmp_path / "x", tiny_bench / "manifest.csv", features="fingerprint", fingerprint=tmp_path)
    with pytest.raises(BundleError, match="missing_fp"):
        fit_bundle_head(tmp_path / "x", tiny_bench / "manifest.csv", features="learned", fingerprint=tmp_path / "missing_fp")

    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(4)]
    fp = LearnedFingerprint(replace(TINY, epochs=1, widths=(4, 4, 8, 8)))
    fp.fit(imgs, ["p", "q", "p", "q"], progress=False).save_pretrained(tmp_path / "fp")
    bundle = tmp_path / "b"
    head, summary = fit_bundle_head(bundle, tiny_bench / "manifest.csv", features="learned", fingerprint=tmp_path / "fp")
    assert summary["learned_fingerprint"]["classes"] == ["p", "q"]  # its own training labels, not the head's
    assert head.n_features_in_ == 8
    import shutil

    shutil.rmtree(bundle / "fingerprint")
    with pytest.raises(BundleError, match="fingerprint"):
        load_attribution(bundle)
