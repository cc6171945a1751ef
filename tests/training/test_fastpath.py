"""Precision in extract_features and its cache keys, and the fp32-vs-fast agreement check."""

from __future__ import annotations

import json

import numpy as np
import pytest

from synthtrace.backbones.speed import Precision
from synthtrace.backbones import create_backbone, speed
from synthtrace.backbones.tiny import save_tiny_model
from synthtrace.errors import ConfigError, InputError
from synthtrace.features import extract_features
from synthtrace.features.extract import cache_key
from synthtrace.training.fastpath import (
    decision_agreement,
    fastpath_agreement,
    feature_closeness,
    probe_decisions,
)


@pytest.fixture()
def native_bf16(monkeypatch):
    monkeypatch.setattr(speed, "cpu_bf16_native", lambda: True)


@pytest.fixture(scope="module")
def vit_dir(tmp_path_factory):
    return save_tiny_model("vit", tmp_path_factory.mktemp("tiny") / "vit")


def test_decision_agreement():
    assert decision_agreement([True, False, True, True], [True, True, True, True]) == 0.75
    assert decision_agreement(np.array([1, 0]), np.array([True, False])) == 1.0
    assert np.isnan(decision_agreement([], []))
    with pytest.raises(InputError, match="shape"):
        decision_agreement([True], [True, False])


def test_feature_closeness_matches_definition():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 7))
    b = a + rng.normal(scale=0.01, size=a.shape)
    got = feature_closeness(a, b)
    rel = [np.linalg.norm(b[i] - a[i]) / np.linalg.norm(a[i]) for i in range(5)]
    cos = [a[i] @ b[i] / np.linalg.norm(a[i]) / np.linalg.norm(b[i]) for i in range(5)]
    assert got["max_abs"] == pytest.approx(np.abs(a - b).max())
    assert got["max_rel_l2"] == pytest.approx(max(rel))
    assert got["min_cosine"] == pytest.approx(min(cos))
    assert feature_closeness(a, a) == {"max_abs": 0.0, "max_rel_l2": 0.0, "min_cosine": pytest.approx(1.0)}


def test_probe_decisions_follow_thresholds_and_calibration():
    from synthtrace.heads.calibration import fit_calibration
    from synthtrace.heads.linear_probe import LinearProbe

    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 100)
    X = rng.normal(size=(200, 4)) + y[:, None] * 0.8
    probe = LinearProbe(random_state=0).fit(X, y)
    cal = fit_calibration(y, probe.decision_function(X))
    scores, dec = probe_decisions(probe, cal, X)
    assert set(dec) == {"fpr_0.01", "fpr_0.05", "0.5"}
    np.testing.assert_array_equal(dec["fpr_0.05"], scores >= cal.thresholds["fpr_0.05"])
    np.testing.assert_array_equal(dec["0.5"], cal.probability(scores) >= 0.5)
    assert dec["fpr_0.05"][y == 0].mean() <= 0.05


def test_cache_keys_separate_precisions(vit_dir, image_paths, tmp_path, native_bf16):
    bb = create_backbone(f"hf:{vit_dir}")
    k32 = cache_key(bb, layer="last", pooling="cls")
    k16 = cache_key(bb, layer="last", pooling="cls", precision=Precision.parse("bf16"))
    assert k32.backbone_id == bb.id  # fp32 keeps the key existing caches were written under
    assert k16.backbone_id == f"{bb.id}@bf16" and k16.namespace() != k32.namespace()

    cache = tmp_path / "cache"
    f32 = extract_features(image_paths, bb, cache_dir=cache, progress=False)
    f16 = extract_features(image_paths, bb, cache_dir=cache, progress=False, precision=Precision.parse("bf16"))
    assert not np.array_equal(f32, f16)
    assert feature_closeness(f32, f16)["max_rel_l2"] < 0.05
    # each request reads back only its own precision's vectors
    np.testing.assert_array_equal(extract_features(image_paths, bb, cache_dir=cache, progress=False), f32)
    np.testing.assert_array_equal(
        extract_features(image_paths, bb, cache_dir=cache, progress=False, precision=Precision.parse("bf16")), f16
    )
    keys = {json.loads((d / "key.json").read_text())["details"]["precision"] for d in cache.iterdir()}
    assert keys == {"fp32", "bf16"}


def test_fallback_precision_uses_fp32_cache(vit_dir, image_paths, tmp_path, monkeypatch):
    monkeypatch.setattr(speed, "cpu_bf16_native", lambda: False)
    bb = create_backbone(f"hf:{vit_dir}")
    f = extract_features(image_paths, bb, cache_dir=tmp_path, progress=False, precision=Precision.parse("bf16"))
    assert [d.name for d in tmp_path.iterdir()] == [cache_key(bb, layer="last", pooling="cls").namespace()]
    np.testing.assert_array_equal(f, extract_features(image_paths, bb, progress=False))


def test_precision_refused_for_backbones_without_fast_path(image_paths):
    from synthtrace.backbones.base import Backbone
    from synthtrace.backbones.preprocess import PreprocessConfig

    class Plain(Backbone):
        id = "plain"
        preprocess = PreprocessConfig(resize=8, crop=None, mean=(0, 0, 0), std=(1, 1, 1), resize_mode="square")

        def layer_names(self):
            return ["last"]

        def poolings(self):
            return ["cls"]

        def embed(self, pixels, *, layer="last", pooling="cls"):
            return pixels.mean(dim=(2, 3))

    with pytest.raises(ConfigError, match="plain.*fp32.*hf: backbones"):
        extract_features(image_paths, Plain(), precision=Precision.parse("int8"), progress=False)
    assert extract_features(image_paths, Plain(), progress=False).shape == (len(image_paths), 3)


@pytest.mark.filterwarnings("ignore:Only .* real images:RuntimeWarning")  # tiny val split
def test_agreement_on_tiny_bench(tiny_bench, vit_dir, native_bf16, tmp_path):
    bb = create_backbone(f"hf:{vit_dir}")
    cache = tmp_path / "cache"
    same = fastpath_agreement(tiny_bench / "manifest.csv", bb, precision=Precision.parse("fp32"), cache_dir=cache, progress=False)
    # identical features → identical decisions: the check itself adds no noise
    assert same.agreement == {"fpr_0.01": 1.0, "fpr_0.05": 1.0, "0.5": 1.0}
    assert same.features["max_abs"] == 0.0 and same.test_auc_fast == same.test_auc_fp32

    rep = fastpath_agreement(tiny_bench / "manifest.csv", bb, precision=Precision.parse("bf16"), cache_dir=cache, progress=False)
    assert rep.precision == Precision("bf16") and rep.n_test > 0 and rep.n_train > 0 and rep.n_val > 0
    assert set(rep.agreement) == {"fpr_0.01", "fpr_0.05", "0.5"}
    for k, v in rep.agreement.items():
        assert v == pytest.approx(1 - rep.disagreements[k] / rep.n_test)
    assert 0 < rep.features["max_abs"] and rep.features["max_rel_l2"] < 0.05
    assert rep.min_agreement == min(rep.agreement.values())
    d = rep.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["min_agreement"] == rep.min_agreement


@pytest.mark.filterwarnings("ignore:Only .* real images:RuntimeWarning")
def test_cli_features_extract_and_agreement(tiny_bench, vit_dir, tmp_path, native_bf16):
    from typer.testing import CliRunner

    from synthtrace.cli.app import app

    import torch

    threads = torch.get_num_threads()
    try:
        _cli_checks(tiny_bench, vit_dir, tmp_path, CliRunner, app)
    finally:  # the commands set torch's thread count for the process
        torch.set_num_threads(threads)


def _cli_checks(tiny_bench, vit_dir, tmp_path, CliRunner, app):
    manifest = str(tiny_bench / "manifest.csv")
    npz = tmp_path / "f.npz"
    res = CliRunner().invoke(app, ["features", "extract", "-b", f"hf:{vit_dir}", "-m", manifest, "--split", "test",
                                   "--precision", "bf16", "--threads", "1", "-o", str(npz), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["precision"] == "bf16" and summary["num_threads"] == 1
    data = np.load(npz, allow_pickle=False)
    assert data["features"].shape == (summary["images"], summary["dim"]) == (len(data["paths"]), 32)
    bb = create_backbone(f"hf:{vit_dir}")
    ref = extract_features(list(data["paths"]), bb, precision=Precision.parse("bf16"), progress=False)
    np.testing.assert_array_equal(data["features"], ref)

    res = CliRunner().invoke(app, ["features", "agreement", "-b", f"hf:{vit_dir}", "-m", manifest,
                                   "--cache", str(tmp_path / "c"), "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["precision"] == "bf16" and set(rep["agreement"]) == {"fpr_0.01", "fpr_0.05", "0.5"}
