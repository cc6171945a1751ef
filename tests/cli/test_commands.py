"""The CLI end to end on a tiny benchmark: bench build → train → eval, and backbones list."""

import json

from typer.testing import CliRunner

from synthtrace.cli.app import app

runner = CliRunner()


def test_bench_train_eval(tmp_path):
    res = runner.invoke(app, ["bench", "build", "--out", str(tmp_path / "b"), "--per-source", "6", "--workers", "1", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["n_images"] > 180 and (tmp_path / "b" / "manifest.csv").is_file()
    res = runner.invoke(app, ["train", "-m", str(tmp_path / "b" / "manifest.csv"), "-o", str(tmp_path / "det"), "--epochs", "1"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "det" / "config.json").is_file() and (tmp_path / "det" / "model.safetensors").is_file()
    res = runner.invoke(app, ["eval", "-d", str(tmp_path / "det"), "-m", str(tmp_path / "b" / "manifest.csv"),
                              "--n-boot", "50", "--json", "-o", str(tmp_path / "m.json")])
    assert res.exit_code == 0, res.output
    metrics = json.loads(res.stdout)
    assert {"overall", "seen_generators", "held_out_generators", "per_source"} <= set(metrics)
    assert "built-in benchmark" in metrics["dataset"]
    assert len(json.loads((tmp_path / "m.json").read_text())["scores"]) == metrics["n_images"]


def test_backbones_list_json():
    res = runner.invoke(app, ["backbones", "list", "--json"])
    assert res.exit_code == 0
    names = [r["name"] for r in json.loads(res.stdout)]
    assert "cnn-small" in names and any(n.startswith("hf:") for n in names)


def test_errors_are_one_clear_line(tmp_path):
    from synthtrace.cli.app import main
    import subprocess, sys

    proc = subprocess.run([sys.executable, "-c", "from synthtrace.cli.app import main; main()", "train", "-m",
                           str(tmp_path / "missing.csv"), "-o", str(tmp_path / "x")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "missing.csv" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_start_up_does_not_import_torch():
    """`synthtrace --help` and friends stay instant: torch is imported by the commands that need it."""
    import subprocess
    import sys

    code = "import sys, synthtrace.cli.app; print(sorted(m for m in ('torch', 'transformers', 'fastapi') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
