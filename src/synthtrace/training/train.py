"""Train a detector from a manifest: features or pixels → head → calibration → bundle.

Splits come from the manifest (``train`` for fitting, ``val`` for model selection,
calibration and operating thresholds; ``test`` is never touched here). Rows with a
mask (splices) are left out: they are partly real and belong to localisation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from synthtrace.detector import DetectorBundle
from synthtrace.errors import ConfigError, InputError
from synthtrace.heads.calibration import fit_calibration
from synthtrace.io.images import load_images
from synthtrace.io.manifest import Manifest, read_manifest
from synthtrace.training.forensic import HistoryMatching

HEADS = ("cnn-small", "linear_probe", "multilayer", "forensic")


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
    from synthtrace.io.perturbations import AugmentConfig

    augment = AugmentConfig.parse(augment)
    if augment is not None and head != "cnn-small":
        raise ConfigError(f"augment={augment.mode!r}: train-time augmentation is implemented for cnn-small only (head {head!r})")
    if target_unlabeled is not None and head != "linear_probe":
        raise ConfigError(f"target_unlabeled adapts the hf: linear probe's features; head {head!r} does not support it")
    train, val = training_splits(m)
    y_train, y_val = train.labels(), val.labels()
    log(f"train: {len(train)} images ({int(y_train.sum())} fake), val: {len(val)} images ({int(y_val.sum())} fake)")
    t0 = time.perf_counter()

    if head == "forensic":
        from synthtrace.features.forensic import FEATURE_NAMES, MAX_SIDE
        from synthtrace.heads.forensic import ForensicHead
        from synthtrace.progress import progress_bar
        from synthtrace.training.forensic import manifest_views

        history = history or HistoryMatching()
        whole = m.where(mask_path="")
        with progress_bar(len(whole), "forensic features of history-matched views", enabled=progress) as advance:
            views = manifest_views(whole, history, cache_dir=cache_dir, on_done=advance)
        for msg in views.skipped:
            log(f"skipped: {msg}")
        fit, held = views.split == "train", views.split == "val"
        x_train, y_train, x_val, y_val = views.X[fit], views.y[fit], views.X[held], views.y[held]
        log(f"views: train {len(y_train)} ({int(y_train.sum())} generated), val {len(y_val)} ({int(y_val.sum())} generated)")
        model = ForensicHead().fit(x_train, y_train)
        val_scores = model.decision_function(x_val)
        backbone_cfg = {"id": "forensic", "features": list(FEATURE_NAMES)}
        preprocess = {"crop": f"centre, at most {MAX_SIDE} px a side, never resampled", "channels": "luminance"}
        head_cfg = {"type": "forensic", "params": model.get_params(), "history_matching": history.to_dict(),
                    "skipped_files": len(views.skipped)}
    elif head == "cnn-small":
        from synthtrace.backbones.cnn import CNN_PREPROCESS
        from synthtrace.heads.cnn_small import CNNSmallClassifier
        from synthtrace.progress import progress_bar

        x_train = [im.rgb for im in load_images([train.path_of(r) for r in train], progress=progress, label="decoding train")]
        x_val = [im.rgb for im in load_images([val.path_of(r) for r in val], progress=progress, label="decoding val")]
        clf = CNNSmallClassifier(epochs=epochs, random_state=seed, augment=augment)
        with progress_bar(epochs, "training cnn-small (epochs)", enabled=progress) as advance:
            def on_epoch(epoch: int, total: int, record: dict) -> None:
                advance(1)
                log(f"epoch {epoch}/{total}: loss {record['loss']:.4f}, val AUC {record.get('val_auc', float('nan')):.4f}")

            clf.fit(x_train, y_train, val_images=x_val, val_y=y_val, progress=on_epoch)
        val_scores = clf.decision_function(x_val)
        model = clf.model_
        backbone_cfg = {"id": "cnn-small", "config": model.config.to_dict()}
        preprocess = CNN_PREPROCESS.to_dict()
        head_cfg = {"type": "cnn-small", "params": clf.get_params(), "history": clf.history_}
    elif head == "multilayer":
        from synthtrace.backbones.registry import create_backbone
        from synthtrace.features.layers import extract_layer_tokens
        from synthtrace.heads.multilayer import MultiLayerClassifier, MultiLayerConfig

        bb = create_backbone(backbone)
        P_train, A_train = extract_layer_tokens([train.path_of(r) for r in train], bb, progress=progress)
        P_val, A_val = extract_layer_tokens([val.path_of(r) for r in val], bb, progress=progress)
        model = MultiLayerClassifier(MultiLayerConfig(epochs=epochs, seed=seed)).fit(
            P_train, A_train, y_train, on_epoch=lambda e, n, loss: log(f"epoch {e}/{n}: loss {loss:.4f}")
        )
        val_scores = model.decision_function(P_val, A_val)
        backbone_cfg = {"id": bb.id, "weights_hash": bb.weights_hash(), "layer": "all", "pooling": "patch_tokens+keys"}
        preprocess = bb.preprocess.to_dict()
        head_cfg = {"type": "multilayer", "params": model.get_params(), "history": model.history_}
    else:
        from synthtrace.backbones.registry import create_backbone
        from synthtrace.features.extract import extract_features
        from synthtrace.heads.linear_probe import LinearProbe

        bb = create_backbone(backbone)
        bb.validate(layer, pooling)
        def feats(part: Manifest):
            paths = [part.path_of(r) for r in part]
            return extract_features(paths, bb, layer=layer, pooling=pooling, cache_dir=cache_dir, progress=progress)

        x_train, x_val = feats(train), feats(val)
        model = LinearProbe(random_state=seed).fit(x_train, y_train)
        da_info = None
        if target_unlabeled is not None:
            from synthtrace.heads.domain_adaptation import DAConfig, MultiSourceAdapter, domain_labels

            target = read_manifest(target_unlabeled).where(mask_path="")
            adapter = MultiSourceAdapter(DAConfig(seed=seed)).fit(x_train, y_train, domain_labels(train.rows), feats(target))
            model = adapter.to_linear_probe()
            da_info = {"target_manifest_sha256": target.digest(), "n_target": len(target), "domains": adapter.domains_,
                       "config": adapter.config.to_dict(), "history": adapter.history_}
            log(f"domain adaptation: {len(adapter.domains_)} source domain(s), {len(target)} target images, "
                f"moment discrepancy {adapter.history_[0]['mm_all']:.4f} -> {adapter.history_[-1]['mm_all']:.4f}")
        val_scores = model.decision_function(x_val)
        backbone_cfg = {"id": bb.id, "weights_hash": bb.weights_hash(), "layer": layer, "pooling": pooling}
        preprocess = bb.preprocess.to_dict()
        head_cfg = {"type": "linear_probe", "params": model.get_params()}
        if da_info is not None:
            head_cfg["domain_adaptation"] = da_info

    cal = fit_calibration(y_val, val_scores, method=calibration)
    from synthtrace.metrics.detection import roc_auc

    training = {
        "manifest": None if isinstance(manifest, Manifest) else str(Path(manifest).resolve()),
        "manifest_sha256": m.digest(),
        "n_train": len(train),
        "n_val": len(val),
        "sources": sorted(set(train.column("source"))),
        "val_roc_auc": roc_auc(y_val, val_scores),
        "seed": seed,
        "augment": None if augment is None else {**augment.to_dict(), "applied_counts": dict(sorted(clf.augment_counts_.items()))},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if data_licences:
        training["data_licences"] = dict(sorted(data_licences.items()))
    bundle = DetectorBundle(
        kind=head, backbone=backbone_cfg, preprocess=preprocess,
        head=head_cfg, calibration=cal, training=training, model=model,
    )
    bundle.save_pretrained(out)
    log(f"saved detector bundle to {out} (val AUC {training['val_roc_auc']:.4f}, {training['seconds']} s)")
    return bundle
