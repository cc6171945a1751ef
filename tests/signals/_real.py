"""The real-world developer set (../shared/real-world-dev), for tests on real files.

It lives beside the repository, not in it (validation data, never training data);
``SYNTHTRACE_REAL_WORLD_DEV`` points elsewhere. Tests that need it skip, saying why,
when it is absent. Nothing here reads the network or the fetched cache.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

DEFAULT = Path(__file__).resolve().parents[3] / "shared" / "real-world-dev"


def real_world_dev() -> Path:
    root = Path(os.environ.get("SYNTHTRACE_REAL_WORLD_DEV", DEFAULT))
    if not (root / "pixels" / "manifest.csv").is_file():
        pytest.skip(f"real-world developer set not found at {root} (set SYNTHTRACE_REAL_WORLD_DEV)")
    return root


def crops(kind: str, sub: str = "pixels") -> list[Path]:
    """Crops of one kind, in manifest order: "camera", "fake-png" (generator outputs
    published losslessly) or "fake-jpeg" (published as JPEG)."""
    root = real_world_dev()
    out = []
    with open(root / sub / "manifest.csv", newline="") as f:
        for row in csv.DictReader(f):
            fake, jpeg_source = row["label"] == "fake", "JPEG" in row["source"]
            k = "camera" if not fake else ("fake-jpeg" if jpeg_source else "fake-png")
            if k == kind:
                out.append(root / sub / row["path"])
    return out
