"""The README's Python example runs as written (after its `bench build` command)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_example_runs(tmp_path):
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Python"):]
    build = re.search(r"`(synthtrace bench build [^`]+)`", section).group(1)
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    cli = "import sys; from synthtrace.cli.app import main; sys.argv[0] = 'synthtrace'; main()"
    subprocess.run([sys.executable, "-c", cli, *build.split()[1:]], cwd=tmp_path, check=True, capture_output=True)
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                       env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout.splitlines()
    assert any(line.startswith("test ROC AUC") for line in out)
    assert any("clusters; see discovery-run/index.html" in line for line in out)
    assert (tmp_path / "my-detector" / "attribution.json").is_file()
    assert (tmp_path / "discovery-run" / "clusters.csv").is_file()
