"""scan_file / scan_paths: evidence from every stage, fused into a verdict."""

import numpy as np
from PIL import Image, PngImagePlugin
from typer.testing import CliRunner

from synthtrace.cli.app import app
from synthtrace.detector import DetectorBundle
from synthtrace.io.manifest import read_manifest
from synthtrace.tasks.scan import ScanOptions, scan_file, scan_paths


def _a1111_png(path):
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat on a sofa\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 96x96, Model hash: abc123")
    rgb = np.random.default_rng(0).integers(0, 255, (96, 96, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path, pnginfo=info)
    return path


def test_declared_parameters_give_a_declared_verdict(tmp_path):
    r = scan_file(_a1111_png(tmp_path / "sd.png"))
    assert r.ok and r.verdict.label == "declared_ai_generated"
    sources = {e.source for e in r.evidence}
    assert {"params", "spectrum", "jpeg"} <= sources
    params = next(e for e in r.evidence if e.source == "params" and e.direction == "generated")
    assert "42" in str(params.details)


def test_detector_evidence_joins_the_fusion(tiny_bench, tiny_bundle):
    m = read_manifest(tiny_bench / "manifest.csv").where(split="test")
    row = next(iter(m))
    r = scan_file(m.path_of(row), DetectorBundle.from_pretrained(tiny_bundle))
    det = [e for e in r.evidence if e.source == "detector"]
    assert len(det) == 1 and r.detection is not None
    assert det[0].direction == ("generated" if r.detection.probability >= 0.5 else "authentic")
    assert 0 < det[0].reliability <= 1
    assert r.to_dict()["verdict"]["label"] == r.verdict.label


def test_options_turn_stages_off(tmp_path):
    path = _a1111_png(tmp_path / "sd.png")
    r = scan_file(path, None, ScanOptions(provenance=False, signals=False))
    assert r.evidence == () and r.verdict.label == "uncertain"


def test_cli_report_and_json(tmp_path):
    path = _a1111_png(tmp_path / "sd.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 nope")
    res = CliRunner().invoke(app, ["scan", str(tmp_path), "--report", str(tmp_path / "r.html"), "--json"])
    assert res.exit_code == 1
    html = (tmp_path / "r.html").read_text()
    assert "broken.jpg" in html and "sd.png" in html and "Declared AI-generated" in html
    assert len(scan_paths([tmp_path])) == 2
