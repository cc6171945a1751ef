"""AdaptCLIP-style multi-layer head on a frozen transformer (spec §4).

From every block l of the frozen backbone take the patch tokens P_l and the
attention keys A_l (see ``features.layers.layer_tokens``). A learnable query q_0
passes one decoder block per layer::

    q_l = CrossAttn(q_{l-1}, A_l) · P_l + Adapter(LN(q_{l-1}))
    CrossAttn(q, A) = softmax((W_q q)(W_k A)ᵀ / sqrt(d_head))   per head, over the T patches
    Adapter = FC(D→h) - GELU - FC(h→D)
    p = softmax(FC(LN(q_L)))                                       two classes: real, fake

The attention weights select patches by their keys, and the selected *tokens* (not
values) are summed, as in AdaptCLIP. Trained with AdamW (lr 1e-3) and cross entropy
on cached tokens; the backbone is never updated. ``decision_function`` is
logit(fake) − logit(real), so calibration and metrics treat it like a probe logit.

Serialisation: :meth:`MultiLayerClassifier.state_dict` (torch tensors, for
safetensors) and :meth:`get_params` (JSON); :meth:`from_state` rebuilds the head.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from synthtrace.errors import BundleError, ConfigError, InputError, NotFittedError, reject_unknown_keys

__all__ = ["MultiLayerClassifier", "MultiLayerConfig", "MultiLayerHead"]


@dataclass(frozen=True)
class MultiLayerConfig:
    """Architecture (num_layers, dim, heads, adapter_dim) and training settings."""

    num_layers: int = 0  # set from the data at fit time
    dim: int = 0
    heads: int = 1
    adapter_dim: int = 64
    epochs: int = 30
    lr: float = 1e-3
    weight_decay: float = 0.01
    batch_size: int = 256
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MultiLayerConfig:
        reject_unknown_keys(cls, d, "multilayer head")
        return cls(**d)


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int, adapter_dim: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.adapter = nn.Sequential(nn.Linear(dim, adapter_dim), nn.GELU(), nn.Linear(adapter_dim, dim))

    def forward(self, q: torch.Tensor, keys: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        # q (B, D); keys, tokens (B, T, D)
        B, T, D = tokens.shape
        h, dh = self.heads, D // self.heads
        qh = self.q(q).view(B, h, 1, dh)
        kh = self.k(keys).view(B, T, h, dh).transpose(1, 2)  # (B, h, T, dh)
        attn = torch.softmax(qh @ kh.transpose(-1, -2) / math.sqrt(dh), dim=-1)  # (B, h, 1, T)
        ph = tokens.view(B, T, h, dh).transpose(1, 2)  # each head sums its slice of P_l
        mixed = (attn @ ph).reshape(B, D)
        return mixed + self.adapter(self.norm(q))


class MultiLayerHead(nn.Module):
    """The network: query, one cross-attention block per layer, LayerNorm, FC → 2 logits."""

    def __init__(self, config: MultiLayerConfig) -> None:
        super().__init__()
        if config.num_layers < 1 or config.dim < 1:
            raise ConfigError(f"multilayer head needs num_layers and dim ≥ 1; got {config.num_layers}, {config.dim}")
        if config.dim % config.heads:
            raise ConfigError(f"multilayer head: dim {config.dim} is not divisible by heads {config.heads}")
        self.config = config
        self.query = nn.Parameter(torch.randn(config.dim) * 0.02)
        self.blocks = nn.ModuleList(_Block(config.dim, config.heads, config.adapter_dim) for _ in range(config.num_layers))
        self.norm = nn.LayerNorm(config.dim)
        self.fc = nn.Linear(config.dim, 2)

    def forward(self, tokens: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """tokens, keys (B, L, T, D) → logits (B, 2) [real, fake]."""
        if tokens.shape != keys.shape or tokens.ndim != 4:
            raise InputError(f"tokens and keys must both be (B, L, T, D); got {tuple(tokens.shape)} and {tuple(keys.shape)}")
        B, L, _, D = tokens.shape
        if L != self.config.num_layers or D != self.config.dim:
            raise InputError(
                f"this multilayer head takes {self.config.num_layers} layers of dim {self.config.dim}; "
                f"got {L} layers of dim {D}. Use tokens from the backbone it was trained on."
            )
        q = self.query.expand(B, D)
        for l, block in enumerate(self.blocks):
            q = block(q, keys[:, l], tokens[:, l])
        return self.fc(self.norm(q))


class MultiLayerClassifier:
    """Fit/score wrapper around :class:`MultiLayerHead` (1 = fake, 0 = real)."""

    def __init__(self, config: MultiLayerConfig | None = None) -> None:
        self.config = config or MultiLayerConfig()
        self.model_: MultiLayerHead | None = None
        self.history_: list[dict[str, float]] = []

    def get_params(self) -> dict[str, Any]:
        return self.config.to_dict()

    def fit(
        self,
        tokens: np.ndarray,
        keys: np.ndarray,
        y: np.ndarray,
        *,
        on_epoch: Callable[[int, int, float], None] | None = None,
    ) -> MultiLayerClassifier:
        """Train on (N, L, T, D) tokens and keys with labels y (N,); class-balanced cross entropy."""
        P, A = _as_tensor(tokens), _as_tensor(keys)
        y = np.asarray(y).astype(np.int64)
        if P.shape[0] != y.shape[0]:
            raise InputError(f"{P.shape[0]} token sets but {y.shape[0]} labels")
        if set(np.unique(y).tolist()) != {0, 1}:
            raise InputError("the multilayer head needs both real (0) and fake (1) samples")
        cfg = MultiLayerConfig.from_dict({**self.config.to_dict(), "num_layers": int(P.shape[1]), "dim": int(P.shape[3])})
        self.config = cfg
        gen = torch.Generator().manual_seed(cfg.seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            model = MultiLayerHead(cfg)
        counts = np.bincount(y, minlength=2).astype(np.float64)
        weight = torch.tensor(len(y) / (2 * counts), dtype=torch.float32)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        yt = torch.from_numpy(y)
        self.history_ = []
        model.train()
        for epoch in range(1, cfg.epochs + 1):
            order = torch.randperm(len(yt), generator=gen)
            total = 0.0
            for start in range(0, len(order), cfg.batch_size):
                idx = order[start : start + cfg.batch_size]
                loss = nn.functional.cross_entropy(model(P[idx], A[idx]), yt[idx], weight=weight)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            self.history_.append({"epoch": epoch, "loss": total / len(yt)})
            if on_epoch:
                on_epoch(epoch, cfg.epochs, total / len(yt))
        self.model_ = model.eval()
        return self

    def decision_function(self, tokens: np.ndarray | torch.Tensor, keys: np.ndarray | torch.Tensor, batch_size: int = 256) -> np.ndarray:
        """logit(fake) − logit(real) per image, shape (N,)."""
        if self.model_ is None:
            raise NotFittedError("This MultiLayerClassifier is not fitted; call fit() or load it with from_state().")
        P, A = _as_tensor(tokens), _as_tensor(keys)
        out = []
        with torch.inference_mode():
            for s in range(0, P.shape[0], batch_size):
                logits = self.model_(P[s : s + batch_size], A[s : s + batch_size])
                out.append((logits[:, 1] - logits[:, 0]).double().numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def predict_proba(self, tokens, keys) -> np.ndarray:
        z = self.decision_function(tokens, keys)
        p = 0.5 * (1.0 + np.tanh(0.5 * z))
        return np.column_stack([1.0 - p, p])

    # ------------------------------------------------------------ serialisation
    def state_dict(self) -> dict[str, torch.Tensor]:
        if self.model_ is None:
            raise NotFittedError("This MultiLayerClassifier is not fitted; nothing to save.")
        return {k: v.detach().contiguous() for k, v in self.model_.state_dict().items()}

    @classmethod
    def from_state(cls, params: dict[str, Any], tensors: dict[str, torch.Tensor], *, where: str = "") -> MultiLayerClassifier:
        clf = cls(MultiLayerConfig.from_dict(params))
        model = MultiLayerHead(clf.config)
        try:
            model.load_state_dict(tensors)
        except RuntimeError as exc:
            raise BundleError(f"{where or 'multilayer weights'}: do not match the configured head ({exc})") from exc
        clf.model_ = model.eval()
        return clf


def _as_tensor(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if t.ndim != 4:
        raise InputError(f"expected (N, L, T, D) layer tokens; got shape {tuple(t.shape)}")
    return t.float()
