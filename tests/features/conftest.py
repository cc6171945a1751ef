from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthtrace.backbones import create_backbone
from synthtrace.backbones.tiny import save_tiny_model


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model("clip", tmp_path_factory.mktemp("tiny") / "clip")


@pytest.fixture()
def backbone(clip_dir):
    """A fresh backbone per test, so tests may wrap or replace its attributes."""
    return create_backbone(f"hf:{clip_dir}")


@pytest.fixture(scope="session")
def image_paths(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Seven small JPEG/PNG files of different sizes and aspect ratios."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(7):
        h, w = 30 + 5 * i, 70 - 6 * i
        p = root / f"img{i}.{'png' if i % 2 else 'jpg'}"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    return paths
