"""Semantic / style disentanglement of frozen features (COCOFake, TOMM 2024; spec §5).

A *semantic cluster* is one real image and the fakes generated from the same
content (COCOFake: a photo and 5 fakes from its captions; the built-in benchmark's
``bench build --clusters K``: a scene's real twin and K generators' fakes), marked
by the manifest's ``cluster_id``.

Two linear maps S and T (D → D) on L2-normalised frozen features are trained with
the supervised contrastive loss (Khosla et al., 2020) under two labelings, the
cluster id (L_c) and real/fake (L_fr)::

    style space     T:  L_T = L_fr(T x) − L_c(T x)   (group by real/fake, not content)
    semantic space  S:  L_S = L_c(S x) − L_fr(S x)   (group by content, not real/fake)

AdamW lr 1e-3, batches of whole clusters, 25 epochs. S and T start at the
identity, so before training both spaces equal the input features.

Metrics (pure functions, sklearn argument order): overall accuracy and AUC,
full-cluster accuracy (every member of a cluster classified right), and min/max
intra-cluster distance accuracy (the real image is, on average, the nearest /
farthest member of its cluster; chance = 1 / cluster size).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from synthtrace.backbones.registry import create_backbone
from synthtrace.errors import ConfigError, InputError, NotFittedError, reject_unknown_keys
from synthtrace.features.extract import extract_features
from synthtrace.heads.linear_probe import LinearProbe
from synthtrace.io.manifest import read_manifest
from synthtrace.metrics.detection import roc_auc

__all__ = [
    "DisentangleConfig",
    "Disentangler",
    "cluster_accuracy",
    "cluster_metrics",
    "distance_accuracy",
    "evaluate_disentanglement",
    "supcon_loss",
]


# ------------------------------------------------------------------ metrics
def _cluster_index(cluster_ids: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(cluster_ids)
    if c.shape != (n,):
        raise InputError(f"cluster_ids must have one id per sample ({n}); got shape {c.shape}")
    if np.any(c.astype(str) == ""):
        raise InputError("every sample needs a cluster_id (empty ids found); fill the manifest's cluster_id column")
    uniq, inv = np.unique(c.astype(str), return_inverse=True)
    return uniq, inv


def cluster_accuracy(y_true: Any, y_pred: Any, cluster_ids: Any) -> dict[str, float]:
    """Overall accuracy and full-cluster accuracy (share of clusters with every member right)."""
    y, p = np.asarray(y_true).astype(int), np.asarray(y_pred).astype(int)
    if y.shape != p.shape or y.ndim != 1:
        raise InputError(f"y_true {y.shape} and y_pred {p.shape} must be 1-D and the same length")
    uniq, inv = _cluster_index(cluster_ids, len(y))
    right = y == p
    wrong_per_cluster = np.bincount(inv, weights=~right, minlength=len(uniq))
    return {
        "accuracy": float(right.mean()) if len(y) else float("nan"),
        "full_cluster_accuracy": float(np.mean(wrong_per_cluster == 0)) if len(uniq) else float("nan"),
        "n_clusters": int(len(uniq)),
    }


def distance_accuracy(Z: Any, y_true: Any, cluster_ids: Any) -> dict[str, float]:
    """Min/max intra-cluster distance accuracy in embedding space ``Z`` (n, d).

    For each cluster with exactly one real and at least one fake, every member's
    mean Euclidean distance to the other members is computed; the cluster scores
    for "min" when the real image has the smallest mean distance and for "max" when
    it has the largest. Clusters of another make-up are skipped (counted in
    ``n_skipped``). ``chance`` is the mean of 1 / cluster size.
    """
    Z = np.asarray(Z, dtype=np.float64)
    y = np.asarray(y_true).astype(int)
    if Z.ndim != 2 or Z.shape[0] != y.shape[0]:
        raise InputError(f"Z must be (n, d) with one row per label ({y.shape[0]}); got {Z.shape}")
    uniq, inv = _cluster_index(cluster_ids, len(y))
    hits_min = hits_max = used = 0
    chance = []
    for k in range(len(uniq)):
        idx = np.flatnonzero(inv == k)
        real = idx[y[idx] == 0]
        if len(real) != 1 or len(idx) < 2:
            continue
        d = np.linalg.norm(Z[idx, None] - Z[None, idx], axis=-1)
        mean_d = d.sum(axis=1) / (len(idx) - 1)
        r = int(np.flatnonzero(idx == real[0])[0])
        others = np.delete(mean_d, r)
        hits_min += bool(mean_d[r] < others.min())
        hits_max += bool(mean_d[r] > others.max())
        used += 1
        chance.append(1.0 / len(idx))
    nan = float("nan")
    return {
        "min_distance_accuracy": hits_min / used if used else nan,
        "max_distance_accuracy": hits_max / used if used else nan,
        "chance": float(np.mean(chance)) if chance else nan,
        "n_clusters": used,
        "n_skipped": int(len(uniq) - used),
    }


def cluster_metrics(y_true: Any, y_score: Any, cluster_ids: Any, *, threshold: float = 0.0) -> dict[str, float]:
    """ROC AUC, overall and full-cluster accuracy of scores (logits, fake if ≥ threshold)."""

    s = np.asarray(y_score, dtype=np.float64)
    out = cluster_accuracy(y_true, (s >= threshold).astype(int), cluster_ids)
    out["roc_auc"] = roc_auc(y_true, s)
    return out


# ------------------------------------------------------------------ loss
def supcon_loss(z: torch.Tensor, labels: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al., 2020) of L2-normalised rows ``z``.

    Mean over anchors that have at least one positive; 0 when none has.
    """
    n = z.shape[0]
    sim = z @ z.T / temperature
    self_mask = torch.eye(n, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(self_mask, float("-inf"))
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    pos = (labels[:, None] == labels[None, :]) & ~self_mask
    n_pos = pos.sum(dim=1)
    has = n_pos > 0
    if not bool(has.any()):
        return z.sum() * 0.0
    per_anchor = -(log_prob.masked_fill(~pos, 0.0).sum(dim=1)[has]) / n_pos[has]
    return per_anchor.mean()


# ------------------------------------------------------------------ model
@dataclass(frozen=True)
class DisentangleConfig:
    epochs: int = 25
    lr: float = 1e-3
    weight_decay: float = 0.01
    temperature: float = 0.1
    clusters_per_batch: int = 32
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DisentangleConfig:
        reject_unknown_keys(cls, d, "disentangle config")
        return cls(**d)


def _l2(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)


class Disentangler:
    """Learns S (semantic) and T (style) maps. ``fit(X, y, cluster_ids)`` returns self.

    Attributes after fit: ``S_``, ``T_`` (D, D) numpy matrices, ``history_``.
    """

    def __init__(self, config: DisentangleConfig | None = None) -> None:
        self.config = config or DisentangleConfig()

    def fit(self, X: Any, y: Any, cluster_ids: Any, *, on_epoch: Callable[[int, dict], None] | None = None) -> Disentangler:
        cfg = self.config
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y).astype(np.int64)
        if X.ndim != 2 or X.shape[0] != y.shape[0]:
            raise InputError(f"X must be (n, d) with one row per label ({y.shape[0]}); got {X.shape}")
        uniq, inv = _cluster_index(cluster_ids, len(y))
        if len(uniq) < 2:
            raise InputError("disentanglement needs at least 2 clusters (set cluster_id in the manifest)")
        d = X.shape[1]
        S, T = nn.Linear(d, d, bias=False), nn.Linear(d, d, bias=False)
        with torch.no_grad():
            S.weight.copy_(torch.eye(d))
            T.weight.copy_(torch.eye(d))
        opt = torch.optim.AdamW([S.weight, T.weight], lr=cfg.lr, weight_decay=cfg.weight_decay)
        Xt = _l2(torch.from_numpy(X))
        yt, ct = torch.from_numpy(y), torch.from_numpy(inv.astype(np.int64))
        members = [np.flatnonzero(inv == k) for k in range(len(uniq))]
        rng = np.random.default_rng(cfg.seed)
        self.history_ = []
        for epoch in range(1, cfg.epochs + 1):
            order = rng.permutation(len(members))
            sums = np.zeros(4)
            batches = 0
            for s in range(0, len(order), cfg.clusters_per_batch):
                idx = torch.from_numpy(np.concatenate([members[k] for k in order[s : s + cfg.clusters_per_batch]]))
                zs, zt = _l2(S(Xt[idx])), _l2(T(Xt[idx]))
                parts = (
                    supcon_loss(zs, ct[idx], cfg.temperature), supcon_loss(zs, yt[idx], cfg.temperature),
                    supcon_loss(zt, yt[idx], cfg.temperature), supcon_loss(zt, ct[idx], cfg.temperature),
                )
                loss = (parts[0] - parts[1]) + (parts[2] - parts[3])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sums += [float(p.detach()) for p in parts]
                batches += 1
            rec = dict(zip(("S_cluster", "S_realfake", "T_realfake", "T_cluster"), (sums / max(batches, 1)).tolist()))
            rec["epoch"] = epoch
            self.history_.append(rec)
            if on_epoch:
                on_epoch(epoch, rec)
        self.S_ = S.weight.detach().numpy().copy()
        self.T_ = T.weight.detach().numpy().copy()
        return self

    def transform(self, X: Any, space: str = "T") -> np.ndarray:
        """L2-normalised features mapped into the ``"S"`` (semantic) or ``"T"`` (style) space."""
        if not hasattr(self, "T_"):
            raise NotFittedError("This Disentangler is not fitted; call fit(X, y, cluster_ids) first.")
        if space not in ("S", "T"):
            raise ConfigError(f"space {space!r}: expected 'S' (semantic) or 'T' (style)")
        W = self.S_ if space == "S" else self.T_
        X = np.asarray(X, dtype=np.float32)
        X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        Z = X @ W.T
        return Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)

    def state_dict(self) -> dict[str, np.ndarray]:
        if not hasattr(self, "T_"):
            raise NotFittedError("This Disentangler is not fitted; nothing to save.")
        return {"S": np.ascontiguousarray(self.S_), "T": np.ascontiguousarray(self.T_)}


# ------------------------------------------------------------------ evaluation
def evaluate_disentanglement(
    manifest: str | Path,
    backbone: str,
    *,
    layer: str = "last",
    pooling: str = "cls",
    config: DisentangleConfig | None = None,
    train_split: str = "train",
    test_split: str = "test",
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Fit S/T on the train split's clusters; report cluster-aware metrics on the test split.

    For the raw features, S and T: a linear probe (fitted on the train split in that
    space) gives AUC, overall and full-cluster accuracy; min/max distance accuracy is
    computed directly in each space.
    """

    m = read_manifest(manifest).where(mask_path="")
    if not any(m.column("cluster_id")):
        raise InputError(
            f"manifest in {m.root} has no cluster_id values; build one with `synthtrace bench build --clusters 5` "
            "or fill the cluster_id column (one real and its fakes share an id)"
        )
    bb = create_backbone(backbone)
    parts = {}
    for split in (train_split, test_split):
        part = m.where(split=split)
        part = part.where(cluster_id=[c for c in part.column("cluster_id") if c])
        X = extract_features([part.path_of(r) for r in part], bb, layer=layer, pooling=pooling,
                             cache_dir=cache_dir, progress=progress)
        parts[split] = (X, part.labels(), np.asarray(part.column("cluster_id")))
    Xtr, ytr, ctr = parts[train_split]
    Xte, yte, cte = parts[test_split]
    model = Disentangler(config).fit(Xtr, ytr, ctr)
    out: dict[str, Any] = {"backbone": bb.id, "layer": layer, "pooling": pooling, "config": model.config.to_dict(),
                           "n_train": int(len(ytr)), "n_test": int(len(yte))}
    for name, f in (("raw", lambda X: X), ("S", lambda X: model.transform(X, "S")), ("T", lambda X: model.transform(X, "T"))):
        Ztr, Zte = f(Xtr), f(Xte)
        probe = LinearProbe().fit(Ztr, ytr)
        out[name] = cluster_metrics(yte, probe.decision_function(Zte), cte) | distance_accuracy(Zte, yte, cte)
    return out
