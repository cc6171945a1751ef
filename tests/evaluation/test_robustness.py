import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from synthtrace.cli.app import app
from synthtrace.detector import DetectorBundle
from synthtrace.errors import ConfigError
from synthtrace.evaluation.evaluate import BUILTIN_NOTE
from synthtrace.io.perturbations import GaussianNoise, apply_perturbations
from synthtrace.evaluation.robustness import DEFAULT_GRID, evaluate_robustness, grid_from_names, perturb_for_image
from synthtrace.io.images import load_image
from synthtrace.io.manifest import read_manifest


def test_default_grid_is_the_spec_grid():
    names = [n for n, _ in DEFAULT_GRID]
    assert len(names) == 12 and len(set(names)) == 12
    assert {"jpeg_q95", "jpeg_q75", "jpeg_q60", "jpeg_q30", "resize_0.5x", "resize_0.25x", "blur_s1", "blur_s2", "blur_s3",
            "noise_s5", "center_crop_0.5", "social_1080_q75"} == set(names)
    social = dict(DEFAULT_GRID)["social_1080_q75"].to_dict()
    assert [s["name"] for s in social["steps"]] == ["resize_long_side", "jpeg"] and social["steps"][1]["quality"] == 75
    with pytest.raises(ConfigError, match="expected names from"):
        grid_from_names(["jpeg_q61"])


def test_noise_seed_varies_per_image():
    op = GaussianNoise(5.0, seed=10)
    assert perturb_for_image(op, 3).seed == 13
    assert perturb_for_image(dict(DEFAULT_GRID)["jpeg_q60"], 3) == dict(DEFAULT_GRID)["jpeg_q60"]


@pytest.fixture(scope="module")
def rob(tiny_bench, tiny_bundle):
    grid = grid_from_names(["jpeg_q60", "resize_0.5x", "noise_s5"])
    return evaluate_robustness(tiny_bundle, tiny_bench / "manifest.csv", grid=grid, n_boot=50, max_images=60, progress=False)


def test_every_metric_per_perturbation(rob):
    assert rob["dataset"] == BUILTIN_NOTE and rob["n_images"] == 60
    assert list(rob["results"]) == ["clean", "jpeg_q60", "resize_0.5x", "noise_s5"]
    clean = rob["results"]["clean"]
    for name in ("jpeg_q60", "resize_0.5x", "noise_s5"):
        r = rob["results"][name]
        assert set(clean) - {"scores"} <= set(r)  # the same summary as evaluate_detector
        assert set(r["overall"]) == set(clean["overall"])
        assert r["perturbation"] == dict(DEFAULT_GRID)[name].to_dict()
        assert abs(rob["auc_drop"][name] - (clean["overall"]["roc_auc"] - r["overall"]["roc_auc"])) < 1e-12
    assert [g["name"] for g in rob["grid"]] == ["jpeg_q60", "resize_0.5x", "noise_s5"]
    assert rob["grid"][2]["per_image_seed"] and not rob["grid"][0]["per_image_seed"]
    json.dumps(rob, allow_nan=False)


def test_perturbed_auc_matches_scoring_by_hand(rob, tiny_bench, tiny_bundle):
    """Re-do the jpeg_q60 row by hand: decode, perturb, score, sklearn AUC on whole images."""
    det = DetectorBundle.from_pretrained(tiny_bundle)
    m = read_manifest(tiny_bench / "manifest.csv")
    by_path = {r.path: r for r in m}
    clean_scores = rob["results"]["clean"]["scores"]
    rows = [by_path[s["path"]] for s in clean_scores]
    op = dict(DEFAULT_GRID)["jpeg_q60"]
    imgs = [apply_perturbations(load_image(m.path_of(r)).rgb, (op,)) for r in rows]
    s = det.score_images(imgs)
    y = np.array([r.label == "fake" for r in rows])
    whole = np.array([not r.mask_path for r in rows])
    assert abs(rob["results"]["jpeg_q60"]["overall"]["roc_auc"] - roc_auc_score(y[whole], s[whole])) < 1e-6


def test_cli_robustness_json(tiny_bench, tiny_bundle, tmp_path):
    out = tmp_path / "rob.json"
    res = CliRunner().invoke(app, ["eval", "-d", str(tiny_bundle), "-m", str(tiny_bench / "manifest.csv"),
                                   "--perturbations", "jpeg_q30", "--max-images", "30", "--n-boot", "20",
                                   "--robustness-out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert set(payload["robustness"]["results"]) == {"clean", "jpeg_q30"}
    assert "scores" not in payload["robustness"]["results"]["clean"]
    assert json.loads(out.read_text())["grid"][0]["perturbation"] == {"name": "jpeg", "quality": 30}


def test_identical_perturbed_sets_are_scored_once(tiny_bench, tiny_bundle):
    """On 128-px images the social chain's 1080-px resize is a no-op: its pixels equal JPEG q75's."""
    grid = grid_from_names(["jpeg_q75", "social_1080_q75", "resize_64px"])
    r = evaluate_robustness(tiny_bundle, tiny_bench / "manifest.csv", grid=grid, n_boot=0, max_images=20, progress=False)
    assert r["results"]["social_1080_q75"]["pixels_identical_to"] == "jpeg_q75"
    assert r["results"]["jpeg_q75"]["pixels_identical_to"] is None
    assert r["results"]["social_1080_q75"]["overall"] == r["results"]["jpeg_q75"]["overall"]
    assert r["results"]["resize_64px"]["perturbation"] == {"name": "resize_long_side", "size": 64, "downscale_only": True,
                                                           "resample": "bicubic"}
