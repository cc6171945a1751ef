"""Learned generator fingerprint: cnn-small trained to tell known sources apart on the noise residual.

The handcrafted fingerprint (``synthtrace.features.fingerprint``) summarises the noise
residual with fixed statistics. This module learns the summary instead: cnn-small
(``synthtrace.backbones.cnn``) is trained as a classifier of the known sources on the
same residual, and its 64-d pooled activations become the feature vector for
attribution (``AttributionHead``) and open-world discovery. On the built-in benchmark
it was the best feature measured for attribution, unknown-source rejection and discovery;
the numbers, and how they were measured, are in docs/discovery.md.

Training (``LearnedFingerprint.fit``): random crops on the 8-pixel grid (offsets are
multiples of 8, so the up-sampling and JPEG phase is the file's own), AdamW with a
cosine schedule and label smoothing, optionally the built-in benchmark's platform
processing as augmentation (:func:`platform_augment`). Inference
(``transform``): whole images, grid-aligned centre crop of ``max_side`` pixels.
``adapt``: a copy fine-tuned on labels that may name new classes, such as the clusters
open-world discovery found (``synthtrace.discovery.selftrain``, ``discover --self-train``).

Usage, command line::

    synthtrace fingerprint train bench/manifest.csv --out fp/            # minutes per network on a CPU
    synthtrace attribute --fit bench/manifest.csv -d BUNDLE --fingerprint fp/   # head on the learned features
    synthtrace attribute --fit bench/manifest.csv -d BUNDLE --features learned  # or train it into the bundle
    synthtrace attribute photo.jpg -d BUNDLE          # `synthtrace scan -d BUNDLE` shows it too
    synthtrace discover --images new/ --known known.csv --out run/ --features fp/

Python::

    from synthtrace.heads.learned_fingerprint import LearnedFingerprint, LearnedFingerprintConfig
    fp = LearnedFingerprint(LearnedFingerprintConfig(epochs=80)).fit(images, sources,
                                                                     val_images=vi, val_labels=vl)
    fp.save_pretrained("fp/")
    X = LearnedFingerprint.from_pretrained("fp/").transform_files(paths)   # (n, 64) float32

A folder holds ``learned_fingerprint.json`` (format, name, config, classes, training
summary) and ``learned_fingerprint.safetensors`` (weights); nothing is unpickled.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from synthtrace.backbones.cnn import CNNSmall, CNNSmallConfig
from synthtrace.batching import shape_batches
from synthtrace.bench.build import postprocess, to_uint8
from synthtrace.errors import BundleError, ConfigError, InputError, NotFittedError, reject_unknown_keys
from synthtrace.features.fingerprint import grid_centre_crop
from synthtrace.heads.cnn_small import to_tensor
from synthtrace.io.images import load_images
from synthtrace.progress import progress_bar

__all__ = ["LEARNED_FINGERPRINT_NAME", "LearnedFingerprint", "LearnedFingerprintConfig", "is_learned_fingerprint",
           "noise_residual", "platform_augment", "wccn_map"]

LEARNED_FINGERPRINT_NAME = "learned-fingerprint-v1"
_META = "learned_fingerprint.json"
_WEIGHTS = "learned_fingerprint.safetensors"
_FORMAT = 1
_VAL_EVERY = 5


@dataclass(frozen=True)
class LearnedFingerprintConfig:
    """Training and network settings (defaults: the benchmark prototype's best run).

    ``crop``: side of the square training crops (multiple of 8, at most ``max_side``);
    ``augment``: share of training images given :func:`platform_augment` each epoch;
    ``residual``: feed the noise residual (:func:`noise_residual`) rather than pixels;
    ``max_side``: images are centre-cropped (8-aligned) to this many pixels, in training
    and in ``transform``; ``widths`` / ``strides``: cnn-small's layers;
    ``members``: networks trained with seeds ``seed``, ``seed + 1``, ...; their features are
    concatenated (each seed learns partly different directions, which helps to tell apart
    sources none of them was trained on); ``normalize="wccn"``: within-class covariance
    normalisation fitted on the training images and ``wccn_copies`` processed copies of
    each, ridge ``wccn_ridge`` × the mean eigenvalue, then L2 normalisation (``"none"``:
    the raw pooled features).
    """

    epochs: int = 80
    lr: float = 2e-3
    weight_decay: float = 1e-4
    batch_size: int = 32
    crop: int = 64
    augment: float = 0.5
    label_smoothing: float = 0.1
    residual: bool = True
    max_side: int = 256
    seed: int = 0
    members: int = 1
    normalize: str = "wccn"
    wccn_copies: int = 4
    wccn_ridge: float = 0.05
    widths: tuple[int, ...] = CNNSmallConfig.widths
    strides: tuple[int, ...] = CNNSmallConfig.strides

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        object.__setattr__(self, "strides", tuple(int(s) for s in self.strides))
        problems = []
        if int(self.epochs) < 1:
            problems.append(f"epochs={self.epochs!r} (need >= 1)")
        if int(self.batch_size) < 1:
            problems.append(f"batch_size={self.batch_size!r} (need >= 1)")
        if int(self.crop) < 8 or int(self.crop) % 8:
            problems.append(f"crop={self.crop!r} (need a multiple of 8, e.g. 64: crops stay on the 8-px grid)")
        if int(self.max_side) < int(self.crop) or int(self.max_side) % 8:
            problems.append(f"max_side={self.max_side!r} (need a multiple of 8, at least crop={self.crop})")
        if not 0.0 <= float(self.augment) <= 1.0:
            problems.append(f"augment={self.augment!r} (a share, in [0, 1])")
        if not 0.0 <= float(self.label_smoothing) < 1.0:
            problems.append(f"label_smoothing={self.label_smoothing!r} (in [0, 1))")
        if int(self.members) < 1:
            problems.append(f"members={self.members!r} (need >= 1 network)")
        if self.normalize not in ("wccn", "none"):
            problems.append(f"normalize={self.normalize!r} (expected 'wccn' or 'none')")
        if int(self.wccn_copies) < 0 or float(self.wccn_ridge) <= 0:
            problems.append(f"wccn_copies={self.wccn_copies!r}, wccn_ridge={self.wccn_ridge!r} (need >= 0 and > 0)")
        if float(self.lr) <= 0:
            problems.append(f"lr={self.lr!r} (need > 0)")
        if not self.widths or len(self.widths) != len(self.strides):
            problems.append(f"widths {list(self.widths)} and strides {list(self.strides)} (need one stride per width)")
        if problems:
            raise ConfigError("LearnedFingerprintConfig: invalid " + "; ".join(problems) + ".")

    def network(self) -> CNNSmallConfig:
        return CNNSmallConfig(widths=self.widths, strides=self.strides, max_side=self.max_side)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> LearnedFingerprintConfig:
        reject_unknown_keys(cls, d, "learned fingerprint config")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def noise_residual(x: Any) -> Any:
    """Noise residual of a torch batch (n, 3, h, w): per channel, pixel minus the mean of its
    4 neighbours with cyclic borders, zero mean per channel, divided by its RMS per image.

    The same definition as ``synthtrace.features.fingerprint.noise_residual`` (numpy,
    channels last; a test checks they agree). The RMS normalisation makes it independent
    of the pixel scale ([0, 1] or [-1, 1]) and of how strong the trace is. Cyclic borders
    add no border of their own, and a cyclic Laplacian already sums to zero per channel,
    so the zero-mean step only removes rounding."""
    r = x - 0.25 * (torch.roll(x, 1, 2) + torch.roll(x, -1, 2) + torch.roll(x, 1, 3) + torch.roll(x, -1, 3))
    r = r - r.mean(dim=(2, 3), keepdim=True)
    return r / torch.sqrt(r.pow(2).mean(dim=(1, 2, 3), keepdim=True) + 1e-12)


def platform_augment(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 RGB (H, W, 3) → uint8, after a resize by 0.5-0.9x and back or a Gaussian blur of
    sigma 0.3-0.7 (equal odds).

    This is the built-in benchmark's own platform processing (``synthtrace.bench.build.
    postprocess``, applied with probability 1): training with it makes the fingerprint
    robust to exactly the processing that benchmark applies, so gains measured with it on
    that benchmark do NOT show robustness to other processing (JPEG at other qualities,
    other resamplers, crops, screenshots). Non-square images are processed on their
    largest grid-aligned centre square (the benchmark's resize assumes square images)."""

    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] != 3 or rgb.dtype != np.uint8:
        raise InputError(f"platform_augment expects a uint8 RGB array (H, W, 3); got {rgb.dtype} {rgb.shape}.")
    h, w = rgb.shape[:2]
    if h != w:
        rgb = grid_centre_crop(rgb, min(h, w))
    return to_uint8(postprocess(rgb.astype(np.float32) / 255.0, rng, 1.0))


def wccn_map(X: np.ndarray, y: np.ndarray, ridge: float = 0.05) -> dict[str, np.ndarray]:
    """Within-class covariance normalisation (Hatch et al., Interspeech 2006): standardise,
    then map with ``transform`` = (S_w + ridge · mean eigenvalue · I)^(-1/2), S_w the pooled
    within-class covariance of (X, y).

    Directions along which one source's images vary (content, platform processing) shrink,
    so that distances (k-means, the WTA hash) follow the source rather than the nuisance.
    The ridge keeps near-null within-class directions from blowing up (its effect on
    discovery purity: docs/discovery.md)."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    mean, scale = X.mean(axis=0), X.std(axis=0) + 1e-12
    Z = (X - mean) / scale
    Sw = np.zeros((Z.shape[1], Z.shape[1]))
    for c in np.unique(y):
        Zc = Z[y == c] - Z[y == c].mean(axis=0)
        Sw += Zc.T @ Zc
    w, V = np.linalg.eigh(Sw / len(y))
    T = (V / np.sqrt(np.maximum(w, 0) + ridge * max(float(w.mean()), 1e-12))) @ V.T
    return {"mean": mean, "scale": scale, "transform": T}


def _prepare(rgb: np.ndarray, max_side: int, what: str) -> np.ndarray:
    """Grid-aligned centre crop of ``max_side``, bottom/right trimmed to a multiple of 8 so the
    cyclic residual wraps in phase (as the handcrafted fingerprint does)."""

    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[-1] != 3:
        raise InputError(f"{what}: expected an RGB image (H, W, 3); got shape {a.shape}.")
    if a.dtype != np.uint8:
        raise InputError(f"{what}: expected uint8 pixels (0..255); got {a.dtype}. Decode files with synthtrace.io.")
    a = grid_centre_crop(a, max_side)
    h, w = a.shape[0] // 8 * 8, a.shape[1] // 8 * 8
    if h < 16 or w < 16:
        raise InputError(f"{what}: {a.shape[0]}x{a.shape[1]} pixels is too small for a learned fingerprint; "
                         "need at least 16x16.")
    return a[:h, :w]


class LearnedFingerprint:
    """cnn-small trained as a source classifier; its pooled features are the fingerprint.

    scikit-learn style: ``__init__`` stores the config, ``fit`` returns self. Learned
    attributes: ``classes_`` (label strings), ``models_`` (``config.members`` CNNSmall
    networks, each with a linear ``classifier`` over ``classes_``; ``model_`` is the
    first), ``norm_`` (the WCCN map, with ``normalize="wccn"``), ``history_`` (one record
    per member and epoch), ``training_`` (summary stored with the weights).
    """

    def __init__(self, config: LearnedFingerprintConfig = LearnedFingerprintConfig()) -> None:
        self.config = config

    @property
    def feature_dim(self) -> int:
        return int(self.config.widths[-1]) * int(self.config.members)

    @property
    def model_(self) -> Any:
        self._check_fitted()
        return self.models_[0]

    def _prep(self, x: Any) -> Any:
        return noise_residual(x) if self.config.residual else x

    # ------------------------------------------------------------ training

    def fit(self, images: Sequence[np.ndarray], labels: Sequence[Any], *, val_images: Sequence[np.ndarray] | None = None,
            val_labels: Sequence[Any] | None = None, progress: bool = True) -> LearnedFingerprint:
        """Train on uint8 RGB images (sizes may differ) labelled by source (or family).

        Validation images of labels not in the training set are ignored; with val data,
        the accuracy on whole images is computed every 5 epochs and at the end (shown
        under the progress bar and kept in ``history_`` / ``training_``)."""
        cfg = self.config
        crops, classes, y = self._training_set(images, labels)
        va_imgs: list[np.ndarray] = []
        va_y = np.zeros(0, dtype=np.int64)
        if val_images is not None:
            if val_labels is None or len(val_labels) != len(val_images):
                raise InputError("val_images needs val_labels of the same length.")
            vl = np.asarray([str(v) for v in val_labels])
            keep = np.flatnonzero(np.isin(vl, classes))
            va_imgs = [np.asarray(val_images[i]) for i in keep]
            va_y = np.searchsorted(classes, vl[keep])

        self.classes_, self.models_, self.history_, self.norm_ = classes, [], [], None
        t0 = time.perf_counter()
        tens = [to_tensor(im) for im in crops]  # once, shared by every member
        val_accs = []
        for member in range(cfg.members):
            model, val_acc = self._train_member(member, crops, tens, y, va_imgs, va_y, progress, t0)
            self.models_.append(model)
            val_accs.append(val_acc)
        if cfg.normalize == "wccn":
            self.norm_ = self._fit_wccn(crops, y, np.random.default_rng([cfg.seed, 1]))
        # with several members the ensemble (mean of their softmaxes) is what predict_proba uses
        val_acc = float(np.mean(self.predict_proba(va_imgs).argmax(1) == va_y)) if va_imgs else None
        last = self.history_[-1]
        self.training_ = {
            "epochs": cfg.epochs, "members": cfg.members, "normalize": cfg.normalize,
            "n_train": len(crops), "n_val": len(va_imgs),
            "train_counts": {str(c): int(n) for c, n in zip(classes, np.bincount(y, minlength=classes.size))},
            "final_loss": last["loss"], "final_train_crop_accuracy": last["train_crop_accuracy"],
            "val_accuracy": val_acc, "member_val_accuracy": val_accs,
            "val_history": [(r["epoch"], r["val_accuracy"]) for r in self.history_ if "val_accuracy" in r],
            "seconds": round(time.perf_counter() - t0, 1),
        }
        return self

    def _training_set(self, images: Sequence[np.ndarray], labels: Sequence[Any]) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
        """Grid-aligned crops, sorted label strings and label indices; clear errors for bad input."""
        cfg = self.config
        y_all = np.asarray([str(v) for v in labels])
        if len(images) != y_all.size:
            raise InputError(f"{len(images)} images but {y_all.size} labels; give one label per image.")
        classes = np.unique(y_all)
        if classes.size < 2:
            raise InputError(f"a learned fingerprint needs at least 2 labels (sources) to tell apart; got {classes.tolist()}.")
        crops = [_prepare(im, cfg.max_side, f"training image {i}") for i, im in enumerate(images)]
        small = [i for i, im in enumerate(crops) if min(im.shape[:2]) < cfg.crop]
        if small:
            raise InputError(f"{len(small)} training images are smaller than the {cfg.crop}-px crop (first: index "
                             f"{small[0]}, {crops[small[0]].shape[0]}x{crops[small[0]].shape[1]}); pass a smaller crop.")
        return crops, classes, np.searchsorted(classes, y_all)

    def adapt(self, images: Sequence[np.ndarray], labels: Sequence[Any], *, epochs: int = 30, lr: float = 1e-3,
              augment: float | None = None, progress: bool = True) -> LearnedFingerprint:
        """A copy fine-tuned on labelled images whose labels may name classes it was never
        trained on, such as the clusters that open-world discovery found: the self-training
        step of Girish et al. (ICCV 2021), whose loop retrains its network on the known
        images plus the clustered ones. ``self`` is left unchanged.

        Each member starts from its own convolutions with a new classifier over the labels
        given, trains ``epochs`` epochs at ``lr`` with class-balanced draws and processing
        augmentation for an ``augment`` share of draws (default: ``config.augment``); with
        ``normalize="wccn"`` the map is refitted on these images and processed copies of
        them, so the processing of the new classes is normalised too."""
        self._check_fitted()
        cfg = self.config
        augment = cfg.augment if augment is None else float(augment)
        if not 0.0 <= augment <= 1.0:
            raise ConfigError(f"augment={augment!r}: the share of draws given processing, in [0, 1].")
        crops, classes, y = self._training_set(images, labels)
        out = copy.copy(self)
        out.classes_, out.models_, out.history_, out.norm_ = classes, [], [], None
        t0 = time.perf_counter()
        tens = [to_tensor(im) for im in crops]
        for member, init in enumerate(self.models_):
            model, _ = out._train_member(member, crops, tens, y, [], np.zeros(0, dtype=np.int64), progress, t0,
                                         init=init, epochs=epochs, lr=lr, augment=augment, balanced=True)
            out.models_.append(model)
        if cfg.normalize == "wccn":
            out.norm_ = out._fit_wccn(crops, y, np.random.default_rng([cfg.seed, 2]))
        out.training_ = {**(self.training_ or {}), "adapted": {
            "epochs": int(epochs), "lr": float(lr), "augment": augment, "n_images": len(crops), "n_classes": int(classes.size),
            "train_counts": {str(c): int(n) for c, n in zip(classes, np.bincount(y, minlength=classes.size))},
            "seconds": round(time.perf_counter() - t0, 1)}}
        return out

    def _train_member(self, member: int, crops: list[np.ndarray], tens: list[Any], y: np.ndarray,
                      va_imgs: list[np.ndarray], va_y: np.ndarray, progress: bool, t0: float, *,
                      init: Any = None, epochs: int | None = None, lr: float | None = None,
                      augment: float | None = None, balanced: bool = False) -> tuple[Any, float | None]:
        """One network, seeded ``config.seed + member``: members differ only in their seed.

        ``init``: start from this network's convolutions (a new classifier over ``classes_``);
        ``balanced``: draw each epoch's images with weights 1 / class size, so that classes
        of a few images (discovered clusters) are seen as often as the large ones."""
        cfg = self.config
        epochs = int(epochs or cfg.epochs)
        augment = cfg.augment if augment is None else augment
        seed = cfg.seed + member
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        model = CNNSmall(cfg.network())
        if init is not None:
            model.load_state_dict({k: v for k, v in init.state_dict().items() if not k.startswith("classifier.")},
                                  strict=False)
        model.classifier = torch.nn.Linear(model.feature_dim, self.classes_.size)
        opt = torch.optim.AdamW(model.parameters(), lr=lr or cfg.lr, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
        weights = None
        if balanced:
            weights = 1.0 / np.bincount(y, minlength=self.classes_.size)[y]
            weights /= weights.sum()
        val_acc = None
        what = "learned fingerprint: epochs" + (f" (network {member + 1}/{cfg.members})" if cfg.members > 1 else "")
        with progress_bar(epochs, what, enabled=progress) as advance:
            for ep in range(epochs):
                model.train()
                order = rng.permutation(len(tens)) if weights is None else rng.choice(len(tens), len(tens), p=weights)
                correct, losses = 0, []
                for s in range(0, order.size, cfg.batch_size):
                    idx = order[s : s + cfg.batch_size]
                    batch = []
                    for i in idx:
                        t = tens[i]
                        if augment > 0 and rng.uniform() < augment:
                            t = to_tensor(platform_augment(crops[i], rng))
                        h, w = t.shape[-2:]
                        top = int(rng.integers(0, (h - cfg.crop) // 8 + 1)) * 8
                        left = int(rng.integers(0, (w - cfg.crop) // 8 + 1)) * 8
                        batch.append(t[:, top : top + cfg.crop, left : left + cfg.crop])
                    logits = model.classifier(model.embed(self._prep(torch.stack(batch))))
                    yb = torch.from_numpy(y[idx])
                    loss = F.cross_entropy(logits, yb, label_smoothing=cfg.label_smoothing)
                    correct += int((logits.argmax(1) == yb).sum())
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    losses.append(float(loss.item()))
                sched.step()
                rec: dict[str, Any] = {"member": member, "epoch": ep + 1, "loss": float(np.mean(losses)),
                                       "train_crop_accuracy": correct / len(tens)}
                if va_imgs and ((ep + 1) % _VAL_EVERY == 0 or ep + 1 == epochs):
                    logits = model.classifier(self._embed_raw(va_imgs, [model]))
                    val_acc = rec["val_accuracy"] = float(np.mean(logits.argmax(1).numpy() == va_y))
                    if progress:  # rich redirects stderr above the live bar
                        print(f"epoch {ep + 1}/{epochs}: loss {rec['loss']:.3f}, train-crop accuracy "
                              f"{rec['train_crop_accuracy']:.3f}, val accuracy (whole images) {val_acc:.3f}, "
                              f"{time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
                self.history_.append(rec)
                advance(1)
        model.eval()
        return model, val_acc

    def _fit_wccn(self, crops: list[np.ndarray], y: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """:func:`wccn_map` of the training images and ``wccn_copies`` processed copies of each."""
        cfg = self.config
        copies = [platform_augment(c, rng) for c in crops for _ in range(cfg.wccn_copies)]
        F = np.concatenate([self._embed_raw(crops).numpy(), self._embed_raw(copies).numpy()]).astype(np.float64)
        return wccn_map(F, np.concatenate([y, np.repeat(y, cfg.wccn_copies)]), cfg.wccn_ridge)

    # ------------------------------------------------------------ inference

    def _check_fitted(self) -> None:
        if not hasattr(self, "models_"):
            raise NotFittedError("This LearnedFingerprint is not trained; call fit(images, labels) or "
                                 "LearnedFingerprint.from_pretrained(DIR).")

    def _embed_raw(self, images: Sequence[np.ndarray], models: Sequence[Any] | None = None, batch_size: int = 64,
                   names: Sequence[Any] | None = None) -> Any:
        """Pooled features of each network in ``models`` (default: all members), side by side."""
        models = self.models_ if models is None else models
        crops = [_prepare(im, self.config.max_side, str(names[i]) if names is not None else f"image {i}")
                 for i, im in enumerate(images)]
        width = int(self.config.widths[-1])
        out = torch.zeros((len(crops), width * len(models)))
        was_training = [m.training for m in models]
        for m in models:
            m.eval()
        try:
            with torch.inference_mode():
                for chunk in shape_batches((c.shape for c in crops), batch_size):
                    x = self._prep(torch.stack([to_tensor(crops[i]) for i in chunk]))
                    out[chunk] = torch.cat([m.embed(x) for m in models], dim=1)
        finally:
            for m, t in zip(models, was_training):
                m.train(t)
        return out

    def _normalise(self, raw: np.ndarray) -> np.ndarray:
        if self.norm_ is None:
            return raw.astype(np.float32)
        z = ((raw.astype(np.float64) - self.norm_["mean"]) / self.norm_["scale"]) @ self.norm_["transform"]
        return (z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    def transform(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(n, feature_dim) float32 features of whole uint8 RGB images (sizes may differ; each is
        analysed on its grid-aligned centre crop of ``max_side`` pixels): the members' pooled
        features side by side, WCCN-mapped and L2-normalised with ``normalize="wccn"``."""
        self._check_fitted()
        if len(images) == 0:
            return np.zeros((0, self.feature_dim), dtype=np.float32)
        return self._normalise(self._embed_raw(images).numpy())

    def predict_proba(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(n, len(classes_)) softmax of the training classifier (mean over members), in ``classes_`` order."""
        self._check_fitted()
        if len(images) == 0:
            return np.zeros((0, self.classes_.size), dtype=np.float32)
        raw = self._embed_raw(images)
        width = int(self.config.widths[-1])
        with torch.inference_mode():
            p = [torch.softmax(m.classifier(raw[:, k * width : (k + 1) * width]), dim=1) for k, m in enumerate(self.models_)]
        return torch.stack(p).mean(0).numpy().astype(np.float32)

    def predict(self, images: Sequence[np.ndarray]) -> np.ndarray:
        return self.classes_[self.predict_proba(images).argmax(1)]

    def transform_files(self, paths: Sequence[str | Path], *, progress: bool = False, workers: int = 2) -> np.ndarray:
        """:meth:`transform` of image files, decoded with ``synthtrace.io`` (a bad file raises
        an InputError naming it)."""

        self._check_fitted()
        paths = [Path(p) for p in paths]
        out = np.zeros((len(paths), self.feature_dim), dtype=np.float32)
        with progress_bar(len(paths), "learned fingerprints", enabled=progress) as advance:
            for s in range(0, len(paths), 64):
                chunk = load_images(paths[s : s + 64], workers=workers)
                raw = self._embed_raw([im.rgb for im in chunk], names=paths[s : s + 64]).numpy()
                out[s : s + len(chunk)] = self._normalise(raw)
                advance(len(chunk))
        return out

    # ------------------------------------------------------------ serialisation

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``learned_fingerprint.json`` + ``learned_fingerprint.safetensors`` into ``directory``."""
        self._check_fitted()
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        state = {f"member{k}.{name}": v.detach().contiguous().clone()
                 for k, m in enumerate(self.models_) for name, v in m.state_dict().items()}
        for name, v in (self.norm_ or {}).items():
            state[f"wccn.{name}"] = torch.from_numpy(np.ascontiguousarray(v))
        save_file(state, str(d / _WEIGHTS))
        meta = {"format": _FORMAT, "name": LEARNED_FINGERPRINT_NAME, "feature_dim": self.feature_dim,
                "config": self.config.to_dict(), "classes": [str(c) for c in self.classes_],
                "training": getattr(self, "training_", None)}
        (d / _META).write_text(json.dumps(meta, indent=1))
        return d

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> LearnedFingerprint:
        """Load a folder written by :meth:`save_pretrained`; never unpickles."""
        d = Path(directory)
        fix = f"train one with `synthtrace fingerprint train MANIFEST --out {d}`"
        meta_p = d / _META
        if not d.is_dir():
            raise BundleError(f"{d}: no such folder; expected a learned fingerprint folder ({_META} + {_WEIGHTS}); {fix}.")
        if not meta_p.is_file():
            raise BundleError(f"{d}: is not a learned fingerprint folder ({_META} missing); {fix}.")
        try:
            meta = json.loads(meta_p.read_text())
            if not isinstance(meta, dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError) as exc:
            raise BundleError(f"{meta_p}: corrupt ({exc}); {fix}, or copy the folder again.") from None
        if meta.get("name") != LEARNED_FINGERPRINT_NAME or meta.get("format") != _FORMAT:
            raise BundleError(f"{meta_p}: {meta.get('name')!r} format {meta.get('format')!r} is not supported "
                              f"(expected {LEARNED_FINGERPRINT_NAME!r} format {_FORMAT}); upgrade synthtrace or retrain.")
        try:
            config = LearnedFingerprintConfig.from_dict(dict(meta["config"]))
            classes = np.asarray([str(c) for c in meta["classes"]])
        except (KeyError, TypeError, ConfigError) as exc:
            raise BundleError(f"{meta_p}: invalid metadata ({exc}); {fix}.") from None
        w_p = d / _WEIGHTS
        if not w_p.is_file():
            raise BundleError(f"{d}: {_WEIGHTS} is missing; copy the whole folder, or {fix}.")
        try:
            state = load_file(str(w_p))
        except Exception as exc:  # safetensors raises its own error types for truncated/garbled files
            raise BundleError(f"{w_p}: corrupt weights ({type(exc).__name__}: {exc}); {fix}.") from None
        fp = cls(config)
        fp.models_ = []
        try:
            for k in range(config.members):
                model = CNNSmall(config.network())
                model.classifier = torch.nn.Linear(model.feature_dim, classes.size)
                prefix = f"member{k}."
                model.load_state_dict({n[len(prefix):]: v for n, v in state.items() if n.startswith(prefix)}, strict=True)
                model.eval()
                fp.models_.append(model)
            fp.norm_ = None
            if config.normalize == "wccn":
                fp.norm_ = {n: state[f"wccn.{n}"].numpy().astype(np.float64) for n in ("mean", "scale", "transform")}
        except (RuntimeError, KeyError) as exc:
            raise BundleError(f"{w_p}: weights do not match the config in {_META} ({str(exc).splitlines()[0]}); {fix}.") from None
        fp.classes_ = classes
        fp.training_ = meta.get("training")
        fp.history_ = []
        return fp


def is_learned_fingerprint(directory: str | Path | None) -> bool:
    """Whether ``directory`` looks like a learned fingerprint folder (has its JSON, with its name)."""
    if directory is None:
        return False
    p = Path(directory) / _META
    if not p.is_file():
        return False
    try:
        return json.loads(p.read_text()).get("name") == LEARNED_FINGERPRINT_NAME
    except (ValueError, AttributeError, UnicodeDecodeError):
        return False
