from __future__ import annotations

import numpy as np
import pytest

from synthtrace.errors import ConfigError, InputError
from synthtrace.heads.lora import FineTuneConfig
from synthtrace.io.manifest import Manifest, ManifestRow, read_manifest
from synthtrace.tasks.onboard import OnboardProtocol, load_pairs, manifest_from_dirs, run_onboarding, summarize

pytest.importorskip("peft")


FAST = dict(max_epochs=2, batch_size=8)


def test_pairs_are_content_matched_by_scene(tiny_bench):
    m = read_manifest(tiny_bench / "manifest.csv")
    pairs, matched = load_pairs(m, families=["ldm"])
    assert matched and len(pairs) == 30  # 3 ldm generators x 10 scenes
    for real, fake in pairs:
        assert real.label == "real" and fake.label == "fake" and real.scene_id == fake.scene_id
        assert fake.family == "ldm" and not fake.mask_path
    assert len({r.scene_id for r, _ in pairs}) == len(pairs)


def test_pairs_without_scene_ids_are_random_and_say_so():
    rows = tuple(ManifestRow(f"r{i}.png", "real") for i in range(5)) + tuple(ManifestRow(f"f{i}.png", "fake") for i in range(3))
    pairs, matched = load_pairs(Manifest(root=__import__("pathlib").Path("."), rows=rows))
    assert not matched and len(pairs) == 3
    with pytest.raises(InputError, match="no fake images match"):
        load_pairs(Manifest(root=__import__("pathlib").Path("."), rows=rows), sources=["nope"])


def test_run_onboarding_shape_and_protocol(hf_probe_bundle, tiny_bench, tmp_path):
    protocol = OnboardProtocol(shots=(4, 6), seeds=2, lora=FineTuneConfig(rank=2, alpha=4, **FAST),
                               full_ft=FineTuneConfig(mode="full", **FAST))
    result = run_onboarding(hf_probe_bundle, tiny_bench / "manifest.csv", protocol, families=["ldm"],
                            progress=False, save_dir=tmp_path / "ft")
    d = result.to_dict()
    assert set(d) == {"protocol", "results", "runs"}
    assert set(d["results"]) == {"linear_probe", "lora", "full_ft"}
    for by_n in d["results"].values():
        assert set(by_n) == {"4", "6"} and all(len(v) == 2 and all(0 <= a <= 1 for a in v) for v in by_n.values())
    p = d["protocol"]
    assert p["content_matched"] and p["pairs"] == 30 and p["shots"] == [4, 6] and p["lora"]["rank"] == 2
    run = d["runs"][0]
    assert run["n_val_pairs"] == 4 and run["n_test_pairs"] == 30 - 4 - 4
    # The saved LoRA model is a finetuned bundle that scores like the classifier did.
    from synthtrace.detector import DetectorBundle

    ft = DetectorBundle.from_pretrained(tmp_path / "ft")
    assert ft.kind == "finetuned" and ft.training["shots"] == 6
    s = summarize(d["results"])
    v = d["results"]["lora"]["4"]
    assert s["lora"]["4"]["mean"] == pytest.approx(np.mean(v)) and s["lora"]["4"]["std"] == pytest.approx(np.std(v, ddof=1))


def test_onboarding_errors(hf_probe_bundle, tiny_bench, tiny_bundle):
    with pytest.raises(InputError, match="lower --shots"):
        run_onboarding(hf_probe_bundle, tiny_bench / "manifest.csv", OnboardProtocol(shots=(25,), seeds=1),
                       families=["ldm"], progress=False)
    with pytest.raises(ConfigError, match="hf: backbone"):
        run_onboarding(tiny_bundle, tiny_bench / "manifest.csv", OnboardProtocol(shots=(4,), seeds=1), progress=False)
    with pytest.raises(ConfigError, match="methods"):
        OnboardProtocol(methods=("lora", "qlora"))


def test_manifest_from_dirs(tmp_path):
    from PIL import Image

    for sub in ("real", "fake"):
        (tmp_path / sub).mkdir()
        for i in range(2):
            Image.new("RGB", (8, 8)).save(tmp_path / sub / f"{i}.png")
    m = manifest_from_dirs(tmp_path / "real", tmp_path / "fake")
    assert m.column("label") == ["real", "real", "fake", "fake"]
    with pytest.raises(InputError, match="not a folder"):
        manifest_from_dirs(tmp_path / "nope", tmp_path / "fake")
