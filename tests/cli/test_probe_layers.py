"""`synthtrace probe-layers` on a tiny hf backbone and a tiny built-in benchmark; train --layer/--head."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from synthtrace.cli.app import app

runner = CliRunner()


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    from synthtrace.backbones.tiny import save_tiny_model
    from synthtrace.bench.build import BenchConfig, build_benchmark

    root = tmp_path_factory.mktemp("probe")
    build_benchmark(root / "b", BenchConfig(per_source=3, seed=1, size=32, splice_fraction=0.0), workers=1)
    return root / "b" / "manifest.csv", save_tiny_model("vit", root / "vit")


def test_probe_layers_prints_a_table_and_picks_a_layer_on_val(small, tmp_path):
    manifest, model = small
    res = runner.invoke(app, ["probe-layers", "--backbone", f"hf:{model}", "--manifest", str(manifest),
                              "--n-boot", "50", "--out", str(tmp_path / "t.json")])
    assert res.exit_code == 0, res.output
    assert "linear probe per layer" in res.output and "best on val" in res.output
    assert "synthtrace train" in res.output and "--layer" in res.output
    table = json.loads((tmp_path / "t.json").read_text())
    assert "built-in benchmark" in table["dataset"]
    assert {(r["layer"], r["pooling"]) for r in table["rows"]} == {(l, p) for l in ("0", "1", "2", "last") for p in ("cls", "mean")}
    best = table["best"]
    assert best["val_auc"] == max(r["val_auc"] for r in table["rows"] if r["val_auc"] is not None)
    assert all(len(r["val_ci"]) == 2 and len(r["test_ci"]) == 2 for r in table["rows"])
    assert table["precision"] == "fp32"


def test_probe_layers_bf16_and_a_clear_error_for_int8(small, tmp_path):
    manifest, model = small
    res = runner.invoke(app, ["probe-layers", "--backbone", f"hf:{model}", "--manifest", str(manifest),
                              "--n-boot", "20", "--precision", "bf16", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["precision"] == "bf16" and len(json.loads(res.stdout)["rows"]) == 8
    res = runner.invoke(app, ["probe-layers", "--backbone", f"hf:{model}", "--manifest", str(manifest),
                              "--precision", "int8"])
    assert res.exit_code != 0 and "fp32 or bf16" in str(res.exception)  # main() prints it as one line, exit 2


def test_train_uses_the_chosen_layer_and_trains_the_multilayer_head(small, tmp_path):
    from synthtrace.detector import DetectorBundle

    manifest, model = small
    res = runner.invoke(app, ["train", "-m", str(manifest), "-o", str(tmp_path / "p"), "--backbone", f"hf:{model}",
                              "--layer", "1", "--pooling", "mean"])
    assert res.exit_code == 0, res.output
    probe = DetectorBundle.from_pretrained(tmp_path / "p")
    assert (probe.backbone["layer"], probe.backbone["pooling"]) == ("1", "mean")
    res = runner.invoke(app, ["train", "-m", str(manifest), "-o", str(tmp_path / "ml"), "--backbone", f"hf:{model}",
                              "--head", "multilayer", "--epochs", "3"])
    assert res.exit_code == 0, res.output
    bundle = DetectorBundle.from_pretrained(tmp_path / "ml")
    assert bundle.kind == "multilayer" and bundle.head["params"]["epochs"] == 3
    res = runner.invoke(app, ["eval", "-d", str(tmp_path / "ml"), "-m", str(manifest), "--n-boot", "20", "--json"])
    assert res.exit_code == 0, res.output
