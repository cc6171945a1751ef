"""Consensus of several runs of the discovery loop (evidence accumulation, Fred & Jain, TPAMI 2005).

One run of ``OpenWorldDiscovery`` depends on its seed (k-means++ starts, the network's
initial weights, the SVMs' draws): on the built-in benchmark's standard preset, purity
moves by ±0.011 from seed to seed on the same features, and each run mixes a different
handful of post-processed images into the wrong cluster. Two images of one generator
end up together in most runs; two images that one run put together by chance do not.
``ConsensusDiscovery`` runs the loop with several seeds, counts for every pair of images
the share of runs that put them in one cluster (the co-association matrix), and cuts the
average-linkage tree of that matrix into as many clusters as the median run found.

Every image gets a cluster: each run's unclustered images first join their nearest
cluster (the rule the metrics use, ``assign_unclustered``). ``support_`` says, per image,
the mean share of runs that put it with each of its consensus cluster-mates: 1.0 when
every run agreed (an image alone in its cluster: 0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import adjusted_rand_score

from synthtrace.errors import InputError, NotFittedError
from synthtrace.metrics.clustering import assign_unclustered
from synthtrace.progress import progress_bar

__all__ = ["MAX_SAMPLES", "ConsensusDiscovery", "co_association", "consensus_labels"]

MAX_SAMPLES = 10_000  # an N x N float32 co-association matrix: 400 MB here


def co_association(label_runs: Any) -> np.ndarray:
    """``S[i, j]``: the share of runs (rows of ``label_runs``) with samples i and j in one
    cluster; label −1 (unclustered) is never together with anything but itself."""
    L = np.asarray(label_runs)
    if L.ndim != 2 or L.shape[0] < 1 or L.shape[1] < 1:
        raise InputError(f"label_runs must be one row of labels per run (runs x samples); got shape {L.shape}.")
    S = np.zeros((L.shape[1], L.shape[1]), dtype=np.float32)
    for lab in L:
        S += (lab[:, None] == lab[None, :]) & (lab >= 0)[:, None]
    S /= L.shape[0]
    np.fill_diagonal(S, 1.0)
    return S


def consensus_labels(label_runs: Any, n_clusters: int | None = None, *, max_samples: int = MAX_SAMPLES) -> np.ndarray:
    """The consensus partition of several clusterings of the same samples: average linkage on
    1 − co-association, cut at ``n_clusters`` (default: the median number of clusters of the
    runs). Labels 0..k−1, numbered by first appearance so equal partitions get equal labels."""
    L = np.asarray(label_runs)
    if L.ndim == 2:
        _check_size(L.shape[1], max_samples)  # before the n x n matrix
    S = co_association(L)
    return _cut(S, _median_clusters(L) if n_clusters is None else n_clusters)


def _median_clusters(label_runs: np.ndarray) -> int:
    return int(np.median([np.unique(lab[lab >= 0]).size for lab in label_runs]))


def _check_size(n: int, max_samples: int) -> None:
    if n > max_samples:
        raise InputError(f"a consensus of {n} samples needs a {n} x {n} co-association matrix "
                         f"(max_samples={max_samples}); run discovery without a consensus, or on a part of the set.")


def _cut(S: np.ndarray, n_clusters: int) -> np.ndarray:
    n = S.shape[0]
    k = min(max(int(n_clusters), 1), n)
    if k == n:
        return np.arange(n)
    raw = AgglomerativeClustering(n_clusters=k, metric="precomputed", linkage="average").fit_predict(1.0 - S)
    _, first = np.unique(raw, return_index=True)
    order = np.argsort(np.argsort(first))  # cluster id -> rank of its first sample
    return order[raw]


class ConsensusDiscovery:
    """``runs`` runs of ``discovery`` (an unfitted ``OpenWorldDiscovery``: its own seed, then
    seeds derived from it), joined by ``consensus_labels``. With the template's ``run_dir``,
    the first run keeps its state there and run i in ``run_dir/consensus/run<i>/``, so an
    interrupted consensus resumes.

    Fitted attributes: ``labels_`` (every image clustered), ``label_names_`` (a consensus
    cluster takes the name of the first run's cluster most of its members were in: a known
    source or ``new-<k>``; a name already taken gets `` (2)``, `` (3)``...), ``known_``
    (per label), ``support_`` (per image), ``runs_`` (the runs' labels, unclustered images
    assigned), ``seeds_``, ``fitted_`` (the runs), ``discovery_`` (the first run),
    ``history_`` (its iterations, then a consensus record), ``features_`` (the first run's
    embedding). ``extend(X_new)`` is the online mode."""

    def __init__(self, discovery: Any, runs: int = 16, *, max_samples: int = MAX_SAMPLES, progress: bool = False) -> None:
        self.discovery = discovery
        self.runs = runs
        self.max_samples = max_samples
        self.progress = progress

    def fit(self, X_known: Any, y_known: Any, X: Any, *, eval_labels: Any = None) -> ConsensusDiscovery:
        """``eval_labels`` (true sources, optional) go to the first run's per-iteration statistics."""
        if int(self.runs) < 2:
            raise InputError(f"runs={self.runs!r}: a consensus needs at least 2 runs of the loop.")
        _check_size(len(X), self.max_samples)  # before minutes of runs, not after
        params = self.discovery.get_params()
        seed = int(params["random_state"])
        self.seeds_ = [seed] + [int(s) for s in np.random.default_rng([seed, 2]).integers(2**31, size=int(self.runs) - 1)]
        root = params.get("run_dir")
        fitted = []
        with progress_bar(len(self.seeds_), "consensus (runs of the loop)", enabled=self.progress) as advance:
            for i, s in enumerate(self.seeds_):
                run_dir = None if root is None else (Path(root) if i == 0 else Path(root) / "consensus" / f"run{i}")
                d = type(self.discovery)(**{**params, "random_state": s, "run_dir": run_dir,
                                            "verbose": bool(params.get("verbose")) and i == 0})
                fitted.append(d.fit(X_known, y_known, X, eval_labels=eval_labels if i == 0 else None))
                advance(1)
        self.fitted_ = fitted
        return self._join()

    def extend(self, X_new: Any, *, n_iterations: int = 1) -> ConsensusDiscovery:
        """Online mode: every run takes the new samples (``OpenWorldDiscovery.extend``: its
        finished clusters keep their members), then the runs are joined again."""
        if not hasattr(self, "fitted_"):
            raise NotFittedError("call fit() before extend().")
        _check_size(self.labels_.size + len(X_new), self.max_samples)
        for d in self.fitted_:
            d.extend(X_new, n_iterations=n_iterations)
        return self._join()

    def _join(self) -> ConsensusDiscovery:
        self.runs_ = np.stack([assign_unclustered(d.features_, d.labels_) for d in self.fitted_])
        S = co_association(self.runs_)
        labels = _cut(S, _median_clusters(self.runs_))
        base = self.discovery_ = self.fitted_[0]
        self._name(labels, base)
        self.support_ = np.zeros(labels.size)
        for c in range(labels.max() + 1):
            idx = np.flatnonzero(labels == c)
            if idx.size > 1:  # share of runs with each cluster-mate, itself left out
                self.support_[idx] = (S[np.ix_(idx, idx)].sum(axis=1) - 1.0) / (idx.size - 1)
        pairs = [adjusted_rand_score(a, b) for i, a in enumerate(self.runs_) for b in self.runs_[i + 1:]]
        self.features_ = base.features_
        self.history_ = list(base.history_) + [{
            "iteration": "consensus", "runs": len(self.seeds_), "seeds": self.seeds_,
            "n_clusters": len(self.label_names_), "mean_pairwise_ari": float(np.mean(pairs)),
            "mean_support": float(self.support_.mean())}]
        return self

    def _name(self, labels: np.ndarray, base: Any) -> None:
        """Known-source clusters first (in the known order), then new ones by size."""
        first = self.runs_[0]
        majority = np.array([np.bincount(first[labels == c]).argmax() for c in range(labels.max() + 1)])
        known = majority < base.n_known_
        size = np.bincount(labels)
        order = sorted(range(majority.size), key=lambda c: (not known[c], majority[c] if known[c] else -size[c], c))
        names: list[str] = []
        taken: dict[str, int] = {}
        for c in order:
            name = base.label_names_[majority[c]]
            taken[name] = taken.get(name, 0) + 1
            names.append(name if taken[name] == 1 else f"{name} ({taken[name]})")
        rank = np.empty(len(order), dtype=int)
        rank[order] = np.arange(len(order))
        self.labels_ = rank[labels]
        self.label_names_ = names
        self.known_ = [bool(known[c]) for c in order]

    def clusters(self) -> list[dict[str, Any]]:
        """One record per consensus cluster: name, known/new, size, member indices, mean support."""
        if not hasattr(self, "labels_"):
            raise NotFittedError("ConsensusDiscovery is not fitted; call fit() first.")
        out = []
        for j, name in enumerate(self.label_names_):
            idx = np.flatnonzero(self.labels_ == j)
            out.append({"id": j, "name": name, "known": self.known_[j], "size": int(idx.size), "members": idx.tolist(),
                        "support": round(float(self.support_[idx].mean()), 4)})
        return out
