"""Multi-source domain adaptation on frozen features (ICPR 2024; spec §6).

Loss L = L_sup + λ1·L_MM + λ2·L_unsup on features F = W·x̂ (x̂ = L2-normalised
frozen feature, W a learned D×D map started at the identity) and a linear head:

- L_sup: BCE of the head on the labelled source features;
- L_MM: moment matching (first and second moments, per dimension, M3SDA-style)
  between every source domain and the target, and between every pair of sources;
- L_unsup: entropy of the soft class assignment of each unlabelled target feature
  against the labelled source features, p_ij ∝ Σ_k exp⟨F_T^i, F_S^jk⟩ (j = class,
  k = source sample of that class); low entropy = target features sit near one class.

Because W and the head are both linear, the trained model is folded into an
ordinary :class:`~synthtrace.heads.linear_probe.LinearProbe` (coef = head·W), so a
domain-adapted detector is a plain ``linear_probe`` bundle at inference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

import numpy as np
import torch

from synthtrace.errors import InputError, NotFittedError
from synthtrace.heads.linear_probe import LinearProbe

__all__ = ["DAConfig", "MultiSourceAdapter", "domain_labels", "entropy_loss", "moment_discrepancy"]


def moment_discrepancy(domains: Sequence[torch.Tensor], moments: tuple[int, ...] = (1, 2)) -> torch.Tensor:
    """Mean over domain pairs of Σ_k ‖E[f^k]_a − E[f^k]_b‖₂ (element-wise k-th moments)."""
    means = [[(d**k).mean(dim=0) for k in moments] for d in domains if len(d)]
    pairs = list(combinations(range(len(means)), 2))
    if not pairs:
        return torch.zeros(())
    return sum(sum(torch.linalg.vector_norm(a - b) for a, b in zip(means[i], means[j])) for i, j in pairs) / len(pairs)


def entropy_loss(target: torch.Tensor, source: torch.Tensor, source_y: torch.Tensor) -> torch.Tensor:
    """Mean entropy of p_ij ∝ Σ_{k ∈ class j} exp⟨target_i, source_k⟩ over the classes j."""
    sim = target @ source.T  # (n_t, n_s)
    classes = torch.unique(source_y)
    logits = torch.stack([torch.logsumexp(sim[:, source_y == c], dim=1) for c in classes], dim=1)
    logp = torch.log_softmax(logits, dim=1)
    return -(logp.exp() * logp).sum(dim=1).mean()


def domain_labels(rows: Sequence[Any]) -> list[str]:
    """One source-domain name per manifest row.

    A domain must hold both classes, or matching its moments would match reals to
    fakes. Fakes take their ``source``; a real takes the source of a fake with the
    same ``scene_id`` (its content-matched twin). If any domain still lacks a class,
    all rows form one source domain.
    """
    twin: dict[str, str] = {}
    for r in rows:
        if r.label == "fake" and r.scene_id:
            twin.setdefault(r.scene_id, r.source or "source")
    names = [(r.source or "source") if r.label == "fake" else twin.get(r.scene_id, "") for r in rows]
    classes: dict[str, set[str]] = {}
    for name, r in zip(names, rows):
        classes.setdefault(name, set()).add(r.label)
    if "" in classes or any(v != {"real", "fake"} for v in classes.values()):
        return ["source"] * len(rows)
    return names


@dataclass(frozen=True)
class DAConfig:
    lambda_mm: float = 1.0
    lambda_ent: float = 1.0
    epochs: int = 50
    lr: float = 1e-3
    batch_size: int = 128
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _l2(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class MultiSourceAdapter:
    """Fit with ``fit(X, y, domains, X_target)``; ``to_linear_probe()`` gives the folded head.

    Attributes after fit: ``W_`` (D, D), ``coef_`` (D,), ``intercept_``, ``history_``
    (per epoch: sup, mm, ent, and the full-data moment discrepancy ``mm_all``).
    """

    def __init__(self, config: DAConfig | None = None) -> None:
        self.config = config or DAConfig()

    def fit(
        self, X: Any, y: Any, domains: Sequence[str], X_target: Any,
        *, on_epoch: Callable[[dict[str, float]], None] | None = None,
    ) -> MultiSourceAdapter:

        cfg = self.config
        Xs, Xt = _l2(X), _l2(X_target)
        y = np.asarray(y).astype(np.int64)
        dom = np.asarray(list(domains))
        if Xs.ndim != 2 or Xs.shape[0] != y.shape[0] or dom.shape != y.shape:
            raise InputError(f"X {Xs.shape}, y {y.shape} and domains {dom.shape} must describe the same rows")
        if Xt.ndim != 2 or Xt.shape[1] != Xs.shape[1] or not len(Xt):
            raise InputError(f"target features must be (n, {Xs.shape[1]}) with n ≥ 1; got {Xt.shape}")
        # The head starts where the plain source-only probe ends, so λ = 0 reproduces it.
        probe = LinearProbe(balance="none", random_state=cfg.seed).fit(Xs, y)
        d = Xs.shape[1]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            W = torch.nn.Parameter(torch.eye(d))
            w = torch.nn.Parameter(torch.from_numpy(probe.coef_[0].astype(np.float32)))
            b = torch.nn.Parameter(torch.tensor(float(probe.intercept_[0])))
        opt = torch.optim.AdamW([W, w, b], lr=cfg.lr, weight_decay=0.0)
        Xs_t, Xt_t, ys = torch.from_numpy(Xs), torch.from_numpy(Xt), torch.from_numpy(y.astype(np.float32))
        names = sorted(set(dom.tolist()))
        dom_idx = np.array([names.index(v) for v in dom])
        rng = np.random.default_rng(cfg.seed)

        def mm_all() -> float:
            with torch.no_grad():
                groups = [Xs_t[torch.from_numpy(dom_idx == k)] @ W.T for k in range(len(names))] + [Xt_t @ W.T]
                return float(moment_discrepancy(groups))

        self.history_ = [{"epoch": 0, "mm_all": mm_all()}]
        steps = max(1, -(-len(y) // cfg.batch_size))
        for epoch in range(1, cfg.epochs + 1):
            order = rng.permutation(len(y))
            sums = np.zeros(3)
            for s in range(steps):
                idx = order[s * cfg.batch_size : (s + 1) * cfg.batch_size]
                tidx = rng.integers(0, len(Xt), size=min(cfg.batch_size, len(Xt)))
                Fs, Ft = Xs_t[idx] @ W.T, Xt_t[tidx] @ W.T
                sup = torch.nn.functional.binary_cross_entropy_with_logits(Fs @ w + b, ys[idx])
                groups = [Fs[torch.from_numpy(dom_idx[idx] == k)] for k in range(len(names))] + [Ft]
                mm = moment_discrepancy(groups)
                ys_b = ys[idx]
                ent = entropy_loss(Ft, Fs, ys_b) if len(torch.unique(ys_b)) == 2 else torch.zeros(())
                loss = sup + cfg.lambda_mm * mm + cfg.lambda_ent * ent
                opt.zero_grad()
                loss.backward()
                opt.step()
                sums += [float(sup.detach()), float(mm.detach()), float(ent.detach())]
            rec = dict(zip(("sup", "mm", "ent"), (sums / steps).tolist()))
            rec |= {"epoch": epoch, "mm_all": mm_all()}
            self.history_.append(rec)
            if on_epoch:
                on_epoch(rec)
        self.W_ = W.detach().numpy().copy()
        self.coef_ = w.detach().numpy().astype(np.float64)
        self.intercept_ = float(b.detach())
        self.domains_ = names
        return self

    def transform(self, X: Any) -> np.ndarray:
        if not hasattr(self, "W_"):
            raise NotFittedError("This MultiSourceAdapter is not fitted; call fit() first.")
        return _l2(X) @ self.W_.T

    def decision_function(self, X: Any) -> np.ndarray:
        return self.transform(X) @ self.coef_ + self.intercept_

    def to_linear_probe(self):
        """The same scores as a fitted LinearProbe (normalize=True): coef = head · W."""

        if not hasattr(self, "W_"):
            raise NotFittedError("This MultiSourceAdapter is not fitted; call fit() first.")
        probe = LinearProbe(balance="none", random_state=self.config.seed)
        probe.coef_ = (self.coef_ @ self.W_.astype(np.float64))[None, :]
        probe.intercept_ = np.array([self.intercept_], dtype=np.float64)
        probe.classes_ = np.array([0, 1], dtype=np.int64)
        probe.n_features_in_ = int(self.W_.shape[1])
        return probe
