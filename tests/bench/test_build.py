import hashlib
from collections import defaultdict

import numpy as np
import pytest
from PIL import Image

from synthtrace.bench.build import BenchConfig, build_benchmark, plan_scenes
from synthtrace.bench.cameras import HELD_OUT_CAMERAS
from synthtrace.bench.generators import ALL_GENERATORS, FAMILIES, GeneratorSpec
from synthtrace.errors import ConfigError
from synthtrace.io.manifest import read_manifest


def _digest_tree(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_is_byte_identical_whatever_the_worker_count(tmp_path):
    cfg = BenchConfig(per_source=2, seed=11)
    build_benchmark(tmp_path / "a", cfg, workers=1)
    build_benchmark(tmp_path / "b", cfg, workers=2)
    a, b = _digest_tree(tmp_path / "a"), _digest_tree(tmp_path / "b")
    assert len(a) > 60 and a == b


def test_another_seed_gives_other_images(tmp_path):
    build_benchmark(tmp_path / "a", BenchConfig(per_source=1, seed=1), workers=1)
    build_benchmark(tmp_path / "b", BenchConfig(per_source=1, seed=2), workers=1)
    a, b = _digest_tree(tmp_path / "a"), _digest_tree(tmp_path / "b")
    shared = [k for k in a if k.endswith(".jpg") and k in b]
    assert shared and all(a[k] != b[k] for k in shared)


def test_manifest_structure(tiny_bench):
    m = read_manifest(tiny_bench / "manifest.csv", check_files=True)
    rows = list(m)
    # Scene-disjoint splits: every scene lives in exactly one split.
    splits_of = defaultdict(set)
    for r in rows:
        splits_of[r.scene_id].add(r.split)
    assert all(len(s) == 1 for s in splits_of.values())
    # Content matched: every fake has a real twin of the same scene.
    reals = {r.scene_id for r in rows if r.label == "real"}
    assert all(r.scene_id in reals for r in rows if r.label == "fake")
    # >= 5 families x >= 2 seeds; held-out generators and cameras only in test.
    fakes = [r for r in rows if r.label == "fake" and not r.mask_path]
    assert len({r.family for r in fakes}) >= 5 and len({r.source for r in fakes}) >= 10
    seen = {g.name for g in ALL_GENERATORS if g.seen}
    assert {r.split for r in fakes if r.source not in seen} == {"test"}
    assert {r.split for r in rows if r.camera in HELD_OUT_CAMERAS and r.label == "real"} == {"test"}
    assert {r.split for r in rows} == {"train", "val", "test"}


def test_splice_masks_are_binary_and_match_images(tiny_bench):
    m = read_manifest(tiny_bench / "manifest.csv")
    splices = [r for r in m if r.mask_path]
    assert splices
    for r in splices[:5]:
        mask = np.asarray(Image.open(m.mask_of(r)))
        assert set(np.unique(mask)) <= {0, 255} and 0.02 < (mask > 0).mean() < 0.5
        assert Image.open(m.path_of(r)).size == mask.shape[::-1]
        assert r.label == "fake" and r.source.startswith("splice:")


@pytest.mark.parametrize("encode,fake_ext,real_ext", [("png", ".png", ".png"), ("confounded", ".png", ".jpg"), ("jpeg:90-90", ".jpg", ".jpg")])
def test_encoding_stage_is_shared(tmp_path, encode, fake_ext, real_ext):
    build_benchmark(tmp_path, BenchConfig(per_source=1, encode=encode), workers=1)
    m = read_manifest(tmp_path / "manifest.csv")
    assert {m.path_of(r).suffix for r in m if r.label == "fake"} == {fake_ext}
    assert {m.path_of(r).suffix for r in m if r.label == "real"} == {real_ext}


def test_two_seeds_of_one_family_are_different_decoders():
    from synthtrace.bench.generators import decoder

    a, b = decoder("tconv-s0"), decoder("tconv-s1")
    assert not np.allclose(a.head.numpy(), b.head.numpy())
    assert set(FAMILIES) >= {"tconv", "nearest", "bilinear", "pixelshuffle", "ldm"}
    assert GeneratorSpec("tconv", 2).seen is False


@pytest.mark.parametrize("kwargs", [{"size": 100}, {"per_source": 0}, {"encode": "webp"}, {"encode": "jpeg:99-10"}, {"difficulty": "brutal"}])
def test_bad_config_is_a_clear_error(kwargs):
    with pytest.raises(ConfigError, match="expected"):
        BenchConfig(**kwargs)


def test_plan_is_deterministic_and_balanced():
    cfg = BenchConfig(per_source=4)
    plans = plan_scenes(cfg)
    assert plans == plan_scenes(cfg)
    counts = defaultdict(int)
    for p in plans:
        counts[p.generator.name] += 1
    assert set(counts.values()) == {4}
