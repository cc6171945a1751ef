import json
import shutil

import numpy as np
import pytest

from synthtrace.backbones.speed import Precision
from synthtrace.detector import DetectorBundle, RunOptions
from synthtrace.errors import BundleError, ConfigError
from synthtrace.io.images import load_image
from synthtrace.io.manifest import read_manifest


def _some_paths(bench, n=6):
    m = read_manifest(bench / "manifest.csv").where(split="test")
    return [m.path_of(r) for r in list(m)[:n]]


def _some_images(bench, n=6):
    return [load_image(p).rgb for p in _some_paths(bench, n)]


def test_cnn_bundle_round_trip(tiny_bench, tiny_bundle, tmp_path):
    bundle = DetectorBundle.from_pretrained(tiny_bundle)
    cfg = json.loads((tiny_bundle / "config.json").read_text())
    for key in ("backbone", "preprocess", "head", "labels", "calibration", "training", "synthtrace_version"):
        assert key in cfg
    assert cfg["training"]["manifest_sha256"] == read_manifest(tiny_bench / "manifest.csv").digest()
    assert {"fpr_0.01", "fpr_0.05"} <= set(cfg["calibration"]["thresholds"])
    assert not list(tiny_bundle.glob("*.pt*")) and not list(tiny_bundle.glob("*.pkl"))
    images = _some_images(tiny_bench)
    scores = bundle.score_images(images)
    bundle.save_pretrained(tmp_path / "copy")
    again = DetectorBundle.from_pretrained(tmp_path / "copy").score_images(images)
    np.testing.assert_allclose(scores, again, rtol=1e-5, atol=1e-6)
    dets = bundle.detections(scores)
    assert all(d.decision == ("fake" if d.score >= d.threshold else "real") for d in dets)
    assert all(0 <= d.probability <= 1 for d in dets)
    # Operating points are ordered: a stricter FPR never flags more.
    assert bundle.threshold("fpr_0.01") >= bundle.threshold("fpr_0.05")


def test_linear_probe_bundle_with_tiny_hf_backbone(tiny_bench, tmp_path):
    from synthtrace.backbones.tiny import save_tiny_model
    from synthtrace.training.train import train_detector

    model_dir = save_tiny_model("vit", tmp_path / "vit")
    bundle = train_detector(tiny_bench / "manifest.csv", tmp_path / "probe", backbone=f"hf:{model_dir}", progress=False)
    assert bundle.kind == "linear_probe"
    loaded = DetectorBundle.from_pretrained(tmp_path / "probe")
    images = _some_images(tiny_bench)
    np.testing.assert_allclose(bundle.score_images(images), loaded.score_images(images), rtol=1e-5, atol=1e-6)
    # The CPU fast path (runtime only, never saved) scores close to float32, and eval/scan take it.
    fast = DetectorBundle.from_pretrained(tmp_path / "probe", run=RunOptions(Precision("int8")))
    assert fast.run.precision == Precision("int8") and "precision" not in fast.config()
    np.testing.assert_allclose(fast.score_images(images), loaded.score_images(images), atol=0.1)
    from typer.testing import CliRunner

    from synthtrace.cli.app import app

    r = CliRunner().invoke(app, ["eval", "-d", str(tmp_path / "probe"), "-m", str(tiny_bench / "manifest.csv"),
                                 "--precision", "bf16", "--n-boot", "10", "--json"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["scan", *map(str, _some_paths(tiny_bench)), "-d", str(tmp_path / "probe"),
                                 "--precision", "bf16", "--json", "--no-signals", "--no-provenance"])
    assert r.exit_code == 0, r.output
    with pytest.raises(ConfigError, match="fp16"):
        Precision.parse("fp16")
    r = CliRunner().invoke(app, ["eval", "-d", str(tmp_path / "probe"), "-m", str(tiny_bench / "manifest.csv"),
                                 "--precision", "fp16", "--json"])
    assert r.exit_code != 0 and "fp16" in str(r.exception)
    # Weights changed on disk after training: refuse rather than silently score.
    save_tiny_model("vit", model_dir, seed=1)
    stale = DetectorBundle.from_pretrained(tmp_path / "probe")
    with pytest.raises(BundleError, match="weights"):
        stale.score_images(images)


def test_bad_bundles_are_named_errors(tiny_bundle, tmp_path):
    with pytest.raises(ConfigError, match="linear_probe"):  # cnn-small has no fast path
        DetectorBundle.from_pretrained(tiny_bundle, run=RunOptions(Precision("bf16")))
    with pytest.raises(BundleError, match="no config.json"):
        DetectorBundle.from_pretrained(tmp_path)
    broken = tmp_path / "b"
    shutil.copytree(tiny_bundle, broken)
    cfg = json.loads((broken / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps({**cfg, "format": 99}))
    with pytest.raises(BundleError, match="format 99"):
        DetectorBundle.from_pretrained(broken)
    (broken / "config.json").write_text(json.dumps({**cfg, "surprise": 1}))
    with pytest.raises(BundleError, match="unknown keys"):
        DetectorBundle.from_pretrained(broken)
    (broken / "config.json").write_text(json.dumps(cfg))
    (broken / "model.safetensors").unlink()
    with pytest.raises(BundleError, match="missing"):
        DetectorBundle.from_pretrained(broken)


def test_validation_block_round_trip_and_old_bundles(tiny_bundle, tmp_path):
    from synthtrace.verdict import validation_block

    bundle = DetectorBundle.from_pretrained(tiny_bundle)
    cfg = json.loads((tiny_bundle / "config.json").read_text())
    old = tmp_path / "old"  # a bundle written before the validation block existed
    shutil.copytree(tiny_bundle, old)
    cfg.pop("validation", None)
    (old / "config.json").write_text(json.dumps(cfg))
    assert DetectorBundle.from_pretrained(old).validation == {}

    y = np.array([0, 0, 0, 1, 1, 1, 0, 1])
    p = np.array([0.1, 0.3, 0.6, 0.7, 0.9, 0.4, 0.2, 0.8])
    bundle.validation = validation_block(y, p, data="real-world: test fixture", real_world=True, families={"x": 1.0})
    bundle.save_pretrained(tmp_path / "new")
    saved = json.loads((tmp_path / "new" / "config.json").read_text())["validation"]
    assert saved == json.loads(json.dumps(bundle.validation))
    again = DetectorBundle.from_pretrained(tmp_path / "new")
    assert again.validation == saved and again.validation["real_world"] is True
    assert (again.validation["n_real"], again.validation["n_fake"]) == (4, 4)

    bundle.validation = {"real_world": "yes", "reliability": 1.5}
    with pytest.raises(BundleError, match="real_world must be true or false.*reliability must be a number"):
        bundle.save_pretrained(tmp_path / "bad")
    (old / "config.json").write_text(json.dumps({**cfg, "validation": {"real_world": True}}))
    with pytest.raises(BundleError, match="config.json: validation: real_world is true but no reliability"):
        DetectorBundle.from_pretrained(old)
