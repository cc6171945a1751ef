"""The layer contracts (pyproject [tool.importlinter]) hold, catch a wrong arrow, and match
docs/architecture.md."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                              "sys.exit(lint_imports_command())"]


def _lint(pythonpath: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*LINT, "--config", str(ROOT / "pyproject.toml"), "--no-cache"], cwd=ROOT, text=True,
                          capture_output=True, env={"PYTHONPATH": str(pythonpath), "PATH": "/usr/bin:/bin"})


def test_contracts_hold():
    r = _lint(ROOT / "src")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout


def test_a_wrong_arrow_fails_the_contracts(tmp_path):
    shutil.copytree(ROOT / "src" / "synthtrace", tmp_path / "synthtrace",
                    ignore=shutil.ignore_patterns("weights", "__pycache__", "static", "templates"))
    metrics = tmp_path / "synthtrace" / "metrics" / "detection.py"
    metrics.write_text(metrics.read_text() + "\n\ndef _wrong():\n    from synthtrace.detector import DetectorBundle\n")
    r = _lint(tmp_path)
    assert r.returncode != 0
    assert "synthtrace.metrics is not allowed to import synthtrace.detector" in r.stdout


def test_architecture_doc_lists_the_contract_layers():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]
    doc = (ROOT / "docs" / "architecture.md").read_text()
    diagram = doc.split("```")[1]
    rows = [re.findall(r"\b[a-z_]+\b", line) for line in diagram.splitlines() if line.strip() and "│" not in line
            and "▼" not in line]
    expected = [sorted(p.strip() for p in layer.split("|")) for layer in config["layers"]]
    assert [sorted(r) for r in rows] == expected
