from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from synthtrace.bench.build import BenchConfig, build_benchmark
from synthtrace.errors import InputError, NotFittedError
from synthtrace.heads.disentangle import (
    DisentangleConfig,
    Disentangler,
    cluster_accuracy,
    cluster_metrics,
    distance_accuracy,
    evaluate_disentanglement,
    supcon_loss,
)
from synthtrace.io.manifest import read_manifest



pytestmark = pytest.mark.usefixtures("one_thread")

def test_cluster_accuracy_by_hand():
    # Cluster a: all right; cluster b: one of three wrong.
    y = [0, 1, 1, 0, 1, 1]
    p = [0, 1, 1, 0, 0, 1]
    c = ["a", "a", "a", "b", "b", "b"]
    out = cluster_accuracy(y, p, c)
    assert out["accuracy"] == pytest.approx(5 / 6)
    assert out["full_cluster_accuracy"] == 0.5
    assert out["n_clusters"] == 2


def test_cluster_metrics_auc_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    y = np.array([0, 1, 1, 0, 1, 1])
    s = np.array([-1.0, 2.0, 0.5, 0.2, -0.3, 1.0])
    out = cluster_metrics(y, s, list("aaabbb"))
    assert out["roc_auc"] == pytest.approx(roc_auc_score(y, s))
    assert out["accuracy"] == pytest.approx(4 / 6)  # 0.2 (real) and -0.3 (fake) are wrong at threshold 0


def test_distance_accuracy_by_hand():
    # Cluster a: real far from two fakes that sit together → max distance.
    # Cluster b: real in the middle of two fakes on a line → min distance.
    Z = np.array([[10.0, 0], [0, 0], [0, 1], [0, 0], [-1, 0], [1, 0]])
    y = [0, 1, 1, 0, 1, 1]
    out = distance_accuracy(Z, y, list("aaabbb"))
    assert out["max_distance_accuracy"] == 0.5 and out["min_distance_accuracy"] == 0.5
    assert out["chance"] == pytest.approx(1 / 3)
    # A cluster with two reals is skipped, not miscounted.
    out = distance_accuracy(np.zeros((3, 2)), [0, 0, 1], ["x", "x", "x"])
    assert out["n_skipped"] == 1 and math.isnan(out["min_distance_accuracy"])
    # Ties (all members equidistant) are neither min nor max.
    out = distance_accuracy(np.eye(3), [0, 1, 1], list("aaa"))
    assert out["min_distance_accuracy"] == 0 and out["max_distance_accuracy"] == 0


def test_metrics_reject_missing_cluster_ids():
    with pytest.raises(InputError, match="cluster_id"):
        cluster_accuracy([0, 1], [0, 1], ["a", ""])


def test_supcon_loss_by_hand():
    z = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]]), dim=1)
    labels = torch.tensor([0, 0, 1])
    t = 0.5
    sim = (z @ z.T / t).numpy()
    # Anchors 0 and 1 each have one positive; anchor 2 has none and is left out.
    l0 = -(sim[0, 1] - np.log(np.exp(sim[0, 1]) + np.exp(sim[0, 2])))
    l1 = -(sim[1, 0] - np.log(np.exp(sim[1, 0]) + np.exp(sim[1, 2])))
    assert float(supcon_loss(z, labels, t)) == pytest.approx((l0 + l1) / 2, rel=1e-5)
    assert float(supcon_loss(z, torch.tensor([0, 1, 2]), t)) == 0.0


def _clustered_features(n_clusters=40, per=4, d=8, seed=0):
    """Content lives in dims 0-3 (shared in a cluster), style (real/fake) in dim 4."""
    rng = np.random.default_rng(seed)
    X, y, c = [], [], []
    for k in range(n_clusters):
        content = rng.normal(size=4) * 3
        for j in range(per):
            label = int(j > 0)
            v = np.zeros(d)
            v[:4] = content + rng.normal(size=4) * 0.1
            v[4] = 0.6 * (1 if label else -1)
            v[5:] = rng.normal(size=d - 5) * 0.3
            X.append(v), y.append(label), c.append(f"c{k}")
    return np.array(X, np.float32), np.array(y), np.array(c)


def test_fit_separates_style_from_content():
    X, y, c = _clustered_features()
    model = Disentangler(DisentangleConfig(epochs=25, lr=1e-2, clusters_per_batch=10)).fit(X, y, c)
    first, last = model.history_[0], model.history_[-1]
    # Each space's objective falls: L_T = L_fr - L_c, L_S = L_c - L_fr.
    assert last["T_realfake"] - last["T_cluster"] < first["T_realfake"] - first["T_cluster"]
    assert last["S_cluster"] - last["S_realfake"] < first["S_cluster"] - first["S_realfake"]
    before = distance_accuracy(X / np.linalg.norm(X, axis=1, keepdims=True), y, c)
    after = distance_accuracy(model.transform(X, "T"), y, c)
    assert after["max_distance_accuracy"] >= before["max_distance_accuracy"]
    assert model.transform(X, "S").shape == X.shape
    assert set(model.state_dict()) == {"S", "T"}
    with pytest.raises(NotFittedError):
        Disentangler().transform(X)


@pytest.fixture(scope="module")
def cluster_bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("clusters")
    build_benchmark(out, BenchConfig(size=32, per_source=4, seed=5, clusters=5), workers=1)
    return out


def test_bench_clusters_share_ids_and_keep_held_out_generators_in_test(cluster_bench):
    m = read_manifest(cluster_bench / "manifest.csv", check_files=True)
    by_cluster: dict[str, list] = {}
    for r in m:
        assert r.cluster_id == r.scene_id and not r.mask_path
        by_cluster.setdefault(r.cluster_id, []).append(r)
    assert len(by_cluster) == 12  # ceil(4 x 15 / 5)
    for rows in by_cluster.values():
        assert [r.label for r in rows].count("real") == 1 and len(rows) == 6
        assert len({r.source for r in rows if r.label == "fake"}) == 5
        assert len({r.split for r in rows}) == 1
    held_out = {"ldm-s0", "ldm-s1", "ldm-s2", "tconv-s2", "nearest-s2", "bilinear-s2", "pixelshuffle-s2"}
    assert not any(r.source in held_out for r in m if r.split != "test")
    assert json.loads((cluster_bench / "bench.json").read_text())["config"]["clusters"] == 5


def test_default_bench_json_has_no_clusters_key(tiny_bench):
    assert "clusters" not in json.loads((tiny_bench / "bench.json").read_text())["config"]


def test_evaluate_disentanglement_on_cluster_bench(cluster_bench, tmp_path):
    from synthtrace.backbones.tiny import save_tiny_model

    vit = save_tiny_model("vit", tmp_path / "vit")
    m = read_manifest(cluster_bench / "manifest.csv")
    if len(set(m.where(split="train").column("cluster_id"))) < 2 or not len(m.where(split="test")):
        pytest.skip("this tiny build has too few train clusters")
    out = evaluate_disentanglement(cluster_bench / "manifest.csv", f"hf:{vit}", config=DisentangleConfig(epochs=2))
    for space in ("raw", "S", "T"):
        assert 0 <= out[space]["full_cluster_accuracy"] <= out[space]["accuracy"] <= 1
        assert 0 <= out[space]["max_distance_accuracy"] <= 1
        assert out[space]["chance"] == pytest.approx(1 / 6)


def test_bench_build_cli_clusters_option(tmp_path):
    from typer.testing import CliRunner

    from synthtrace.cli.app import app

    res = CliRunner().invoke(app, ["bench", "build", "--out", str(tmp_path), "--size", "32", "--per-source", "1",
                                   "--clusters", "5", "--workers", "1", "--json"])
    assert res.exit_code == 0, res.output
    m = read_manifest(tmp_path / "manifest.csv")
    assert len(m) == 3 * 6 and len(set(m.column("cluster_id"))) == 3
