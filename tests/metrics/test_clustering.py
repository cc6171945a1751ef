import numpy as np
import pytest
from sklearn import metrics as skm

from synthtrace.metrics.clustering import (
    adjusted_rand_index, assign_unclustered, clustering_metrics, confusion_matrix, normalized_mutual_info,
    ood_metrics, purity, share_clustered, sources_discovered, top_k_accuracy,
)


@pytest.mark.parametrize("seed", range(5))
def test_nmi_ari_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 5, size=200)
    p = np.where(rng.random(200) < 0.7, t, rng.integers(0, 9, size=200))
    assert normalized_mutual_info(t, p) == pytest.approx(skm.normalized_mutual_info_score(t, p), abs=1e-10)
    assert adjusted_rand_index(t, p) == pytest.approx(skm.adjusted_rand_score(t, p), abs=1e-10)


def test_degenerate_cases_match_sklearn():
    for t, p in [([0, 0, 0], [1, 1, 1]), ([0, 1, 2], [0, 0, 0]), ([0, 1], [0, 1])]:
        assert normalized_mutual_info(t, p) == pytest.approx(skm.normalized_mutual_info_score(t, p))
        assert adjusted_rand_index(t, p) == pytest.approx(skm.adjusted_rand_score(t, p))


def test_purity_weighted_and_unweighted():
    t = ["a"] * 9 + ["b"] * 1 + ["b"] * 1 + ["a"] * 1
    p = [0] * 10 + [1] * 2
    assert purity(t, p) == pytest.approx((9 + 1) / 12)
    assert purity(t, p, weighted=False) == pytest.approx((0.9 + 0.5) / 2)
    c = skm.cluster.contingency_matrix(t, p)
    assert purity(t, p) == pytest.approx(c.max(axis=0).sum() / c.sum())


def test_discovery_metrics():
    t = np.array(["a", "a", "b", "b", "c", "c"])
    p = np.array([0, 0, 1, 1, 1, -1])
    found, missing = sources_discovered(t, p)
    assert found == ["a", "b"] and missing == ["c"]
    assert share_clustered(p) == pytest.approx(5 / 6)
    X = np.array([[0.0], [0.1], [5.0], [5.1], [5.2], [0.05]])
    assert assign_unclustered(X, p).tolist() == [0, 0, 1, 1, 1, 0]
    m = clustering_metrics(t, p, X)
    assert m["n_clusters"] == 2 and m["sources_discovered"] == 2 and m["n_sources"] == 3


def test_attribution_metrics():
    y = np.array([0, 1, 2, 1])
    P = np.array([[0.7, 0.2, 0.1], [0.5, 0.4, 0.1], [0.1, 0.3, 0.6], [0.2, 0.1, 0.7]])
    assert top_k_accuracy(y, P, 1) == pytest.approx(skm.top_k_accuracy_score(y, P, k=1))
    assert top_k_accuracy(y, P, 2) == pytest.approx(skm.top_k_accuracy_score(y, P, k=2))
    m, lab = confusion_matrix(["x", "y", "y"], ["x", "x", "y"])
    assert lab == ["x", "y"] and m.tolist() == skm.confusion_matrix(["x", "y", "y"], ["x", "x", "y"]).tolist()


def test_ood_metrics():
    r = ood_metrics([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert r["auroc"] == 1.0 and r["fpr_at_95_tpr"] == 0.0
