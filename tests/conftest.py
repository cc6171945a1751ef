"""Session fixtures shared across the suite: a tiny built-in benchmark and a detector
trained on it (built once; every test that needs real data uses these)."""

from __future__ import annotations

import pytest

from synthtrace.bench.build import BenchConfig, build_benchmark


@pytest.fixture(scope="session")
def tiny_bench(tmp_path_factory):
    """A 10-per-source benchmark (about 320 images)."""
    out = tmp_path_factory.mktemp("bench")
    build_benchmark(out, BenchConfig(per_source=10, seed=3), workers=1)
    return out


@pytest.fixture(scope="session")
def tiny_bundle(tiny_bench, tmp_path_factory):
    """A cnn-small bundle trained for 2 epochs on ``tiny_bench`` (quality irrelevant)."""
    from synthtrace.train import train_detector

    out = tmp_path_factory.mktemp("bundle")
    train_detector(tiny_bench / "manifest.csv", out, epochs=2, progress=False)
    return out


@pytest.fixture(scope="session")
def hf_probe_bundle(tiny_bench, tmp_path_factory):
    """A linear-probe bundle on a tiny random hf: ViT, trained on ``tiny_bench`` (for onboarding)."""
    from synthtrace.backbones.tiny import save_tiny_model
    from synthtrace.train import train_detector

    root = tmp_path_factory.mktemp("hf_probe")
    vit = save_tiny_model("vit", root / "vit")
    train_detector(tiny_bench / "manifest.csv", root / "det", backbone=f"hf:{vit}", progress=False)
    return root / "det"
