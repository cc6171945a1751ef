"""Consensus of several discovery runs: co-association, the consensus cut, and the run object."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from synthtrace.discovery.consensus import ConsensusDiscovery, co_association, consensus_labels
from synthtrace.discovery.openworld import OpenWorldDiscovery
from synthtrace.errors import InputError


def test_co_association_worked_example():
    runs = [[0, 0, 1, 1, -1],
            [0, 0, 1, 1, 1],
            [2, 0, 0, 1, 1],
            [0, 0, 1, 1, 1]]
    S = co_association(runs)
    # (0, 1): runs 1, 2, 4 -> 3/4; (2, 3): runs 1, 2, 4 -> 3/4; (3, 4): runs 2, 3, 4 (sample 4 is unclustered in
    # run 1) -> 3/4; (2, 4): runs 2, 4 -> 2/4; (1, 2): run 3 -> 1/4; (0, 2), (0, 4): never
    expect = {(0, 1): 0.75, (2, 3): 0.75, (3, 4): 0.75, (2, 4): 0.5, (1, 2): 0.25, (0, 2): 0.0, (0, 4): 0.0}
    for (i, j), v in expect.items():
        assert S[i, j] == pytest.approx(v) and S[j, i] == pytest.approx(v)
    assert np.allclose(np.diag(S), 1)
    # the runs have 2, 2, 3 and 2 clusters: cut at 2. Average linkage on 1 - S joins (0, 1), (2, 3) and (3, 4) at
    # 0.25; {2, 3, 4} to {0, 1} is 1 - mean(0, 1/4, 0, 0, 0, 0) = 0.96 on average, so that cut is {0, 1} | {2, 3, 4}
    np.testing.assert_array_equal(consensus_labels(runs), [0, 0, 1, 1, 1])  # numbered by first appearance
    np.testing.assert_array_equal(consensus_labels(runs, n_clusters=5), np.arange(5))


def test_agreeing_runs_give_their_partition_and_noise_is_outvoted():
    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(4), 25)
    runs = []
    for _ in range(9):  # each run relabels the clusters and moves 10 random samples to a random cluster
        lab = rng.permutation(4)[truth]
        moved = rng.choice(truth.size, 10, replace=False)
        lab[moved] = rng.integers(0, 4, size=10)
        runs.append(lab)
    assert all(adjusted_rand_score(truth, r) < 0.95 for r in runs)
    np.testing.assert_array_equal(consensus_labels(runs), consensus_labels([truth]))
    assert adjusted_rand_score(truth, consensus_labels(runs)) == 1.0


class ScriptedRun:
    """A discovery run whose fits return scripted labels, one per fit, in order."""

    script: list = []
    made: list = []

    def __init__(self, **params):
        ScriptedRun.made.append(params)

    def get_params(self):
        return {"random_state": 7, "run_dir": None, "verbose": True}

    def fit(self, X_known, y_known, X, eval_labels=None):
        self.labels_ = np.array(ScriptedRun.script.pop(0))
        self.features_, self.n_known_, self.label_names_, self.history_ = X, 1, ["cam", "new-1", "new-2"], [{}]
        return self


def test_consensus_run_worked_example_names_and_support():
    ScriptedRun.made.clear()
    ScriptedRun.script = [[0, 0, 1, 1, 2], [0, 0, 1, 1, 1], [2, 0, 0, 1, 1], [0, 0, 1, 1, 1]]
    c = ConsensusDiscovery(ScriptedRun(), runs=4).fit(None, None, np.zeros((5, 2)))
    # co-association as in the worked example above; the runs have 3, 2, 3, 2 clusters: median 2.5 -> cut at 2
    np.testing.assert_array_equal(c.labels_, [0, 0, 1, 1, 1])
    # names from the first run: {0, 1} were its known class "cam", {2, 3, 4} mostly its "new-1"
    assert c.label_names_ == ["cam", "new-1"] and c.known_ == [True, False]
    # support: the mean share of runs with each cluster-mate, e.g. sample 2: (3/4 with 3 + 2/4 with 4) / 2
    np.testing.assert_allclose(c.support_, [0.75, 0.75, 0.625, 0.75, 0.625])
    assert c.seeds_[0] == 7 and len(set(c.seeds_)) == 4
    assert [p["random_state"] for p in ScriptedRun.made[1:]] == c.seeds_  # the template, then one per run
    assert [p["verbose"] for p in ScriptedRun.made[1:]] == [True, False, False, False]


def test_bad_input_is_refused_with_the_fix():
    with pytest.raises(InputError, match="runs x samples"):
        consensus_labels(np.zeros(5, dtype=int))
    with pytest.raises(InputError, match="without a consensus"):
        consensus_labels(np.zeros((2, 50), dtype=int), max_samples=40)
    with pytest.raises(InputError, match="at least 2 runs"):
        ConsensusDiscovery(OpenWorldDiscovery(), runs=1).fit(np.zeros((2, 2)), ["a", "b"], np.zeros((3, 2)))
    with pytest.raises(InputError, match="without a consensus"):
        ConsensusDiscovery(OpenWorldDiscovery(), runs=2, max_samples=2).fit(np.zeros((2, 2)), ["a", "b"], np.zeros((3, 2)))


def _data(seed=0):
    rng = np.random.default_rng(seed)
    # six sources, two pairs of them close: single runs split and mix them differently
    C = rng.normal(scale=4, size=(6, 8))
    C[4] = C[3] + rng.normal(scale=2.0, size=8)
    C[5] = C[2] + rng.normal(scale=2.0, size=8)
    src = np.repeat(np.arange(6), 60)
    X = C[src] + rng.normal(size=(src.size, 8))
    known = (src < 2) & (np.arange(src.size) % 2 == 0)
    return X[known], src[known].astype(str), X[~known], src[~known].astype(str)


PARAMS = dict(n_iterations=1, n_clusters=14, min_cluster_size=5, kmeans_min_size=5, epochs_first=3, n_hashes=256,
              hidden=32, embed_dim=16, batch_size=128, merge_space="input")


def test_consensus_run_is_reproducible_names_known_sources_and_resumes(tmp_path):
    from synthtrace.discovery.run import write_run
    from synthtrace.metrics.clustering import clustering_metrics

    Xk, yk, Xd, yd = _data()
    c = ConsensusDiscovery(OpenWorldDiscovery(**PARAMS, random_state=0, run_dir=tmp_path / "run"), runs=4).fit(Xk, yk, Xd)
    again = ConsensusDiscovery(OpenWorldDiscovery(**PARAMS, random_state=0), runs=4).fit(Xk, yk, Xd)
    np.testing.assert_array_equal(c.labels_, again.labels_)
    assert c.seeds_[0] == 0 and len(set(c.seeds_)) == 4 and c.runs_.shape == (4, yd.size)
    assert (tmp_path / "run" / "state").is_dir() and (tmp_path / "run" / "consensus" / "run3" / "state").is_dir()
    # the first run is the template's own seed, every image is clustered, support is a share of runs
    single = OpenWorldDiscovery(**PARAMS, random_state=0).fit(Xk, yk, Xd)
    np.testing.assert_array_equal(c.discovery_.labels_, single.labels_)
    assert c.labels_.min() == 0 and np.all((c.support_ >= 0) & (c.support_ <= 1)) and c.support_.mean() > 0.5
    # known sources keep their names; every name is unique; known clusters come first
    assert {"0", "1"} <= set(c.label_names_) and len(set(c.label_names_)) == len(c.label_names_)
    assert c.known_ == sorted(c.known_, reverse=True)
    for rec in c.clusters():
        if rec["known"]:
            members = yd[rec["members"]]
            assert np.mean(members == rec["name"].split(" ")[0]) > 0.5
    m = clustering_metrics(yd, c.labels_)
    assert m["purity"] > 0.8 and m["sources_discovered"] >= 5
    assert c.history_[-1]["iteration"] == "consensus" and c.history_[-1]["n_clusters"] == len(c.label_names_)

    # an interrupted consensus resumes from the runs' states: same result without refitting finished runs
    resumed = ConsensusDiscovery(OpenWorldDiscovery(**PARAMS, random_state=0, run_dir=tmp_path / "run"), runs=4).fit(Xk, yk, Xd)
    np.testing.assert_array_equal(resumed.labels_, c.labels_)

    write_run(tmp_path / "out", c, [f"img{i}.png" for i in range(yd.size)])
    rows = list(csv.DictReader(open(tmp_path / "out" / "clusters.csv")))
    assert [int(r["cluster_id"]) for r in rows] == c.labels_.tolist()
    assert [r["known"] == "1" for r in rows] == [c.known_[j] for j in c.labels_]
    np.testing.assert_allclose([float(r["support"]) for r in rows], c.support_, atol=1e-4)
    recs = json.loads((tmp_path / "out" / "clusters.json").read_text())
    assert sum(r["size"] for r in recs) == yd.size and all("support" in r for r in recs)


def test_extend_adds_images_to_every_run_and_joins_again():
    Xk, yk, Xd, yd = _data(1)
    c = ConsensusDiscovery(OpenWorldDiscovery(**PARAMS, stop_share=0.0), runs=3, max_samples=len(Xd)).fit(Xk, yk, Xd[:200])
    before = [d.labels_.copy() for d in c.fitted_]
    c.extend(Xd[200:])
    assert c.labels_.shape == (len(Xd),) and c.runs_.shape == (3, len(Xd)) and c.support_.shape == (len(Xd),)
    for d, old in zip(c.fitted_, before):  # each run's finished clusters keep their members
        kept = old >= 0
        assert np.mean(d.labels_[:200][kept] == old[kept]) > 0.8
    assert c.history_[-1]["iteration"] == "consensus"
    with pytest.raises(InputError, match="without a consensus"):
        c.extend(Xd[:1])
