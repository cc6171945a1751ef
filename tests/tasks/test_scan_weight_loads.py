"""A scan loads a bundle's weights once, whatever the number of images (issue 21).

Before the bundle table, a bundle with an attribution head on backbone features built
its cnn-small backbone from the bundle folder again for every scanned image."""

from __future__ import annotations

import shutil

import pytest
import safetensors.numpy
import safetensors.torch

import synthtrace.detector.attribution as attribution_module
import synthtrace.detector.kinds as kinds_module
from synthtrace.detector import DetectorBundle
from synthtrace.detector.attribution import save_attribution_head
from synthtrace.features.extract import extract_features
from synthtrace.features.fingerprint import fingerprint_files
from synthtrace.heads.attribution import AttributionHead
from synthtrace.io.manifest import read_manifest
from synthtrace.tasks.scan import ScanOptions, scan_paths


@pytest.fixture
def weight_loads(monkeypatch):
    """Every safetensors file read through the loaders the bundle code uses, by file name."""
    loads: list[str] = []

    def counting(fn):
        def wrapper(path, *args, **kwargs):
            loads.append(str(path).rsplit("/", 1)[-1])
            return fn(path, *args, **kwargs)
        return wrapper

    monkeypatch.setattr(kinds_module, "load_torch", counting(safetensors.torch.load_file))
    monkeypatch.setattr(kinds_module, "load_numpy", counting(safetensors.numpy.load_file))
    monkeypatch.setattr(attribution_module, "load_file", counting(safetensors.numpy.load_file))
    return loads


@pytest.mark.parametrize("features", ["backbone", "fingerprint"])
def test_scan_of_20_images_loads_the_weights_once(tiny_bench, tiny_bundle, tmp_path, weight_loads, features):
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    m = read_manifest(tiny_bench / "manifest.csv")
    fakes = [r for r in m if r.label == "fake" and not r.mask_path]
    paths = [m.path_of(r) for r in fakes[:20]]
    fit_paths = [m.path_of(r) for r in fakes]
    if features == "backbone":
        X = extract_features(fit_paths, DetectorBundle.from_pretrained(bundle).cnn_backbone(), pooling="mean",
                             progress=False)
    else:
        X = fingerprint_files(fit_paths)
    head = AttributionHead(n_hashes=64, features=features).fit(X, [r.source for r in fakes])
    save_attribution_head(bundle, head)
    weight_loads.clear()

    results = scan_paths(paths, bundle, ScanOptions(provenance=False, signals=False))

    assert len(results) == 20 and all(r.ok for r in results)
    assert all("answer" in r.extras["attribution"] for r in results)  # every image attributed
    assert weight_loads.count("model.safetensors") == 1
    assert weight_loads.count("attribution.safetensors") == 1
    assert len(weight_loads) == 2


def test_a_broken_attribution_head_does_not_stop_the_detector(tiny_bench, tiny_bundle, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    m = read_manifest(tiny_bench / "manifest.csv")
    fakes = [r for r in m if r.label == "fake" and not r.mask_path][:30]
    X = fingerprint_files([m.path_of(r) for r in fakes])
    head = AttributionHead(n_hashes=64, features="learned").fit(X, [r.source for r in fakes])
    save_attribution_head(bundle, head)  # a head on learned features, but no fingerprint/ folder beside it

    loaded = DetectorBundle.from_pretrained(bundle)
    assert loaded.attribution is None and "fingerprint" in loaded.attribution_error
    [result] = scan_paths([m.path_of(fakes[0])], loaded, ScanOptions(provenance=False, signals=False))
    assert result.ok and result.detection is not None
    assert "fingerprint" in result.extras["attribution"]["error"]
