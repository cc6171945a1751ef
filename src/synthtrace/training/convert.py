"""Turn a user-downloaded published checkpoint into a synthtrace detector bundle.

The checkpoint is read with the weights-only loader (see ``checkpoint.py``); the
bundle is config.json + model.safetensors like every other bundle, with the
licence, source, paper, original file hash and the test-time preprocessing
recorded in its config.

Calibration: a converted bundle gets the identity map (Platt a = 1, b = 0), so
its probability is the original sigmoid output and operating point "0.5" is the
published decision rule (logit 0). It has **no** FPR thresholds: they depend on
the images it is used on. ``calibrate_bundle`` (``synthtrace zoo calibrate``)
fits Platt scaling and the FPR thresholds on a labelled validation split.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from synthtrace.backbones.registry import create_backbone
from synthtrace.detector import DetectorBundle
from synthtrace.errors import BundleError, ConfigError, InputError
from synthtrace.heads.calibration import Calibration, fit_calibration
from synthtrace.io.images import load_images
from synthtrace.io.manifest import read_manifest
from synthtrace.zoo.checkpoint import expect_shape, load_checkpoint, strip_prefix, tensor_dict
from synthtrace.zoo.entries import CLIP_L14, ZooEntry, get_entry
from synthtrace.zoo.models import CLIPFC, RESNET50_DEPTHS, RESNET50_HIDDEN, ResNetFC, map_resnet_state, resnet_config

IDENTITY = Calibration(method="platt", params={"a": 1.0, "b": 0.0}, thresholds={})
UNCALIBRATED_NOTE = (
    "uncalibrated: identity calibration (Platt a=1, b=0), so the probability is the original model's sigmoid "
    "and operating point 0.5 is its published decision rule; no FPR thresholds. Run `synthtrace zoo calibrate` "
    "on a labelled validation split of your own images before quoting a false-alarm rate."
)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def convert(name: str, weights: str | Path, out: str | Path, *, backbone: str | None = None) -> DetectorBundle:
    """Convert ``weights`` (the published file of zoo entry ``name``) into a bundle at ``out``.

    ``backbone`` (UniversalFakeDetect only): the CLIP tower, default
    ``hf:openai/clip-vit-large-patch14``; a local ``hf:<dir>`` works offline.
    """
    entry = get_entry(name)
    path = Path(weights)
    obj = load_checkpoint(path)
    where = f"{entry.name} checkpoint {path}"
    if backbone is not None and entry.kind != "clip_fc":
        raise ConfigError(f"--backbone applies to UniversalFakeDetect only; {entry.name} carries its whole network")
    if entry.name == "UniversalFakeDetect":
        bundle = _convert_ufd(entry, obj, where, backbone or CLIP_L14)
    elif entry.name == "CNNDetection":
        bundle = _convert_cnndetection(entry, obj, where)
    else:
        bundle = _convert_npr(entry, obj, where)
    bundle.training = {
        "name": entry.name,
        "converted_from": {"file": path.name, "sha256": _sha256(path), "loader": "torch.load(weights_only=True)"},
        "zoo": entry.to_dict(),
        "licence": entry.licence,
        "source": entry.source,
        "paper": entry.paper,
        "trained_on": entry.trained_on,
        "sources": [],  # synthtrace manifest sources it saw: none (trained elsewhere)
        "calibrated": False,
        "calibration_note": UNCALIBRATED_NOTE,
    }
    bundle.save_pretrained(out)
    return bundle


def _convert_ufd(entry: ZooEntry, obj: Any, where: str, backbone: str) -> DetectorBundle:

    state = tensor_dict(obj, where=where)
    extra = sorted(set(state) - {"weight", "bias"})
    if extra:
        raise BundleError(f"{where}: unexpected keys {extra}; expected exactly 'weight' [1, 768] and 'bias' [1]")
    w = expect_shape(state, "weight", (1, 768), where=where)
    b = expect_shape(state, "bias", (1,), where=where)
    bb = create_backbone(backbone)
    bb.validate("last", "embeds")
    dim = int(getattr(bb.config, "projection_dim", 0) or 0)
    if dim != 768:
        raise BundleError(f"{where}: fc expects a 768-d projected embedding; backbone {bb.id} projects to {dim}-d (ViT-L/14 does 768)")
    model = CLIPFC(768)
    model.load_state_dict({"fc.weight": w.float(), "fc.bias": b.float()})
    return DetectorBundle(
        kind="clip_fc",
        backbone={"id": bb.id, "weights_hash": bb.weights_hash(), "layer": "last", "pooling": "embeds"},
        preprocess=dict(entry.preprocess),
        head={"type": "fc", "in_features": 768, "input": "image_embeds (projected, not normalised)"},
        calibration=IDENTITY, model=model,
    )


def _resnet_bundle(entry: ZooEntry, state: dict[str, torch.Tensor], fc: str, arch: dict[str, Any],
                   input_transform: str, where: str) -> DetectorBundle:
    model = ResNetFC(arch, input_transform)
    c = arch["hidden_sizes"][-1]
    w = expect_shape(state, f"{fc}.weight", (1, c), where=where)
    b = expect_shape(state, f"{fc}.bias", (1,), where=where)
    trunk = map_resnet_state(state, model.resnet, fc=fc, where=where)
    full = {f"resnet.{k}": v for k, v in trunk.items()}
    full.update({"fc.weight": w, "fc.bias": b})
    model.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in full.items()}, strict=True)
    return DetectorBundle(
        kind="resnet_fc",
        backbone={"id": f"zoo:{entry.name}", "implementation": "transformers.ResNetModel"},
        preprocess=dict(entry.preprocess),
        head={"type": "fc", "architecture": arch, "input_transform": input_transform, "fc_in_features": c},
        calibration=IDENTITY, model=model.eval(),
    )


def _convert_cnndetection(entry: ZooEntry, obj: Any, where: str) -> DetectorBundle:
    if not isinstance(obj, dict) or "model" not in obj:
        got = sorted(obj)[:8] if isinstance(obj, dict) else type(obj).__name__
        raise BundleError(f"{where}: expected {{'model': state_dict}} as CNNDetection saves it; got {got}")
    state = strip_prefix(tensor_dict(obj["model"], where=where))
    return _resnet_bundle(entry, state, "fc", resnet_config(RESNET50_DEPTHS, RESNET50_HIDDEN), "none", where)


def _convert_npr(entry: ZooEntry, obj: Any, where: str) -> DetectorBundle:
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]  # tolerate a training checkpoint wrapping the state_dict
    state = strip_prefix(tensor_dict(obj, where=where))
    expect_shape(state, "conv1.weight", (64, 3, 3, 3), where=where)
    arch = resnet_config(RESNET50_DEPTHS[:2], RESNET50_HIDDEN[:2], stem_kernel=3)
    return _resnet_bundle(entry, state, "fc1", arch, "npr", where)


def calibrate_bundle(bundle: str | Path, manifest: str | Path, *, split: str = "val", method: str = "platt",
                     out: str | Path | None = None, progress: bool = False) -> DetectorBundle:
    """Fit calibration and FPR thresholds of a bundle on a labelled split; save to ``out`` (default: in place)."""

    det = DetectorBundle.from_pretrained(bundle)
    m = read_manifest(manifest)
    rows = m.where(split=split) if split and any(m.column("split")) else m
    if len(rows) == 0:
        raise InputError(f"manifest {manifest}: no rows in split {split!r}; pick the split to calibrate on with --split")
    y = rows.labels()
    if y.min() == y.max():
        raise InputError(f"manifest {manifest} split {split!r}: calibration needs both real and fake images")
    images = load_images([rows.path_of(r) for r in rows], progress=progress, label=f"decoding {split}")
    scores = det.score_images([im.rgb for im in images])
    det.calibration = fit_calibration(y, scores, method=method)
    det.training = {
        **det.training, "calibrated": True,
        "calibration_note": f"calibrated ({method}) on {len(rows)} images of split {split!r}",
        "calibration_manifest_sha256": m.digest(),
    }
    det.save_pretrained(out or bundle)
    return det
