"""Few-shot fine-tuning of an ``hf:`` transformer: LoRA or all weights (spec §2).

LoRA ("Adapt to Scarcity", ICPR 2024): every linear layer of the tower (attention
and MLP) gets W = W0 + (α/r)·B·A with B zero-initialised, and a linear head on the
L2-normalised pooled feature is trained jointly with BCE. SGD (lr 1e-3, batch 16),
lr × 0.1 after ``patience`` epochs without a lower validation loss, stop when the
lr falls below 1e-7 or after ``max_epochs``; the weights of the best validation
epoch are kept. ``mode="full"`` runs the same loop with every weight trainable.

The head can start from a linear probe fitted on the frozen features of the same
shots (``init_head``): because B starts at zero, epoch 0 then scores exactly like
the probe, and the validation checkpointing can only move away from it when the
validation loss says so (linear-probe-then-fine-tune).

Saving merges the adapters into the weights (``peft``'s merge_and_unload), so a
saved model is a plain transformers model plus a head: inference costs nothing
extra and loading needs neither peft nor the original checkpoint files.
:meth:`FineTunedClassifier.state_dict` gives torch tensors for safetensors and
:meth:`get_params` the JSON that rebuilds the architecture.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from synthtrace.backbones.hf import HFBackbone, _quiet_transformers
from synthtrace.backbones.preprocess import PreprocessConfig
from synthtrace.backbones.registry import create_backbone
from synthtrace.batching import shape_batches
from synthtrace.errors import BundleError, ConfigError, InputError, NotFittedError, reject_unknown_keys

__all__ = ["FineTuneConfig", "FineTunedClassifier", "linear_module_names"]

MODES = ("lora", "full")
# Linear layers outside the blocks that pooled features never pass through.
_SKIP_PREFIXES = ("pooler", "visual_projection", "head")


@dataclass(frozen=True)
class FineTuneConfig:
    """Training settings; defaults follow spec §2 (r = 16, α/r = 2, SGD 1e-3, batch 16)."""

    mode: str = "lora"  # "lora" | "full"
    rank: int = 16
    alpha: float = 32.0
    target_modules: tuple[str, ...] | None = None  # None: every linear layer in the blocks
    dropout: float = 0.0
    lr: float = 1e-3
    momentum: float = 0.9
    batch_size: int = 16
    max_epochs: int = 150
    patience: int = 10
    lr_factor: float = 0.1
    min_lr: float = 1e-7
    hflip: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"fine-tune mode {self.mode!r}: expected one of {list(MODES)}")
        if self.rank < 1 or self.alpha <= 0:
            raise ConfigError(f"LoRA rank {self.rank} and alpha {self.alpha}: both must be positive")
        if self.batch_size < 1 or self.max_epochs < 0 or self.patience < 0:
            raise ConfigError("batch_size must be ≥ 1, max_epochs and patience ≥ 0")
        if self.target_modules is not None:
            object.__setattr__(self, "target_modules", tuple(self.target_modules))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["target_modules"] = list(self.target_modules) if self.target_modules is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FineTuneConfig:
        reject_unknown_keys(cls, d, "fine-tune config")
        return cls(**d)


def linear_module_names(model: nn.Module) -> list[str]:
    """Names of the linear layers inside the transformer blocks (LoRA's default targets)."""
    return [
        name for name, m in model.named_modules()
        if isinstance(m, nn.Linear) and not name.split(".")[0].startswith(_SKIP_PREFIXES)
    ]


class _Net(nn.Module):
    """Tower → pooled feature (same rule as HFBackbone.embed) → L2 norm → linear head."""

    def __init__(self, tower: nn.Module, spec: dict[str, Any], dim: int) -> None:
        super().__init__()
        self.tower = tower
        self.head = nn.Linear(dim, 1)
        self.spec = spec
        # CLIP keeps its final LayerNorm outside last_hidden_state; held in a list so
        # it is not registered twice in the state dict.
        self._final_norm: list[nn.Module] = []

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        layer, pooling = self.spec["layer"], self.spec["pooling"]
        out = self.tower(pixel_values=pixels, output_hidden_states=layer != "last")
        if pooling == "embeds":
            return out.image_embeds
        if layer == "last":
            tokens = out.last_hidden_state
            if self._final_norm:
                tokens = self._final_norm[0](tokens)
        else:
            tokens = out.hidden_states[int(layer)]
        return tokens[:, 0] if pooling == "cls" else tokens[:, self.spec["n_prefix"]:].mean(dim=1)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        f = self.features(pixels)
        f = f / f.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return self.head(f)[:, 0]


def _final_norm_of(tower: nn.Module, model_type: str) -> nn.Module | None:
    if not model_type.startswith("clip"):
        return None
    return tower.get_submodule("vision_model.post_layernorm")


class FineTunedClassifier:
    """Real-vs-fake classifier that fine-tunes an ``hf:`` backbone (1 = fake).

    Parameters: ``backbone`` ("hf:<id or dir>"), ``layer``/``pooling`` (as for the
    linear probe), ``config`` (:class:`FineTuneConfig`). Inputs to :meth:`fit` and
    :meth:`decision_function` are preprocessed pixel arrays (N, 3, H, W); use
    :meth:`prepare` to make them from decoded RGB images.

    Attributes after fit: ``model_`` (merged, plain transformers tower + head),
    ``history_`` (per-epoch train/val loss and lr), ``best_epoch_``,
    ``merge_max_abs_diff_`` (largest logit change merging caused on validation images).
    """

    def __init__(self, backbone: str, *, layer: str = "last", pooling: str = "cls", config: FineTuneConfig | None = None) -> None:
        self.backbone = backbone
        self.layer = layer
        self.pooling = pooling
        self.config = config or FineTuneConfig()
        self.model_: _Net | None = None
        self.history_: list[dict[str, float]] = []
        self.best_epoch_ = 0
        self._arch: dict[str, Any] | None = None
        self._preprocess = None

    # ------------------------------------------------------------ data
    @property
    def preprocess(self):
        if self._preprocess is None:
            if self._arch is None:
                self._load_backbone()
            else:
                self._preprocess = PreprocessConfig.from_dict(self._arch["preprocess"])
        return self._preprocess

    def prepare(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Decoded uint8 RGB images → (N, 3, H, W) float32 model inputs."""
        return np.stack([self.preprocess(im) for im in images]) if len(images) else np.zeros((0, 3, 1, 1), np.float32)

    def _load_backbone(self) -> nn.Module:

        bb = create_backbone(self.backbone)
        if not isinstance(bb, HFBackbone):
            raise ConfigError(f"backbone {self.backbone!r}: fine-tuning needs an hf: transformer backbone")
        bb.validate(self.layer, self.pooling)
        self._preprocess = bb.preprocess
        tower = bb.model
        self._arch = {
            "backbone": bb.id,
            "weights_hash": bb.weights_hash(),
            "model_type": bb.model_type,
            "model_class": type(tower).__name__,
            "config_class": type(tower.config).__name__,
            "model_config": tower.config.to_dict(),
            "n_prefix": bb.n_prefix,
            "preprocess": bb.preprocess.to_dict(),
        }
        return copy.deepcopy(tower)

    def _spec(self) -> dict[str, Any]:
        return {"layer": self.layer, "pooling": self.pooling, "n_prefix": self._arch["n_prefix"]}

    # ------------------------------------------------------------ training
    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        X_val: np.ndarray,
        y_val: np.ndarray,
        *,
        init_head: tuple[np.ndarray, float] | None = None,
        on_epoch: Callable[[dict[str, float]], None] | None = None,
    ) -> FineTunedClassifier:
        """Fine-tune on pixels ``X`` (N, 3, H, W) and labels ``y`` (1 = fake); select on the val set.

        ``init_head``: (coef (D,), intercept) of a linear probe on L2-normalised
        frozen features to start the head from; otherwise the head starts at zero.
        """
        cfg = self.config
        X, X_val = _pixels(X, "X"), _pixels(X_val, "X_val")
        y, y_val = _labels(y, X, "y"), _labels(y_val, X_val, "y_val")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            tower = self._load_backbone()
            dim = _feature_dim(tower, self._spec())
            net = _Net(tower, self._spec(), dim)
            norm = _final_norm_of(tower, self._arch["model_type"])
            if norm is not None:
                net._final_norm.append(norm)
            if cfg.mode == "lora":
                net.tower = self._wrap_lora(tower)
            else:
                net.tower.requires_grad_(True)
        with torch.no_grad():
            if init_head is None:
                net.head.weight.zero_()
                net.head.bias.zero_()
            else:
                coef, intercept = init_head
                coef = np.asarray(coef, dtype=np.float32).reshape(-1)
                if coef.shape[0] != dim:
                    raise InputError(f"init_head has {coef.shape[0]} weights but the pooled feature has {dim} dimensions")
                net.head.weight.copy_(torch.from_numpy(coef)[None])
                net.head.bias.fill_(float(intercept))

        trainable = [p for p in net.parameters() if p.requires_grad]
        opt = torch.optim.SGD(trainable, lr=cfg.lr, momentum=cfg.momentum)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=cfg.lr_factor, patience=cfg.patience)
        gen = torch.Generator().manual_seed(cfg.seed)
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.float32))
        Xv, yv = torch.from_numpy(X_val), torch.from_numpy(y_val.astype(np.float32))
        loss_fn = nn.BCEWithLogitsLoss()

        best_loss = _val_loss(net, Xv, yv, cfg.batch_size)
        best_state = _trainable_state(net)
        self.best_epoch_ = 0
        self.history_ = [{"epoch": 0, "train_loss": float("nan"), "val_loss": best_loss, "lr": cfg.lr}]
        for epoch in range(1, cfg.max_epochs + 1):
            net.train()
            order = torch.randperm(len(yt), generator=gen)
            total = 0.0
            for start in range(0, len(order), cfg.batch_size):
                idx = order[start : start + cfg.batch_size]
                xb = Xt[idx]
                if cfg.hflip:
                    flip = torch.rand(len(idx), generator=gen) < 0.5
                    xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
                loss = loss_fn(net(xb), yt[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            val_loss = _val_loss(net, Xv, yv, cfg.batch_size)
            sched.step(val_loss)
            lr = opt.param_groups[0]["lr"]
            record = {"epoch": epoch, "train_loss": total / len(yt), "val_loss": val_loss, "lr": lr}
            self.history_.append(record)
            if on_epoch:
                on_epoch(record)
            if val_loss < best_loss:
                best_loss, best_state, self.best_epoch_ = val_loss, _trainable_state(net), epoch
            if lr < cfg.min_lr * (1 + 1e-6):
                break
        net.load_state_dict(best_state, strict=False)
        self.merge_max_abs_diff_ = 0.0
        if cfg.mode == "lora":
            probe = Xv[: cfg.batch_size]
            net.eval()
            with torch.no_grad():
                before = net(probe)
                net.tower = net.tower.merge_and_unload()
                after = net(probe)
            # Merging is exact up to float rounding; anything larger means a layer was
            # adapted that the merged model does not reproduce.
            self.merge_max_abs_diff_ = float((before - after).abs().max()) if len(probe) else 0.0
            if self.merge_max_abs_diff_ > 1e-3:
                raise RuntimeError(f"merged LoRA model differs from the adapted one by {self.merge_max_abs_diff_:.2e}")
        self.model_ = net.eval().requires_grad_(False)
        return self

    def _wrap_lora(self, tower: nn.Module) -> nn.Module:
        try:
            from peft import LoraConfig, get_peft_model  # optional extra 'lora'
        except ImportError:
            raise ConfigError("LoRA training needs peft: pip install 'synthtrace[lora]' (or use mode='full')") from None
        cfg = self.config
        targets = list(cfg.target_modules) if cfg.target_modules is not None else linear_module_names(tower)
        if not targets:
            raise ConfigError(f"{self.backbone}: no linear layers to adapt")
        lora = LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, target_modules=targets, lora_dropout=cfg.dropout, bias="none")
        try:
            return get_peft_model(tower, lora)
        except ValueError as exc:
            raise ConfigError(
                f"LoRA target modules {targets}: {exc}. Valid names: {linear_module_names(tower)}"
            ) from None

    # ------------------------------------------------------------ inference
    def decision_function(self, X: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Logit of "fake" per image, shape (N,)."""
        if self.model_ is None:
            raise NotFittedError("This FineTunedClassifier is not fitted; call fit() or load it with from_state().")
        X = _pixels(X, "X")
        out = []
        with torch.inference_mode():
            for s in range(0, len(X), batch_size):
                out.append(self.model_(torch.from_numpy(X[s : s + batch_size])).double().numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def score_images(self, images: Sequence[np.ndarray], batch_size: int = 32) -> np.ndarray:
        """Logits for decoded uint8 RGB images (same-size batches)."""

        pixels = [self.preprocess(im) for im in images]
        scores = np.zeros(len(pixels))
        for chunk in shape_batches((p.shape for p in pixels), batch_size):
            scores[list(chunk)] = self.decision_function(np.stack([pixels[i] for i in chunk]))
        return scores

    # ------------------------------------------------------------ serialisation
    def get_params(self) -> dict[str, Any]:
        return {
            "backbone": self.backbone, "layer": self.layer, "pooling": self.pooling,
            "config": self.config.to_dict(), "architecture": self._arch, "best_epoch": self.best_epoch_,
        }

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Merged tower weights (``tower.*``) and the head (``head.*``)."""
        if self.model_ is None:
            raise NotFittedError("This FineTunedClassifier is not fitted; nothing to save.")
        return {k: v.detach().contiguous().clone() for k, v in self.model_.state_dict().items()}

    @classmethod
    def from_state(cls, params: dict[str, Any], tensors: dict[str, torch.Tensor], *, where: str = "") -> FineTunedClassifier:
        """Rebuild a fitted classifier from :meth:`get_params` and :meth:`state_dict` (no peft needed)."""
        import transformers  # heavy: transformers

        known = {"backbone", "layer", "pooling", "config", "architecture", "best_epoch"}
        unknown = set(params) - known
        if unknown:
            raise BundleError(f"{where or 'fine-tuned head'}: unknown params {sorted(unknown)}; valid: {sorted(known)}")
        arch = params["architecture"]
        clf = cls(params["backbone"], layer=params["layer"], pooling=params["pooling"],
                  config=FineTuneConfig.from_dict(params["config"]))
        clf._arch, clf.best_epoch_ = arch, int(params.get("best_epoch", 0))
        config_cls = getattr(transformers, arch["config_class"], None)
        model_cls = getattr(transformers, arch["model_class"], None)
        if config_cls is None or model_cls is None:
            raise BundleError(
                f"{where}: this transformers ({transformers.__version__}) has no {arch['model_class']}/{arch['config_class']}; "
                "install the transformers version the bundle was trained with"
            )
        with _quiet_transformers():
            config = config_cls.from_dict(dict(arch["model_config"]))
            tower = model_cls(config)
        tower_state = {k[len("tower."):]: v for k, v in tensors.items() if k.startswith("tower.")}
        try:
            tower.load_state_dict(tower_state)
        except RuntimeError as exc:
            raise BundleError(f"{where or 'fine-tuned weights'}: do not match the recorded architecture ({exc})") from exc
        net = _Net(tower, clf._spec(), int(tensors["head.weight"].shape[1]))
        norm = _final_norm_of(tower, arch["model_type"])
        if norm is not None:
            net._final_norm.append(norm)
        net.head.load_state_dict({"weight": tensors["head.weight"], "bias": tensors["head.bias"]})
        clf.model_ = net.float().eval().requires_grad_(False)
        return clf


def _feature_dim(tower: nn.Module, spec: dict[str, Any]) -> int:
    if spec["pooling"] == "embeds":
        return int(tower.config.projection_dim)
    return int(tower.config.hidden_size)


def _trainable_state(net: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in net.named_parameters() if p.requires_grad}


def _val_loss(net: nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int) -> float:
    net.eval()
    total = 0.0
    with torch.no_grad():
        for s in range(0, len(X), batch_size):
            logits = net(X[s : s + batch_size])
            total += float(nn.functional.binary_cross_entropy_with_logits(logits, y[s : s + batch_size], reduction="sum"))
    loss = total / max(len(X), 1)
    return loss if math.isfinite(loss) else float("inf")


def _pixels(X: Any, name: str) -> np.ndarray:
    X = np.ascontiguousarray(X, dtype=np.float32)
    if X.ndim != 4 or X.shape[1] != 3:
        raise InputError(f"{name} must be preprocessed pixels (N, 3, H, W); got shape {X.shape}. Use prepare(images).")
    return X


def _labels(y: Any, X: np.ndarray, name: str) -> np.ndarray:
    y = np.asarray(y).astype(np.int64)
    if y.shape != (X.shape[0],):
        raise InputError(f"{name} must have one label per image ({X.shape[0]}); got shape {y.shape}")
    if set(np.unique(y).tolist()) != {0, 1}:
        raise InputError(f"{name} needs both real (0) and fake (1) images; got {sorted(set(y.tolist()))}")
    return y
