"""The shortcut check of the issue: trivial statistics must not reveal the label."""

import pytest

from synthtrace.bench.build import BenchConfig, build_benchmark
from synthtrace.bench.shortcuts import shortcut_auc, trivial_statistics
from synthtrace.io.manifest import read_manifest


@pytest.mark.parametrize("encode", ["jpeg:85-98", "png"])
def test_trivial_statistics_do_not_separate_real_from_fake(tmp_path, encode):
    build_benchmark(tmp_path, BenchConfig(per_source=30, encode=encode, seed=5), workers=2)
    m = read_manifest(tmp_path / "manifest.csv").where(mask_path="")
    result = shortcut_auc(m)
    assert result["pooled"] <= 0.65, result


def test_confounded_build_is_caught_by_the_same_check(tmp_path):
    """The known trap (PNG fakes, JPEG reals) must light up: the check can fail."""
    build_benchmark(tmp_path, BenchConfig(per_source=6, encode="confounded"), workers=1)
    m = read_manifest(tmp_path / "manifest.csv").where(mask_path="")
    assert shortcut_auc(m)["pooled"] > 0.95


def test_trivial_statistics_columns(tiny_bench):
    m = read_manifest(tiny_bench / "manifest.csv").where(split="val")
    X = trivial_statistics(m)
    assert X.shape == (len(m), 8)
    assert ((X[:, 7] >= 85) & (X[:, 7] <= 98)).all()  # JPEG quality from the shared range
