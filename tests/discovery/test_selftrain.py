"""Self-training: the core of each cluster, and what the fingerprint is fine-tuned on."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from synthtrace.discovery.selftrain import core_mask, self_train, stable_core
from synthtrace.errors import InputError


def test_core_mask_keeps_the_members_nearest_each_mean():
    X = np.array([[0.0], [1.0], [2.0], [4.0], [10.0], [11.0], [30.0], [5.0]])
    labels = np.array([0, 0, 0, 0, 1, 1, 2, -1])
    # cluster 0: mean 1.75, distances 1.75, 0.75, 0.25, 2.25 -> the half nearest: rows 2 and 1
    # cluster 1: mean 10.5, both at 0.5 -> ceil(0.5 * 2) = 1, the first (stable order)
    # cluster 2: one member, always kept; row 7 is unclustered and never in the core
    np.testing.assert_array_equal(core_mask(X, labels, 0.5), [False, True, True, False, True, False, True, False])
    np.testing.assert_array_equal(core_mask(X, labels, 1.0), labels >= 0)
    assert core_mask(X, labels, 0.25).sum() == 3  # at least one per cluster
    with pytest.raises(InputError, match="share"):
        core_mask(X, labels, 0.0)
    with pytest.raises(InputError, match="one label per row"):
        core_mask(X, labels[:3], 0.5)


class ScriptedRun:
    """A discovery run whose re-runs return scripted labels, one per fit, in order."""

    script: list = []
    made: list = []

    def __init__(self, **params):
        self.params = params
        ScriptedRun.made.append(params)

    def get_params(self):
        return {"random_state": 3, "run_dir": "run/", "verbose": True, "n_clusters": 45}

    def fit(self, X_known, y_known, X):
        self.labels_ = np.array(ScriptedRun.script.pop(0))
        return self


def test_stable_core_keeps_members_whose_cluster_mates_stay_with_them():
    run = ScriptedRun()
    run.labels_ = np.array([0, 0, 0, 0, 1, 1, -1])
    ScriptedRun.made.clear()
    ScriptedRun.script = [[5, 5, 5, 7, 2, 2, 3], [0, 0, 1, 1, -1, 4, 0]]
    X = np.zeros((7, 2))
    keep = stable_core(run, np.zeros((2, 2)), ["a", "b"], X, runs=2, agreement=0.6)
    # per re-run, the share of the row's cluster found with it again (cluster 0 has 4 members, cluster 1 has 2):
    # rows 0-2: 3/4 then 2/4 -> 0.625; row 3: 1/4, 2/4 -> 0.375; row 4: 2/2, unclustered -> 0.5; row 5: 2/2, 1/2 -> 0.75
    np.testing.assert_array_equal(keep, [True, True, True, False, False, True, False])
    re_runs = ScriptedRun.made
    assert [p["run_dir"] for p in re_runs] == [None, None] and not any(p["verbose"] for p in re_runs)
    assert all(p["n_clusters"] == 45 for p in re_runs)
    assert len({p["random_state"] for p in re_runs} | {3}) == 3  # two new seeds, neither the run's own
    ScriptedRun.script = [[5, 5, 5, 7, 2, 2, 3], [0, 0, 1, 1, -1, 4, 0]]
    np.testing.assert_array_equal(stable_core(run, None, None, X, runs=2, agreement=0.5),
                                  [True, True, True, False, True, True, False])
    with pytest.raises(InputError, match="agreement"):
        stable_core(run, None, None, X, runs=2, agreement=0.0)
    with pytest.raises(InputError, match="7 samples"):
        stable_core(run, None, None, X[:5])


def test_stable_core_on_a_real_run_is_reproducible_and_purer_than_the_run():
    from synthtrace.discovery.openworld import OpenWorldDiscovery
    from synthtrace.metrics.clustering import purity

    rng = np.random.default_rng(0)
    # five sources, two of them close: the run mixes them, its re-runs mix them differently
    C = rng.normal(scale=4, size=(5, 8))
    C[4] = C[3] + rng.normal(scale=0.6, size=8)
    src = np.repeat(np.arange(5), 60)
    X = C[src] + rng.normal(size=(src.size, 8))
    known = (src < 2) & (np.arange(src.size) % 2 == 0)
    Xk, yk, Xd, yd = X[known], src[known].astype(str), X[~known], src[~known]
    params = dict(n_iterations=1, n_clusters=12, min_cluster_size=5, kmeans_min_size=5, epochs_first=3, n_hashes=256,
                  hidden=32, embed_dim=16, batch_size=128, merge_space="input", random_state=0)
    run = OpenWorldDiscovery(**params).fit(Xk, yk, Xd)
    keep = stable_core(run, Xk, yk, Xd, runs=3)
    assert np.array_equal(keep, stable_core(run, Xk, yk, Xd, runs=3))
    assert not np.any(keep & (run.labels_ < 0)) and 0 < keep.sum() < (run.labels_ >= 0).sum()
    clustered = run.labels_ >= 0
    assert purity(yd[keep], run.labels_[keep]) >= purity(yd[clustered], run.labels_[clustered])


class SpyFingerprint:
    """Records what ``adapt`` was given (the real method is tested with the fingerprint)."""

    def adapt(self, images, labels, *, epochs, lr, augment, progress):
        self.got = SimpleNamespace(images=list(images), labels=list(labels), epochs=epochs, lr=lr, augment=augment)
        return "adapted"


def test_self_train_fine_tunes_on_the_known_images_plus_each_clusters_core():
    X = np.array([[0.0], [0.1], [3.0], [9.0], [9.2], [20.0]])
    run = SimpleNamespace(labels_=np.array([0, 0, 0, 1, 1, -1]), label_names_=["gan-s0", "new-0"])
    images = [np.full((2, 2, 3), i, dtype=np.uint8) for i in range(6)]
    known = [np.zeros((2, 2, 3), np.uint8)] * 2
    spy = SpyFingerprint()
    out, keep = self_train(spy, known, ["gan-s0", "gan-s1"], images, run, X, share=0.5, epochs=7, lr=0.01, augment=0.8)
    assert out == "adapted"
    np.testing.assert_array_equal(keep, [True, True, False, True, False, False])  # 2 of 3, 1 of 2, none unclustered
    assert spy.got.labels == ["gan-s0", "gan-s1", "gan-s0", "gan-s0", "new-0"]
    assert [int(im[0, 0, 0]) for im in spy.got.images[2:]] == [0, 1, 3]
    assert (spy.got.epochs, spy.got.lr, spy.got.augment) == (7, 0.01, 0.8)
    with pytest.raises(InputError, match="6 samples"):
        self_train(spy, known, ["a", "b"], images[:5], run, X)
    core = np.array([False, False, True, False, True, False])  # e.g. stable_core's
    _, keep = self_train(spy, known, ["gan-s0", "gan-s1"], images, run, X, core=core)
    np.testing.assert_array_equal(keep, core)
    assert spy.got.labels == ["gan-s0", "gan-s1", "gan-s0", "new-0"]
    with pytest.raises(InputError, match="clustered ones only"):
        self_train(spy, known, ["a", "b"], images, run, X, core=np.ones(6, dtype=bool))
