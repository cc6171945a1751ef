from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthtrace.backbones.tiny import TINY_KINDS, save_tiny_model


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny random checkpoint per kind, saved with save_pretrained."""
    root = tmp_path_factory.mktemp("tiny")
    return {kind: save_tiny_model(kind, root / kind) for kind in TINY_KINDS}


@pytest.fixture(scope="session")
def test_rgb() -> np.ndarray:
    """A non-square image with smooth structure and noise, so resampling matters."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:45, 0:61]
    base = np.stack([xx * 4, yy * 5, (xx + yy) * 2], axis=-1)
    return np.clip(base + rng.integers(0, 60, base.shape), 0, 255).astype(np.uint8)
