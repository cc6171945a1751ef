"""Train a detector from a manifest: features or pixels → head → calibration → bundle.

Splits come from the manifest (``train`` for fitting, ``val`` for model selection,
calibration and operating thresholds; ``test`` is never touched here). Rows with a
mask (splices) are left out: they are partly real and belong to localisation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synthtrace.backbones.cnn import CNN_PREPROCESS
from synthtrace.backbones.registry import create_backbone
from synthtrace.detector import DetectorBundle
from synthtrace.errors import ConfigError, InputError
from synthtrace.features.extract import extract_features
from synthtrace.features.forensic import FEATURE_NAMES, MAX_SIDE
from synthtrace.features.layers import extract_layer_tokens
from synthtrace.heads.calibration import fit_calibration
from synthtrace.heads.cnn_small import CNNSmallClassifier
from synthtrace.heads.domain_adaptation import DAConfig, MultiSourceAdapter, domain_labels
from synthtrace.heads.forensic import ForensicHead
from synthtrace.heads.linear_probe import LinearProbe
from synthtrace.heads.multilayer import MultiLayerClassifier, MultiLayerConfig
from synthtrace.io.images import load_images
from synthtrace.io.manifest import Manifest, read_manifest
from synthtrace.io.perturbations import AugmentConfig
from synthtrace.metrics.detection import roc_auc
from synthtrace.progress import progress_bar
from synthtrace.training.forensic import HistoryMatching, capped, manifest_views

HEADS = ("cnn-small", "linear_probe", "multilayer", "forensic")  # the trainers are at the end of the file


def training_splits(manifest: Manifest) -> tuple[Manifest, Manifest]:
    """(train, val) rows without masks; both must contain reals and fakes."""
    whole = manifest.where(mask_path="")
    train, val = whole.where(split="train"), whole.where(split="val")
    for name, part in (("train", train), ("val", val)):
        labels = set(part.column("label"))
        if labels != {"real", "fake"}:
            raise InputError(
                f"manifest in {manifest.root}: the '{name}' split has labels {sorted(labels) or 'none'}; "
                f"training needs real and fake images in both 'train' and 'val' splits (set the split column)."
            )
    return train, val


def train_detector(
    manifest: str | Path | Manifest,
    out: str | Path,
    *,
    backbone: str = "cnn-small",
    head: str | None = None,
    layer: str = "last",
    pooling: str = "cls",
    epochs: int = 12,
    seed: int = 0,
    calibration: str = "platt",
    cache_dir: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    augment=None,
    target_unlabeled: str | Path | None = None,
    history: HistoryMatching | None = None,
    data_licences: dict[str, str] | None = None,
) -> DetectorBundle:
    """Train, calibrate on the validation split, save the bundle to ``out`` and return it.

    ``backbone="cnn-small"`` trains the small CNN end to end (head "cnn-small");
    ``backbone="hf:<id or dir>"`` fits a linear probe on frozen features (``layer``,
    ``pooling``), or with ``head="multilayer"`` the AdaptCLIP-style head on every
    layer's patch tokens and attention keys (``epochs`` epochs; layer/pooling unused).
    ``augment`` ("spec", "bart" or a ``perturbations.AugmentConfig``) perturbs cnn-small's
    training images (io/perturbations.py); the config and the count of each
    perturbation applied are recorded in the bundle's training section.
    ``backbone="forensic"`` fits the forensic head (``heads/forensic.py``) on hand-built
    features of history-matched views of every image (``history``, see train_forensic.py):
    the recipe of the shipped real-image detector. ``data_licences`` ({repository:
    licence}) is recorded in the bundle's training section.
    ``target_unlabeled``: a manifest of unlabelled target-domain images (labels are
    ignored); the hf: linear probe is then trained with the multi-source domain
    adaptation loss (``heads/domain_adaptation.py``, spec §6).
    """
    log = log or (lambda msg: None)
    m = manifest if isinstance(manifest, Manifest) else read_manifest(manifest)
    head = head or {"cnn-small": "cnn-small", "forensic": "forensic"}.get(backbone, "linear_probe")
    if head not in HEADS:
        raise ConfigError(f"head {head!r}: expected one of {', '.join(HEADS)}")
    if (backbone == "forensic") != (head == "forensic"):
        raise ConfigError(f"backbone {backbone!r} with head {head!r}: the forensic head takes the forensic features "
                          "(--backbone forensic) and nothing else")
    if history is not None and head != "forensic":
        raise ConfigError(f"history matching applies to the forensic detector (--backbone forensic), not head {head!r}")
    if (backbone == "cnn-small") != (head == "cnn-small"):
        raise ConfigError(
            f"backbone {backbone!r} with head {head!r}: cnn-small is trained end to end (head cnn-small); "
            "hf: backbones take a linear_probe or multilayer head"
        )

    augment = AugmentConfig.parse(augment)
    if augment is not None and head != "cnn-small":
        raise ConfigError(f"augment={augment.mode!r}: train-time augmentation is implemented for cnn-small only (head {head!r})")
    if target_unlabeled is not None and head != "linear_probe":
        raise ConfigError(f"target_unlabeled adapts the hf: linear probe's features; head {head!r} does not support it")
    train, val = training_splits(m)
    y_train, y_val = train.labels(), val.labels()
    log(f"train: {len(train)} images ({int(y_train.sum())} fake), val: {len(val)} images ({int(y_val.sum())} fake)")
    t0 = time.perf_counter()

    job = _Job(m, train, val, backbone, layer, pooling, epochs, seed, cache_dir, progress, log, augment,
               target_unlabeled, history or HistoryMatching())
    fitted = _TRAINERS[head](job)
    val_scores, y_val = fitted.val_scores, fitted.y_val

    cal = fit_calibration(y_val, val_scores, method=calibration)

    training = {
        "manifest": None if isinstance(manifest, Manifest) else str(Path(manifest).resolve()),
        "manifest_sha256": m.digest(),
        "n_train": len(train),
        "n_val": len(val),
        "sources": sorted(set(train.column("source"))),
        "val_roc_auc": roc_auc(y_val, val_scores),
        "seed": seed,
        "augment": None if augment is None else {**augment.to_dict(), "applied_counts": fitted.augment_counts},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if data_licences:
        training["data_licences"] = dict(sorted(data_licences.items()))
    bundle = DetectorBundle(
        kind=head, backbone=fitted.backbone, preprocess=fitted.preprocess,
        head=fitted.head, calibration=cal, training=training, model=fitted.model,
    )
    bundle.save_pretrained(out)
    log(f"saved detector bundle to {out} (val AUC {training['val_roc_auc']:.4f}, {training['seconds']} s)")
    return bundle


@dataclass(frozen=True)
class _Job:
    """What every head's trainer gets: the splits and the settings, checked by train_detector."""

    manifest: Manifest
    train: Manifest
    val: Manifest
    backbone: str
    layer: str
    pooling: str
    epochs: int
    seed: int
    cache_dir: str | Path | None
    progress: bool
    log: Callable[[str], None]
    augment: AugmentConfig | None
    target_unlabeled: str | Path | None
    history: HistoryMatching


@dataclass
class _Fitted:
    model: Any
    val_scores: np.ndarray
    y_val: np.ndarray
    backbone: dict[str, Any]
    preprocess: dict[str, Any]
    head: dict[str, Any]
    augment_counts: dict[str, int] = field(default_factory=dict)


def _fit_forensic(job: _Job) -> _Fitted:
    whole = job.manifest.where(mask_path="")
    # the bar counts the images that get views: generated images beyond the family cap get none
    n_images = len(capped(whole, job.history.max_per_family))
    with progress_bar(n_images, "forensic features of history-matched views", enabled=job.progress) as advance:
        views = manifest_views(whole, job.history, cache_dir=job.cache_dir, on_done=advance)
    for msg in views.skipped:
        job.log(f"skipped: {msg}")
    fit, held = views.split == "train", views.split == "val"
    x_train, y_train, x_val, y_val = views.X[fit], views.y[fit], views.X[held], views.y[held]
    job.log(f"views: train {len(y_train)} ({int(y_train.sum())} generated), val {len(y_val)} ({int(y_val.sum())} generated)")
    model = ForensicHead().fit(x_train, y_train)
    return _Fitted(
        model, model.decision_function(x_val), y_val,
        backbone={"id": "forensic", "features": list(FEATURE_NAMES)},
        preprocess={"crop": f"centre, at most {MAX_SIDE} px a side, never resampled", "channels": "luminance"},
        head={"type": "forensic", "params": model.get_params(), "history_matching": job.history.to_dict(),
              "skipped_files": len(views.skipped)})


def _decoded(part: Manifest, job: _Job, label: str) -> list[np.ndarray]:
    return [im.rgb for im in load_images([part.path_of(r) for r in part], progress=job.progress, label=label)]


def _fit_cnn_small(job: _Job) -> _Fitted:
    x_train, x_val = _decoded(job.train, job, "decoding train"), _decoded(job.val, job, "decoding val")
    y_val = job.val.labels()
    clf = CNNSmallClassifier(epochs=job.epochs, random_state=job.seed, augment=job.augment)
    with progress_bar(job.epochs, "training cnn-small (epochs)", enabled=job.progress) as advance:
        def on_epoch(epoch: int, total: int, record: dict) -> None:
            advance(1)
            job.log(f"epoch {epoch}/{total}: loss {record['loss']:.4f}, val AUC {record.get('val_auc', float('nan')):.4f}")

        clf.fit(x_train, job.train.labels(), val_images=x_val, val_y=y_val, progress=on_epoch)
    model = clf.model_
    return _Fitted(model, clf.decision_function(x_val), y_val,
                   backbone={"id": "cnn-small", "config": model.config.to_dict()}, preprocess=CNN_PREPROCESS.to_dict(),
                   head={"type": "cnn-small", "params": clf.get_params(), "history": clf.history_},
                   augment_counts=dict(sorted(clf.augment_counts_.items())) if job.augment is not None else {})


def _fit_multilayer(job: _Job) -> _Fitted:
    bb = create_backbone(job.backbone)
    P_train, A_train = extract_layer_tokens([job.train.path_of(r) for r in job.train], bb, progress=job.progress)
    P_val, A_val = extract_layer_tokens([job.val.path_of(r) for r in job.val], bb, progress=job.progress)
    model = MultiLayerClassifier(MultiLayerConfig(epochs=job.epochs, seed=job.seed)).fit(
        P_train, A_train, job.train.labels(), on_epoch=lambda e, n, loss: job.log(f"epoch {e}/{n}: loss {loss:.4f}")
    )
    return _Fitted(model, model.decision_function(P_val, A_val), job.val.labels(),
                   backbone={"id": bb.id, "weights_hash": bb.weights_hash(), "layer": "all",
                             "pooling": "patch_tokens+keys"},
                   preprocess=bb.preprocess.to_dict(),
                   head={"type": "multilayer", "params": model.get_params(), "history": model.history_})


def _fit_linear_probe(job: _Job) -> _Fitted:
    bb = create_backbone(job.backbone)
    bb.validate(job.layer, job.pooling)

    def feats(part: Manifest) -> np.ndarray:
        return extract_features([part.path_of(r) for r in part], bb, layer=job.layer, pooling=job.pooling,
                                cache_dir=job.cache_dir, progress=job.progress)

    x_train, x_val, y_train = feats(job.train), feats(job.val), job.train.labels()
    model = LinearProbe(random_state=job.seed).fit(x_train, y_train)
    head = {"type": "linear_probe", "params": None}
    if job.target_unlabeled is not None:
        target = read_manifest(job.target_unlabeled).where(mask_path="")
        adapter = MultiSourceAdapter(DAConfig(seed=job.seed)).fit(x_train, y_train, domain_labels(job.train.rows),
                                                                  feats(target))
        model = adapter.to_linear_probe()
        head["domain_adaptation"] = {"target_manifest_sha256": target.digest(), "n_target": len(target),
                                     "domains": adapter.domains_, "config": adapter.config.to_dict(),
                                     "history": adapter.history_}
        job.log(f"domain adaptation: {len(adapter.domains_)} source domain(s), {len(target)} target images, "
                f"moment discrepancy {adapter.history_[0]['mm_all']:.4f} -> {adapter.history_[-1]['mm_all']:.4f}")
    head["params"] = model.get_params()
    return _Fitted(model, model.decision_function(x_val), job.val.labels(),
                   backbone={"id": bb.id, "weights_hash": bb.weights_hash(), "layer": job.layer, "pooling": job.pooling},
                   preprocess=bb.preprocess.to_dict(), head=head)


_TRAINERS: dict[str, Callable[[_Job], _Fitted]] = {
    "cnn-small": _fit_cnn_small, "linear_probe": _fit_linear_probe, "multilayer": _fit_multilayer,
    "forensic": _fit_forensic,
}
