"""Clustering, open-set and attribution metrics (pure functions, sklearn argument order).

Discovery metrics follow the open-world spec: all are computed on the whole
discovery set; unclustered samples (label −1) are first assigned to the nearest
cluster with :func:`assign_unclustered`.

- ``purity``: (1/n) Σ_clusters max_source |cluster ∩ source| (weighted by size);
  ``purity(..., weighted=False)``: unweighted mean of per-cluster purity.
- ``normalized_mutual_info`` (arithmetic normalisation, as sklearn's default),
  ``adjusted_rand_index``.
- ``share_clustered``: share of samples with a cluster label (not −1).
- ``sources_discovered``: sources that are the majority source of ≥ 1 cluster.
- ``ood_metrics``: AUROC and FPR at 95 % TPR of an OOD score (positive = unknown).
- ``top_k_accuracy`` and ``confusion_matrix`` for closed-set attribution.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from synthtrace.errors import InputError
from synthtrace.metrics.detection import fpr_at_tpr, roc_auc

__all__ = [
    "contingency_matrix",
    "purity",
    "normalized_mutual_info",
    "adjusted_rand_index",
    "share_clustered",
    "sources_discovered",
    "assign_unclustered",
    "clustering_metrics",
    "ood_metrics",
    "top_k_accuracy",
    "confusion_matrix",
]


def _pair(labels_true: Any, labels_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t, p = np.asarray(labels_true), np.asarray(labels_pred)
    if t.ndim != 1 or p.shape != t.shape:
        raise InputError(f"labels_true and labels_pred must be 1-D of equal length; got shapes {t.shape} and {p.shape}.")
    if t.size == 0:
        raise InputError("clustering metrics need at least one sample; got none.")
    return t, p


def contingency_matrix(labels_true: Any, labels_pred: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(C, classes, clusters): C[i, j] = |class i ∩ cluster j|."""
    t, p = _pair(labels_true, labels_pred)
    classes, ti = np.unique(t, return_inverse=True)
    clusters, pi = np.unique(p, return_inverse=True)
    c = np.zeros((classes.size, clusters.size), dtype=np.int64)
    np.add.at(c, (ti, pi), 1)
    return c, classes, clusters


def purity(labels_true: Any, labels_pred: Any, *, weighted: bool = True) -> float:
    """Cluster purity; ``weighted=False`` gives the unweighted mean of per-cluster purity."""
    c, _, _ = contingency_matrix(labels_true, labels_pred)
    if weighted:
        return float(c.max(axis=0).sum() / c.sum())
    return float(np.mean(c.max(axis=0) / c.sum(axis=0)))


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def normalized_mutual_info(labels_true: Any, labels_pred: Any) -> float:
    """NMI with arithmetic-mean normalisation (sklearn's default); 1.0 when both are a single label."""
    c, _, _ = contingency_matrix(labels_true, labels_pred)
    n = c.sum()
    if c.shape[0] == c.shape[1] == 1:
        return 1.0
    h_t, h_p = _entropy(c.sum(axis=1)), _entropy(c.sum(axis=0))
    nz = c > 0
    outer = np.outer(c.sum(axis=1), c.sum(axis=0))
    mi = float((c[nz] / n * (np.log(c[nz] * n) - np.log(outer[nz]))).sum())
    denom = (h_t + h_p) / 2
    return 0.0 if denom <= 0 else float(max(mi, 0.0) / denom)


def adjusted_rand_index(labels_true: Any, labels_pred: Any) -> float:
    """Hubert–Arabie adjusted Rand index."""
    c, _, _ = contingency_matrix(labels_true, labels_pred)
    comb = lambda x: x * (x - 1) / 2.0  # noqa: E731
    n = c.sum()
    sum_ij = comb(c.astype(np.float64)).sum()
    a, b = comb(c.sum(axis=1).astype(np.float64)).sum(), comb(c.sum(axis=0).astype(np.float64)).sum()
    expected = a * b / comb(float(n)) if n > 1 else 0.0
    max_index = (a + b) / 2
    if max_index == expected:
        return 1.0
    return float((sum_ij - expected) / (max_index - expected))


def share_clustered(labels_pred: Any, *, unclustered: int = -1) -> float:
    p = np.asarray(labels_pred)
    return float(np.mean(p != unclustered)) if p.size else 0.0


def sources_discovered(labels_true: Any, labels_pred: Any, *, unclustered: int = -1) -> tuple[list, list]:
    """(discovered, missing): sources that are / are not the majority source of ≥ 1 cluster.

    Samples labelled ``unclustered`` form no cluster."""
    t, p = _pair(labels_true, labels_pred)
    keep = p != unclustered
    all_sources = sorted(np.unique(t).tolist())
    if not keep.any():
        return [], all_sources
    c, classes, _ = contingency_matrix(t[keep], p[keep])
    found = sorted(set(classes[c.argmax(axis=0)].tolist()))
    return found, [s for s in all_sources if s not in found]


def assign_unclustered(X: Any, labels_pred: Any, *, unclustered: int = -1) -> np.ndarray:
    """Labels with every unclustered sample moved to the cluster with the nearest centroid."""
    X = np.asarray(X, dtype=np.float64)
    p = np.asarray(labels_pred).copy()
    if X.shape[0] != p.shape[0]:
        raise InputError(f"X has {X.shape[0]} rows but labels_pred has {p.shape[0]} entries.")
    out = p == unclustered
    ids = np.unique(p[~out])
    if not out.any() or ids.size == 0:
        return p
    cent = np.stack([X[p == j].mean(axis=0) for j in ids])
    d = (X[out] ** 2).sum(1)[:, None] - 2 * X[out] @ cent.T + (cent**2).sum(1)[None, :]
    p[out] = ids[d.argmin(axis=1)]
    return p


def clustering_metrics(labels_true: Any, labels_pred: Any, X: Any = None, *, unclustered: int = -1) -> dict[str, Any]:
    """All discovery metrics of the spec at once. With ``X``, unclustered samples first go to
    the nearest cluster (spec); without it they count as one extra cluster."""
    t, p = _pair(labels_true, labels_pred)
    shared = share_clustered(p, unclustered=unclustered)
    found, missing = sources_discovered(t, p, unclustered=unclustered)
    full = assign_unclustered(X, p, unclustered=unclustered) if X is not None else p
    return {
        "purity": purity(t, full),
        "purity_unweighted": purity(t, full, weighted=False),
        "nmi": normalized_mutual_info(t, full),
        "ari": adjusted_rand_index(t, full),
        "share_clustered": shared,
        "n_clusters": int(np.unique(p[p != unclustered]).size),
        "sources_discovered": len(found),
        "n_sources": len(found) + len(missing),
        "sources_missing": missing,
    }


def ood_metrics(is_unknown: Any, ood_score: Any) -> dict[str, float]:
    """AUROC and FPR at 95 % TPR of an OOD score (higher = more likely unknown; is_unknown 1/0)."""
    y = np.asarray(is_unknown).astype(np.int64)
    s = np.asarray(ood_score, dtype=np.float64)
    return {"auroc": roc_auc(y, s), "fpr_at_95_tpr": fpr_at_tpr(y, s, 0.95)}


def top_k_accuracy(y_true: Any, proba: Any, k: int = 1, *, classes: Any = None) -> float:
    """Share of rows whose true class is among the k highest-probability columns.

    ``classes`` names the columns (default 0..C−1)."""
    y = np.asarray(y_true)
    P = np.asarray(proba, dtype=np.float64)
    if P.ndim != 2 or P.shape[0] != y.shape[0]:
        raise InputError(f"proba must be (n_samples, n_classes) with n_samples={y.shape[0]}; got {P.shape}.")
    cls = np.arange(P.shape[1]) if classes is None else np.asarray(classes)
    top = cls[np.argsort(-P, axis=1, kind="stable")[:, : max(1, int(k))]]
    return float(np.mean((top == y[:, None]).any(axis=1)))


def confusion_matrix(y_true: Any, y_pred: Any, *, labels: Any = None) -> tuple[np.ndarray, list]:
    """(M, labels): M[i, j] = samples of true label i predicted as j (rows/cols in ``labels`` order)."""
    t, p = _pair(y_true, y_pred)
    lab = sorted(set(t.tolist()) | set(p.tolist()), key=str) if labels is None else list(labels)
    index = {v: i for i, v in enumerate(lab)}
    m = np.zeros((len(lab), len(lab)), dtype=np.int64)
    for a, b in zip(t.tolist(), p.tolist()):
        if a in index and b in index:
            m[index[a], index[b]] += 1
    return m, lab
