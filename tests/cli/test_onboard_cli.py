from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from synthtrace.cli.app import app

pytest.importorskip("peft")


def test_onboard_manifest_json_and_out(hf_probe_bundle, tiny_bench, tmp_path):
    out = tmp_path / "results.json"
    res = CliRunner().invoke(app, [
        "onboard", "--detector", str(hf_probe_bundle), "--manifest", str(tiny_bench / "manifest.csv"), "--family", "ldm",
        "--shots", "4", "--seeds", "2", "--rank", "2", "--alpha", "4", "--max-epochs", "1", "--json", "--out", str(out),
    ])
    assert res.exit_code == 0, res.output
    printed = json.loads(res.stdout)
    assert printed == json.loads(out.read_text())
    assert set(printed["results"]) == {"linear_probe", "lora", "full_ft"}
    assert len(printed["results"]["lora"]["4"]) == 2


def test_onboard_table_from_folders(hf_probe_bundle, tiny_bench, tmp_path):
    import shutil

    from synthtrace.io.manifest import read_manifest

    m = read_manifest(tiny_bench / "manifest.csv")
    for label in ("real", "fake"):
        (tmp_path / label).mkdir()
        for r in [r for r in m if r.label == label and not r.mask_path][:16]:
            shutil.copy(m.path_of(r), tmp_path / label / r.path.replace("/", "_"))
    res = CliRunner().invoke(app, [
        "onboard", "--detector", str(hf_probe_bundle), "--real", str(tmp_path / "real"), "--fake", str(tmp_path / "fake"),
        "--shots", "2", "--seeds", "2", "--methods", "linear_probe,lora", "--max-epochs", "1", "--rank", "2",
    ])
    assert res.exit_code == 0, res.output
    assert "linear_probe" in res.stdout and "lora" in res.stdout and "±" in res.stdout
    assert "unmatched" in res.stdout


def test_onboard_needs_data(hf_probe_bundle):
    res = CliRunner().invoke(app, ["onboard", "--detector", str(hf_probe_bundle), "--shots", "4"])
    assert res.exit_code != 0
