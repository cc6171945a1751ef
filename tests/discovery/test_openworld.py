import numpy as np
import pytest

from synthtrace.discovery.openworld import OpenWorldDiscovery, merge_components
from synthtrace.errors import ConfigError
from synthtrace.metrics.clustering import clustering_metrics

FAST = dict(n_clusters=24, min_cluster_size=20, epochs_first=4, epochs_later=4, n_hashes=256, hidden=32, embed_dim=16,
            batch_size=128)


def _data(seed=0):
    rng = np.random.default_rng(seed)
    C = rng.normal(scale=4, size=(6, 16))
    src = np.repeat(np.arange(6), 80)
    X = C[src] + rng.normal(size=(len(src), 16))
    known = (src < 3) & (np.arange(len(src)) % 2 == 0)
    return X[known], src[known].astype(str), X[~known], src[~known].astype(str)


def test_merge_components_strong_vs_weak():
    codes = np.array([[0, 0, 0, 0], [0, 0, 0, 1], [1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 0, 0]], dtype=np.uint8)
    strong = merge_components(codes, connectivity="strong")
    assert strong[0] == strong[1] and strong[2] == strong[3] and strong[0] != strong[2]
    weak = merge_components(codes, connectivity="weak")
    assert weak[4] == weak[2] or weak[4] == weak[0]


def test_discovers_new_sources_and_is_deterministic(tmp_path):
    Xk, yk, Xd, yd = _data()
    # tiny MLP, 4 epochs: a smoke check of the loop, not of its quality (see benchmarks/discovery_bench.py);
    # the defaults, then the paper's untested merge, fixed k and k-means on f(x)
    paper = dict(FAST, merge_test=False, kmeans_min_size=None, cluster_space="embedding")
    for params in (dict(FAST, merge_space="input", kmeans_n_init=5), FAST, paper):
        a = OpenWorldDiscovery(n_iterations=2, **params).fit(Xk, yk, Xd, eval_labels=yd)
        m = clustering_metrics(yd, a.labels_, a.features_)
        assert m["sources_discovered"] >= 5 and m["purity"] > 0.75 and m["nmi"] > 0.7
    assert len(a.history_) == 2 and "purity" in a.history_[0]
    b = OpenWorldDiscovery(n_iterations=2, **paper).fit(Xk, yk, Xd)
    assert np.array_equal(a.labels_, b.labels_)
    names = {c["name"] for c in a.clusters()}
    assert {"0", "1", "2"} <= names


def test_resume_equals_uninterrupted(tmp_path):
    Xk, yk, Xd, _ = _data(1)
    full = OpenWorldDiscovery(n_iterations=2, **FAST).fit(Xk, yk, Xd)
    OpenWorldDiscovery(n_iterations=1, run_dir=tmp_path / "run", **FAST).fit(Xk, yk, Xd)  # "interrupted" after 1
    resumed = OpenWorldDiscovery(n_iterations=2, run_dir=tmp_path / "run", **FAST).fit(Xk, yk, Xd)
    assert resumed.history_[0] == full.history_[0] or resumed.history_[0]["iteration"] == 1
    assert len(resumed.history_) == 2
    assert np.array_equal(resumed.labels_, full.labels_)
    with pytest.raises(ConfigError):
        OpenWorldDiscovery(n_iterations=2, run_dir=tmp_path / "run", **FAST).fit(Xk, yk, Xd[:-5])


def test_extend_keeps_clusters():
    Xk, yk, Xd, yd = _data(2)
    d = OpenWorldDiscovery(n_iterations=1, stop_share=0.0, **FAST).fit(Xk, yk, Xd[:200])
    before = d.labels_.copy()
    d.extend(Xd[200:], n_iterations=1)
    assert d.labels_.shape == (len(Xd),)
    kept = before >= 0
    assert np.mean(d.labels_[:200][kept] >= 0) > 0.8


def test_bad_params():
    Xk, yk, Xd, _ = _data()
    with pytest.raises(ConfigError):
        OpenWorldDiscovery(merge="mutual").fit(Xk, yk, Xd)
    with pytest.raises(ConfigError):
        OpenWorldDiscovery(cluster_space="pixels").fit(Xk, yk, Xd)
    with pytest.raises(ConfigError, match="merge_space"):
        OpenWorldDiscovery(merge_space="pixels").fit(Xk, yk, Xd)
    with pytest.raises(ConfigError, match="kmeans_n_init"):
        OpenWorldDiscovery(kmeans_n_init=0).fit(Xk, yk, Xd)


def test_crash_mid_iteration_resumes_from_last_finished(tmp_path, monkeypatch):
    Xk, yk, Xd, _ = _data(1)
    full = OpenWorldDiscovery(n_iterations=2, **FAST).fit(Xk, yk, Xd)
    real = OpenWorldDiscovery._iterate

    def crash_on_second(self, it):
        if it == 2:
            raise KeyboardInterrupt("simulated interrupt")
        return real(self, it)

    monkeypatch.setattr(OpenWorldDiscovery, "_iterate", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        OpenWorldDiscovery(n_iterations=2, run_dir=tmp_path / "run", **FAST).fit(Xk, yk, Xd)
    monkeypatch.setattr(OpenWorldDiscovery, "_iterate", real)
    resumed = OpenWorldDiscovery(n_iterations=2, run_dir=tmp_path / "run", **FAST).fit(Xk, yk, Xd)
    assert [h["iteration"] for h in resumed.history_] == [1, 2]
    assert np.array_equal(resumed.labels_, full.labels_)


def test_nystroem_refine_is_deterministic():
    Xk, yk, Xd, yd = _data(3)
    runs = [OpenWorldDiscovery(n_iterations=1, svm="nystroem", random_state=5, **FAST).fit(Xk, yk, Xd) for _ in range(2)]
    assert np.array_equal(runs[0].labels_, runs[1].labels_)
    assert clustering_metrics(yd, runs[0].labels_, runs[0].features_)["purity"] > 0.6


def test_max_steps_caps_training_and_stays_deterministic():
    Xk, yk, Xd, _ = _data(4)
    a, b = (OpenWorldDiscovery(n_iterations=1, max_steps=3, **FAST).fit(Xk, yk, Xd) for _ in range(2))
    assert np.array_equal(a.labels_, b.labels_)
    full = OpenWorldDiscovery(n_iterations=1, **FAST).fit(Xk, yk, Xd)
    assert not np.allclose(a.features_, full.features_)  # fewer steps, other weights


def _fragments(d, Ed, groups):
    """Put d in the state after k-means: known classes 0..n_known-1, then one new cluster per group."""
    d.labels_ = np.full(len(Ed), -1, dtype=np.int64)
    for g, rows in enumerate(groups):
        d.labels_[rows] = d.n_known_ + g
    d.label_names_ = [str(c) for c in d.known_names_] + [f"_tmp{g}" for g in range(len(groups))]


def test_tested_merge_joins_fragments_of_one_source_but_not_two_sources():
    from synthtrace.discovery.wta import WTAHasher

    rng = np.random.default_rng(0)
    centres = rng.normal(scale=6, size=(3, 16))
    Ek = centres[0] + rng.normal(size=(60, 16))  # the known class
    A = centres[1] + rng.normal(size=(60, 16))  # a new source in 3 fragments
    B = centres[2] + rng.normal(size=(60, 16))  # another new source in 3 fragments
    Ed = np.concatenate([A, B])
    order_a, order_b = np.argsort(A[:, 0]), 60 + np.argsort(B[:, 0])
    groups = [order_a[:20], order_a[20:40], order_a[40:], order_b[:20], order_b[20:40], order_b[40:]]
    hasher = WTAHasher(512, 2, random_state=0).fit(Ed[:1])
    d = OpenWorldDiscovery(n_hashes=512, percentile=0.9)
    d.known_names_, d._yk, d.n_known_ = np.array(["k"]), np.zeros(60, dtype=np.int64), 1
    _fragments(d, Ed, groups)
    d._merge_tested(Ed, Ek, hasher, 0)
    assert np.unique(d.labels_[:60]).size == 1 and np.unique(d.labels_[60:]).size == 1
    assert d.labels_[0] != d.labels_[60] and d.labels_.min() >= 1  # two new clusters, none given to the known class
    # the paper's single round of 1-NN merging leaves fragments of one source apart
    _fragments(d, Ed, groups)
    d._merge_all(Ed, Ek, hasher, 1)
    assert np.unique(d.labels_).size > 2


def test_untested_merge_across_all_leaves_pairs_of_earlier_clusters_apart():
    from synthtrace.discovery.wta import WTAHasher

    rng = np.random.default_rng(1)
    Ek = rng.normal(scale=6, size=16) + rng.normal(size=(40, 16))
    near = rng.normal(scale=6, size=16)
    # two earlier clusters (ids 1, 2) of nearby sources, mutual nearest neighbours, and a far new one (id 3)
    Ed = np.concatenate([near + rng.normal(size=(30, 16)), near + 1.5 + rng.normal(size=(30, 16)),
                         rng.normal(scale=6, size=16) + rng.normal(size=(30, 16))])
    groups = [np.arange(30), np.arange(30, 60), np.arange(60, 90)]
    hasher = WTAHasher(512, 2, random_state=0).fit(Ed[:1])
    d = OpenWorldDiscovery(n_hashes=512, merge_test=False)
    d.known_names_, d._yk, d.n_known_ = np.array(["k"]), np.zeros(40, dtype=np.int64), 1
    _fragments(d, Ed, groups)
    d._merge_all(Ed, Ek, hasher, 3)  # only cluster 3 is new in this iteration
    assert np.unique(d.labels_).size == 3
    _fragments(d, Ed, groups)
    d._merge_all(Ed, Ek, hasher, 1)  # all three new: the mutual nearest neighbours 1 and 2 merge
    assert np.unique(d.labels_).size == 2 and d.labels_[0] == d.labels_[30] != d.labels_[60]
