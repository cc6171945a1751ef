"""The real-image detector shipped in the package (docs/real-world.md)."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from synthtrace.detector import BUILTIN, BUILTIN_DIR, DetectorBundle
from synthtrace.features.forensic import FEATURE_NAMES
from synthtrace.tasks.scan import scan_file

DEV = Path(os.environ.get("SYNTHTRACE_REAL_WORLD_DEV", Path(__file__).resolve().parents[2] / "shared" / "real-world-dev"))


def test_shipped_bundle_describes_itself():
    cfg = json.loads((BUILTIN_DIR / "config.json").read_text())
    assert (BUILTIN_DIR / "model.safetensors").stat().st_size < 5_000_000
    assert cfg["kind"] == "forensic" and cfg["backbone"]["features"] == list(FEATURE_NAMES)
    assert len(cfg["training"]["manifest_sha256"]) == 64 and cfg["training"]["data_licences"]
    v = cfg["validation"]
    assert v["real_world"] is True and 0 < v["reliability"] <= 1 and v["data"].startswith("real-world")
    assert "history_matching" in cfg["head"]


def test_builtin_loads_by_name_and_scores():
    det = DetectorBundle.from_pretrained(BUILTIN)
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, (200, 240, 3), dtype=np.uint8), np.full((128, 128, 3), 120, np.uint8)]
    s = det.score_images(imgs)
    assert s.shape == (2,) and np.isfinite(s).all()
    p = det.detections(s)
    assert all(0 <= d.probability <= 1 for d in p)


def test_too_small_image_keeps_its_verdict(tmp_path):
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "tiny.png")
    res = scan_file(tmp_path / "tiny.png", DetectorBundle.from_pretrained(BUILTIN))
    assert res.ok and res.verdict is not None and res.detection is None
    assert any(e.source == "detector" and e.error and "too small" in e.error for e in res.evidence)


def test_scan_uses_the_builtin_detector_by_default(tmp_path):
    from synthtrace.cli.app import app

    Image.fromarray(np.random.default_rng(1).integers(0, 256, (128, 128, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    rows = json.loads(CliRunner().invoke(app, ["scan", str(tmp_path / "a.png"), "--json"]).stdout)
    assert rows[0]["detection"]["detector"] and any(e["source"] == "detector" for e in rows[0]["evidence"])
    rows = json.loads(CliRunner().invoke(app, ["scan", str(tmp_path / "a.png"), "--json", "--detector", "none"]).stdout)
    assert rows[0]["detection"] is None


@pytest.mark.skipif(not (DEV / "pixels" / "manifest.csv").is_file(), reason="../shared/real-world-dev is not there")
def test_separates_real_generator_outputs_from_camera_photos_on_the_dev_set():
    # validation data (never used for training): the shipped detector must stay well above chance
    import csv

    from sklearn.metrics import roc_auc_score

    from synthtrace.io.images import load_image

    rows = list(csv.DictReader(open(DEV / "pixels" / "manifest.csv")))
    det = DetectorBundle.from_pretrained(BUILTIN)
    s = det.score_images([load_image(DEV / "pixels" / r["path"]).rgb for r in rows])
    assert roc_auc_score([r["label"] == "fake" for r in rows], s) > 0.8
