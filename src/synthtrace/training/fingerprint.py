"""Train a learned fingerprint on a manifest's labelled fakes (``synthtrace fingerprint train``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synthtrace.errors import ConfigError, InputError
from synthtrace.heads.learned_fingerprint import LEARNED_FINGERPRINT_NAME, LearnedFingerprint, LearnedFingerprintConfig
from synthtrace.io.images import load_images
from synthtrace.io.manifest import read_manifest


def train_from_manifest(manifest: str | Path, out: str | Path | None = None, *, level: str = "source",
                        config: LearnedFingerprintConfig = LearnedFingerprintConfig(),
                        progress: bool = True) -> tuple[LearnedFingerprint, dict[str, Any]]:
    """Train on a manifest's labelled fakes and (with ``out``) save the folder.

    Rows with label ``fake`` and a ``source`` (``family`` for ``level="family"``) are used;
    splices (``mask_path`` set, or a ``splice:`` source) are left out, their pixels are
    mostly real. Trains on the ``train`` split (every row when there are no splits);
    the ``val`` split's rows of the same labels give the validation accuracy."""
    if level not in ("source", "family"):
        raise ConfigError(f"level={level!r}; expected 'source' or 'family'.")
    m = read_manifest(manifest)
    label = (lambda r: r.family) if level == "family" else (lambda r: r.source)
    rows = [r for r in m if r.label == "fake" and not r.mask_path and label(r)
            and not (r.source or "").startswith("splice:")]
    if not rows:
        raise InputError(f"{manifest}: no fake rows with a {level!r} column; a learned fingerprint needs labelled fakes.")
    train = [r for r in rows if r.split in ("train", "")] or rows
    classes = {label(r) for r in train}
    val = [r for r in rows if r.split == "val" and label(r) in classes]
    tr_imgs = [im.rgb for im in load_images([m.path_of(r) for r in train], progress=progress, label="decoding train")]
    va_imgs = [im.rgb for im in load_images([m.path_of(r) for r in val], progress=progress, label="decoding val")]
    fp = LearnedFingerprint(config).fit(tr_imgs, [label(r) for r in train], val_images=va_imgs or None,
                                        val_labels=[label(r) for r in val] or None, progress=progress)
    fp.training_.update({"manifest": str(Path(manifest)), "level": level,
                         "val_on": "val split" if val else "none (no val split rows of the training labels)"})
    if out is not None:
        fp.save_pretrained(out)
    summary = {"out": None if out is None else str(out), "name": LEARNED_FINGERPRINT_NAME, "level": level,
               "classes": [str(c) for c in fp.classes_], "feature_dim": fp.feature_dim, **fp.training_,
               "config": config.to_dict()}
    return fp, summary
