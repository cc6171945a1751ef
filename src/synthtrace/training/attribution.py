"""Fit a bundle's attribution head on a manifest's labelled fakes (``synthtrace attribute --fit``)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from synthtrace.detector import DetectorBundle
from synthtrace.detector.attribution import LEARNED_DIR, bind_attribution, save_attribution_head
from synthtrace.errors import ConfigError, InputError
from synthtrace.heads.attribution import AttributionHead
from synthtrace.heads.learned_fingerprint import LearnedFingerprint, LearnedFingerprintConfig, is_learned_fingerprint
from synthtrace.io.manifest import read_manifest
from synthtrace.training.fingerprint import train_from_manifest


def _bundle_if_needed(head: AttributionHead, bundle_dir: str | Path) -> DetectorBundle | None:
    """Backbone features come from the bundle's own network; the other features need no bundle."""
    return DetectorBundle.from_pretrained(bundle_dir) if head.features == "backbone" else None


def fit_bundle_head(
    bundle_dir: str | Path, manifest: str | Path, *, level: str = "source", features: str = "fingerprint",
    unknown_score: str = "wta", known_tpr: float = 0.95, random_state: int = 0, progress: bool = False,
    fingerprint: str | Path | None = None,
    fingerprint_config: LearnedFingerprintConfig | None = None,
) -> tuple[AttributionHead, dict[str, Any]]:
    """Fit an attribution head on a manifest's fakes and store it in ``bundle_dir``.

    Rows with label ``fake`` and a ``source`` (``family`` for ``level="family"``) are
    used; splices (``mask_path`` set) are left out, their pixels are mostly real. Fits
    on the ``train`` split (every row when no split is given) and calibrates the unknown
    threshold on the ``val`` split (on the training rows when there is no val split,
    which is optimistic: the summary says so).

    ``features="learned"``: the head is fitted on a learned fingerprint kept in
    ``bundle_dir/fingerprint/`` so the bundle stays self-contained: ``fingerprint`` (a
    folder from ``synthtrace fingerprint train``) is copied there; without it one is
    trained on the manifest's train split (``fingerprint_config``: a
    ``LearnedFingerprintConfig``; minutes on a CPU)."""
    if fingerprint is not None and features != "learned":
        raise ConfigError(f"a learned fingerprint folder was given but features={features!r}; use features='learned'.")
    learned_summary = None
    if features == "learned":
        learned_summary = _bundle_fingerprint(Path(bundle_dir), manifest, level=level, fingerprint=fingerprint,
                                              config=fingerprint_config, progress=progress)

    m = read_manifest(manifest)
    rows = [r for r in m if r.label == "fake" and not r.mask_path and (r.family if level == "family" else r.source)]
    rows = [r for r in rows if not (r.source or "").startswith("splice:")]
    if not rows:
        raise InputError(f"{manifest}: no fake rows with a {level!r} column; attribution needs labelled fakes.")
    train = [r for r in rows if r.split in ("train", "")] or rows
    val = [r for r in rows if r.split == "val"]
    label = (lambda r: r.family) if level == "family" else (lambda r: r.source)
    head = AttributionHead(level, unknown_score=unknown_score, known_tpr=known_tpr, features=features,
                           random_state=random_state)
    features_of = bind_attribution(head, bundle=_bundle_if_needed(head, bundle_dir), directory=bundle_dir).features
    Xtr = features_of([m.path_of(r) for r in train])
    head.fit(Xtr, [label(r) for r in train])
    cal = val if val else train
    known = [r for r in cal if label(r) in set(head.classes_)]
    Xva = features_of([m.path_of(r) for r in known]) if known else Xtr
    yva = [label(r) for r in known] if known else [label(r) for r in train]
    head.calibrate(Xva, yva)
    acc = float(np.mean(head.predict(Xva, closed_set=True) == np.asarray(yva)))
    summary = {"n_train": len(train), "n_calibration": len(yva), "calibrated_on": "val" if val else "train (no val split)",
               "labels": head.label_map(), "calibration_top1": acc, "threshold": head.threshold_, "features": features}
    if learned_summary is not None:
        summary["learned_fingerprint"] = learned_summary
    save_attribution_head(bundle_dir, head, extra={"fit": {**summary, "manifest": str(Path(manifest))}})
    return head, summary


def _bundle_fingerprint(bundle_dir: str | Path, manifest: str | Path, *, level: str, fingerprint: Any, config: Any,
                        progress: bool) -> dict[str, Any]:
    """Put a learned fingerprint into ``bundle_dir/fingerprint/`` (copied or trained); its summary."""
    dest = Path(bundle_dir) / LEARNED_DIR
    if fingerprint is not None:
        src = Path(fingerprint)
        if not is_learned_fingerprint(src):
            LearnedFingerprint.from_pretrained(src)  # raises the error that says what is wrong and how to fix it
        if src.resolve() != dest.resolve():
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(src, dest)
        fp = LearnedFingerprint.from_pretrained(dest)
        return {"source": str(src), "classes": [str(c) for c in fp.classes_], "training": fp.training_}
    _, summary = train_from_manifest(manifest, dest, level=level, config=config or LearnedFingerprintConfig(),
                                     progress=progress)
    return {"source": "trained", **summary}
