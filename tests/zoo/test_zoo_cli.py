import json

import torch
from typer.testing import CliRunner

from synthtrace.cli.app import app
from synthtrace.detector import DetectorBundle

from .test_zoo import torchvision_resnet_state

runner = CliRunner()


def test_zoo_list_json():
    res = runner.invoke(app, ["zoo", "list", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [r["name"] for r in rows] == ["UniversalFakeDetect", "CNNDetection", "NPR"]
    assert all(r["licence"] and r["source"] and r["preprocess"] for r in rows)


def test_zoo_convert_npr_and_refusal(tmp_path):
    state = torchvision_resnet_state((3, 4), stem_kernel=3, fc="fc1")
    torch.save(state, tmp_path / "NPR.pth")
    res = runner.invoke(app, ["zoo", "convert", "npr", "--weights", str(tmp_path / "NPR.pth"), "--out", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    assert DetectorBundle.from_pretrained(tmp_path / "b").kind == "resnet_fc"
    res = runner.invoke(app, ["zoo", "convert", "NPR", "--weights", str(tmp_path / "NPR.pth"), "--out", str(tmp_path / "c"),
                              "--backbone", "hf:x"])
    assert res.exit_code != 0 and "UniversalFakeDetect only" in str(res.exception)
