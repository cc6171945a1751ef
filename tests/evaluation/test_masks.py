import json

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from synthtrace.cli.localize import eval_masks

import typer

app = typer.Typer()
app.command()(eval_masks)


def _write(d, name, a):
    d.mkdir(exist_ok=True)
    Image.fromarray(a).save(d / f"{name}.png")


def test_eval_masks_binary_and_labels(tmp_path):
    g = np.zeros((64, 64), np.uint8)
    g[10:30, 10:30] = 255
    p = np.zeros_like(g)
    p[12:32, 10:30] = 200
    p[50:55, 50:55] = 255  # a segment error
    _write(tmp_path / "gt", "a", g)
    _write(tmp_path / "pred", "a", p)
    _write(tmp_path / "gt", "b", np.zeros_like(g))  # authentic, empty prediction
    _write(tmp_path / "pred", "b", np.zeros_like(g))
    rep = tmp_path / "r.html"
    r = CliRunner().invoke(app, ["--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "--json",
                                 "--report", str(rep)])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout[r.stdout.index("{"):])
    row = res["error_analysis"]["per_class"][0]
    assert row["FP_seg"] == 25 and row["TP"] == 18 * 20
    assert res["mask_metrics"]["authentic"]["f1_at_threshold"] == 1.0
    html = rep.read_text()
    assert "data:image/png;base64," in html and "http" not in html.replace("http-equiv", "")
    # label maps with an ignore label
    lab = np.zeros((40, 40), np.uint8)
    lab[5:20, 5:20] = 1
    lab[25:35, 25:35] = 2
    gtl = lab.copy()
    gtl[0:3, :] = 255
    _write(tmp_path / "lp", "x", lab)
    _write(tmp_path / "lg", "x", gtl)
    r = CliRunner().invoke(app, ["--pred", str(tmp_path / "lp"), "--gt", str(tmp_path / "lg"), "--classes", "3",
                                 "--json", "--d", "1"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout[r.stdout.index("{"):])
    assert res["error_analysis"]["mean"]["IoU"] == 1.0
    assert res["error_analysis"]["per_class"][0]["ignore"] == 120
