import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from synthtrace.cli.app import app
from synthtrace.errors import InputError
from synthtrace.evaluation.report import (
    check_attribution,
    load_fewshot,
    reliability_bins,
    report_provenance,
    sha256_file,
    write_eval_report,
)
from synthtrace.evaluation.robustness import evaluate_robustness, grid_from_names

pytest.importorskip("jinja2")
pytest.importorskip("matplotlib")

FEWSHOT = {
    "protocol": {"shots": [20, 50], "seeds": 3, "backbone": "hf:tiny <vit>", "metric": "ROC AUC"},
    "results": {
        "linear_probe": {"20": [0.61, 0.64, 0.60], "50": [0.70, 0.72, 0.69]},
        "lora": {"20": [0.63, 0.66, 0.62], "50": [0.75, 0.74, 0.77]},
        "full_ft": {"20": [0.55, 0.58, 0.50], "50": [0.60, 0.62, 0.59]},
    },
}
ATTRIBUTION = {"labels": ["real", "tconv", "<b>ldm</b>"], "matrix": [[10, 1, 0], [2, 8, 1], [0, 3, 7]]}


@pytest.fixture(scope="module")
def rob(tiny_bench, tiny_bundle):
    grid = grid_from_names(["jpeg_q60", "jpeg_q30", "resize_0.5x", "blur_s2"])
    return evaluate_robustness(tiny_bundle, tiny_bench / "manifest.csv", grid=grid, n_boot=30, max_images=50, progress=False)


def _imgs(html: str) -> list[str]:
    return re.findall(r'<img src="([^"]*)"', html)


def test_full_report_is_self_contained(rob, tiny_bench, tiny_bundle, tmp_path):
    fs = tmp_path / "fewshot.json"
    fs.write_text(json.dumps(FEWSHOT))
    prov = report_provenance(tiny_bundle, tiny_bench / "manifest.csv")
    out = write_eval_report(rob["results"]["clean"], tmp_path / "r.html", provenance=prov,
                            settings={"note": "<script>alert(1)</script>"}, robustness=rob,
                            attribution=ATTRIBUTION, fewshot=load_fewshot(fs))
    html = out.read_text()
    # ROC/PR, reliability, 2 robustness figures, confusion matrix, few-shot
    imgs = _imgs(html)
    assert len(imgs) == 6 and all(u.startswith("data:image/png;base64,") for u in imgs)
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;ldm&lt;/b&gt;" in html and "hf:tiny &lt;vit&gt;" in html
    assert 'id="builtin-banner"' in html  # the tiny bench has bench.json
    # Exact hashes of what was evaluated.
    assert sha256_file(Path(tiny_bundle) / "model.safetensors") in html
    from synthtrace.io.manifest import read_manifest

    assert read_manifest(tiny_bench / "manifest.csv").digest() in html
    # Every perturbation listed exactly as applied.
    for g in rob["grid"]:
        assert json.dumps(g["perturbation"]).replace('"', "&#34;") in html
    # Few-shot means over seeds: lora at N=50 is mean(0.75, 0.74, 0.77).
    assert f"{np.mean([0.75, 0.74, 0.77]):.3f}" in html


def test_no_banner_for_user_data(rob, tmp_path):
    result = dict(rob["results"]["clean"], dataset="user manifest")
    html = write_eval_report(result, tmp_path / "r.html").read_text()
    assert "builtin-banner" not in html
    assert len(_imgs(html)) == 2  # ROC/PR and reliability only
    assert "Robustness" not in html and "Few-shot" not in html


def test_reliability_bins_and_ece():
    y = np.array([0, 0, 1, 1, 1, 0])
    p = np.array([0.05, 0.15, 0.95, 0.85, 0.15, 0.92])
    bins, ece = reliability_bins(y, p)
    assert sum(b["n"] for b in bins) == 6
    expected = sum(
        (sel.sum() / 6) * abs(p[sel].mean() - y[sel].mean())
        for sel in (p < 0.1, (p >= 0.1) & (p < 0.2), (p >= 0.8) & (p < 0.9), p >= 0.9)
    )
    assert abs(ece - expected) < 1e-12


def test_bad_inputs(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"results": {"lora": {"fifty": [0.5]}}}))
    with pytest.raises(InputError, match="integer N"):
        load_fewshot(bad)
    with pytest.raises(InputError, match="cannot read"):
        load_fewshot(tmp_path / "missing.json")
    with pytest.raises(InputError, match="square"):
        check_attribution({"labels": ["a", "b"], "matrix": [[1, 2]]})


def test_cli_report(tiny_bench, tiny_bundle, tmp_path):
    fs = tmp_path / "fs.json"
    fs.write_text(json.dumps(FEWSHOT))
    report = tmp_path / "out.html"
    res = CliRunner().invoke(app, ["eval", "-d", str(tiny_bundle), "-m", str(tiny_bench / "manifest.csv"), "--n-boot", "20",
                                   "--perturbations", "jpeg_q60", "--max-images", "30", "--report", str(report),
                                   "--fewshot", str(fs)])
    assert res.exit_code == 0, res.output
    html = report.read_text()
    assert "synthtrace eval" in html and "jpeg_q60" in html and "few-shot" in html.lower()
    assert len(_imgs(html)) == 5


def test_summary_without_scores_still_renders(rob, tiny_bundle, tmp_path):
    """A result without per-image scores (e.g. an older metrics JSON) gives tables, no curves."""
    from synthtrace.detector import DetectorBundle

    det = DetectorBundle.from_pretrained(tiny_bundle)
    clean = rob["results"]["clean"]
    result = {k: v for k, v in clean.items() if k != "scores"}
    html = write_eval_report(result, tmp_path / "r.html", title=f"{det.name} & co").read_text()
    assert "&amp; co" in html and _imgs(html) == []
