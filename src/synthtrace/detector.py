"""DetectorBundle: a self-describing detector, saved as config.json + safetensors.

A bundle carries everything needed to reproduce a score: backbone id and weights
hash, preprocessing spelled out, layer and pooling, head, labels, calibration and
the hash of the manifest it was trained on. No pickle anywhere: a bundle someone
downloads can be inspected as JSON and loaded without running its code.

Kinds:
- ``linear_probe``: frozen backbone (``hf:...``) features → LinearProbe. The
  backbone's weights are not copied; their hash is checked on load.
- ``cnn-small``: the whole network, trained end to end, in model.safetensors.
- ``multilayer``: frozen ``hf:`` backbone, every layer's patch tokens and attention
  keys → the AdaptCLIP-style head (``heads/multilayer.py``); head weights in
  model.safetensors, architecture in ``head.params``, backbone hash checked on load.
- ``finetuned``: an ``hf:`` tower fine-tuned with LoRA (adapters merged) or fully,
  plus its linear head (``heads/lora.py``); the whole tower is in model.safetensors and
  its transformers config in ``head.params``, so loading needs neither peft nor the
  original checkpoint.
- ``forensic``: hand-built forensic features of the pixels (``features/forensic.py``)
  → boosted trees kept as arrays (``heads/forensic.py``); the feature names are in
  ``backbone.features`` and checked on load. The shipped real-image detector is one.
- ``clip_fc`` / ``resnet_fc``: published detectors converted by ``synthtrace.zoo``
  (see docs/zoo.md); uncalibrated (no FPR thresholds) until calibrated.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import load_file as load_numpy
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import load_file as load_torch
from safetensors.torch import save_file as save_torch

from synthtrace import __version__
from synthtrace.batching import shape_batches
from synthtrace.errors import BundleError, ConfigError
from synthtrace.heads.calibration import Calibration
from synthtrace.records import Detection

BUNDLE_FORMAT = 1
ZOO_KINDS = ("clip_fc", "resnet_fc")  # converted published detectors, see synthtrace.zoo
KINDS = ("linear_probe", "cnn-small", "multilayer", "finetuned", "forensic", *ZOO_KINDS)
CONFIG_KEYS = ("format", "synthtrace_version", "kind", "backbone", "preprocess", "head", "labels", "calibration", "training",
               "validation")
WEIGHTS_FILE = "model.safetensors"
BUILTIN = "builtin"
BUILTIN_DIR = Path(__file__).resolve().parent / "weights" / "real-forensic"
"""The real-image detector shipped in the package (docs/real-world.md); ``from_pretrained("builtin")`` loads it."""
# Operating points a user can pick; "fpr_0.05" = the threshold that flagged 5 % of
# validation reals, "0.5" = calibrated probability 0.5.
OPERATING_POINTS = ("fpr_0.01", "fpr_0.05", "0.5")


@dataclass
class DetectorBundle:
    kind: str
    backbone: dict[str, Any]
    preprocess: dict[str, Any]
    head: dict[str, Any]
    calibration: Calibration
    training: dict[str, Any] = field(default_factory=dict)
    labels: tuple[str, str] = ("real", "fake")
    # Where the bundle was validated and how far it holds there (docs/verdict.md,
    # synthtrace.verdict.validation_block); {} = never validated on real images.
    validation: dict[str, Any] = field(default_factory=dict)
    model: Any = None  # CNNSmall (cnn-small) or LinearProbe (linear_probe)
    _backbone: Any = None  # lazily created Backbone for linear_probe bundles
    # Runtime only, never saved: how a linear_probe bundle's hf: backbone runs (backbones/speed.py).
    precision: str = "fp32"
    compile: bool = False

    # ------------------------------------------------------------------ I/O
    def config(self) -> dict[str, Any]:
        return {
            "format": BUNDLE_FORMAT,
            "synthtrace_version": __version__,
            "kind": self.kind,
            "backbone": self.backbone,
            "preprocess": self.preprocess,
            "head": self.head,
            "labels": list(self.labels),
            "calibration": self.calibration.to_dict(),
            "training": self.training,
            "validation": self.validation,
        }

    def save_pretrained(self, directory: str | Path) -> Path:
        """Validate, then write ``config.json`` and ``model.safetensors`` into ``directory``."""
        if self.kind not in KINDS:
            raise BundleError(f"bundle kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.model is None:
            raise BundleError("bundle has no trained model; train it before save_pretrained()")
        missing = [k for k in OPERATING_POINTS[:2] if k not in self.calibration.thresholds]
        if missing and self.kind not in ZOO_KINDS:  # converted bundles may be uncalibrated (see zoo)
            raise BundleError(f"bundle calibration lacks thresholds {missing}; fit calibration on validation data first")
        _check_validation(self.validation, "bundle validation block")
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        if self.kind in ("cnn-small", "multilayer", "finetuned", *ZOO_KINDS):
            state = {k: v.contiguous() for k, v in self.model.state_dict().items()}
            save_torch(state, str(out / WEIGHTS_FILE), metadata={"format": "pt"})
        else:
            save_numpy(self.model.state_dict(), str(out / WEIGHTS_FILE))
        (out / "config.json").write_text(json.dumps(self.config(), indent=2, sort_keys=False) + "\n")
        return out

    @classmethod
    def from_pretrained(cls, directory: str | Path, *, precision: str = "fp32", compile: bool = False) -> DetectorBundle:
        """Load a bundle directory (or ``"builtin"``, the shipped real-image detector); errors name
        the directory and what to do.

        ``precision`` ("fp32", "bf16", "int8") and ``compile`` choose the CPU fast path of a
        linear_probe bundle's hf: backbone (docs/cpu-speed.md); other kinds run in float32."""
        d = BUILTIN_DIR if str(directory) == BUILTIN else Path(directory)
        cfg_path = d / "config.json"
        if not cfg_path.is_file():
            raise BundleError(f"{d}: not a detector bundle (no config.json). Train one with `synthtrace train` or check the path.")
        try:
            cfg = json.loads(cfg_path.read_text())
        except json.JSONDecodeError as exc:
            raise BundleError(f"{cfg_path}: invalid JSON ({exc}); the bundle is damaged, re-create it") from exc
        unknown = set(cfg) - set(CONFIG_KEYS)
        if unknown:
            raise BundleError(f"{cfg_path}: unknown keys {sorted(unknown)}; valid keys: {list(CONFIG_KEYS)}")
        if cfg.get("format") != BUNDLE_FORMAT:
            raise BundleError(
                f"{cfg_path}: bundle format {cfg.get('format')!r} (written by synthtrace {cfg.get('synthtrace_version')}); "
                f"this synthtrace ({__version__}) reads format {BUNDLE_FORMAT}. Re-train or convert the bundle."
            )
        if cfg.get("kind") not in KINDS:
            raise BundleError(f"{cfg_path}: kind {cfg.get('kind')!r} is not one of {', '.join(KINDS)}")
        weights = d / WEIGHTS_FILE
        if not weights.is_file():
            raise BundleError(f"{d}: {WEIGHTS_FILE} is missing; the bundle is incomplete, re-create it")
        try:
            calibration = Calibration.from_dict(cfg["calibration"])
        except (ConfigError, KeyError, TypeError) as exc:
            raise BundleError(f"{cfg_path}: calibration is invalid ({exc})") from exc
        bundle = cls(
            kind=cfg["kind"], backbone=cfg["backbone"], preprocess=cfg["preprocess"], head=cfg["head"],
            calibration=calibration, training=cfg.get("training", {}), labels=tuple(cfg.get("labels", ("real", "fake"))),
            validation=_check_validation(cfg.get("validation", {}), f"{cfg_path}: validation"),
        )
        if bundle.kind == "cnn-small":
            from synthtrace.backbones.cnn import CNNSmall, CNNSmallConfig

            model = CNNSmall(CNNSmallConfig.from_dict(cfg["backbone"]["config"]))
            try:
                model.load_state_dict(load_torch(str(weights)))
            except RuntimeError as exc:
                raise BundleError(f"{weights}: weights do not match the configured network ({exc})") from exc
            bundle.model = model.eval()
        elif bundle.kind == "multilayer":
            from synthtrace.heads.multilayer import MultiLayerClassifier

            bundle.model = MultiLayerClassifier.from_state(cfg["head"]["params"], load_torch(str(weights)), where=str(weights))
        elif bundle.kind == "finetuned":
            from synthtrace.heads.lora import FineTunedClassifier

            bundle.model = FineTunedClassifier.from_state(cfg["head"]["params"], load_torch(str(weights)), where=str(weights))
        elif bundle.kind == "forensic":
            from synthtrace.features.forensic import FEATURE_NAMES
            from synthtrace.heads.forensic import ForensicHead

            _check_forensic_features(cfg["backbone"], cfg_path)
            bundle.model = ForensicHead.from_state(cfg["head"]["params"], load_numpy(str(weights)),
                                                   n_features=len(FEATURE_NAMES), where=str(weights))
        elif bundle.kind in ZOO_KINDS:
            from synthtrace.zoo.models import load_model

            bundle.model = load_model(bundle.kind, cfg["head"], load_torch(str(weights)), where=str(weights))
        else:
            from synthtrace.heads.linear_probe import LinearProbe

            bundle.model = LinearProbe.from_state(cfg["head"]["params"], load_numpy(str(weights)))
        if precision != "fp32" or compile:
            if bundle.kind != "linear_probe":
                raise ConfigError(f"{d}: precision {precision!r} / compile apply to linear_probe bundles on hf: backbones; "
                                  f"this bundle is kind {bundle.kind!r}, which runs in float32 (drop --precision/--compile)")
            from synthtrace.backbones.speed import PRECISIONS

            if precision not in PRECISIONS:
                raise ConfigError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
            bundle.precision, bundle.compile = precision, compile
        return bundle

    # ------------------------------------------------------------- scoring
    @property
    def name(self) -> str:
        return self.training.get("name") or f"{self.kind}:{self.backbone.get('id', '')}"

    def feature_backbone(self):
        """The frozen backbone of a linear_probe bundle, checked against the recorded weights."""
        if self._backbone is None:
            from synthtrace.backbones.registry import create_backbone

            bb = create_backbone(self.backbone["id"])
            recorded = self.backbone.get("weights_hash")
            if recorded and bb.weights_hash() != recorded:
                raise BundleError(
                    f"backbone {self.backbone['id']!r} has weights {bb.weights_hash()[:12]}..., but the bundle was trained "
                    f"on {recorded[:12]}...; the model files changed since training. Re-train the head or restore the weights."
                )
            self._backbone = bb
        return self._backbone

    def score_images(self, images: Sequence[np.ndarray], batch_size: int = 32) -> np.ndarray:
        """Raw scores (logits, higher = more likely generated) for decoded uint8 RGB images."""
        if self.kind == "cnn-small":
            from synthtrace.heads.cnn_small import CNNSmallClassifier

            clf = CNNSmallClassifier(self.model.config)
            clf.model_ = self.model
            return clf.decision_function(images)
        if self.kind == "forensic":
            from synthtrace.features.forensic import forensic_matrix

            return self.model.decision_function(forensic_matrix(images)) if len(images) else np.zeros(0, np.float32)
        if self.kind in ZOO_KINDS:
            from synthtrace.zoo.models import score_images

            return score_images(self, images)
        if self.kind == "finetuned":
            return self.model.score_images(images, batch_size) if len(images) else np.zeros(0, np.float32)
        if self.kind == "multilayer":
            from synthtrace.heads.multilayer import score_images as score_multilayer

            return score_multilayer(self, images, batch_size)
        bb = self.feature_backbone()
        if not images:
            return np.zeros(0, np.float32)
        pixels = [bb.preprocess(im) for im in images]
        feats: list[np.ndarray | None] = [None] * len(pixels)
        with torch.inference_mode():
            for chunk in shape_batches((px.shape for px in pixels), batch_size):
                batch = torch.from_numpy(np.stack([pixels[i] for i in chunk]))
                out = bb.embed(batch, layer=self.backbone["layer"], pooling=self.backbone["pooling"],
                               precision=self.precision, compile=self.compile).float().numpy()
                for i, f in zip(chunk, out):
                    feats[i] = f
        return self.model.decision_function(np.stack(feats))

    def threshold(self, operating_point: str = "0.5") -> float:
        """Raw-score threshold of an operating point (see OPERATING_POINTS)."""
        if operating_point == "0.5":
            return self._score_at_probability(0.5)
        if operating_point in OPERATING_POINTS and operating_point not in self.calibration.thresholds:
            raise ConfigError(
                f"operating point {operating_point!r}: bundle {self.name!r} is uncalibrated (no FPR thresholds); "
                "use operating point 0.5 or fit thresholds with `synthtrace zoo calibrate BUNDLE --manifest M`"
            )
        if operating_point not in self.calibration.thresholds:
            raise ConfigError(f"operating point {operating_point!r}: expected one of {', '.join(OPERATING_POINTS)}")
        return self.calibration.thresholds[operating_point]

    def _score_at_probability(self, p: float) -> float:
        cal = self.calibration
        if cal.method == "platt":
            a, b = cal.params["a"], cal.params["b"]
            return float((np.log(p / (1 - p)) - b) / a)
        return 0.0  # temperature scaling keeps 0.5 at logit 0

    def detections(self, scores: np.ndarray, operating_point: str = "0.5") -> list[Detection]:
        probs = self.calibration.probability(scores) if len(scores) else np.zeros(0)
        t = self.threshold(operating_point)
        return [
            Detection(score=float(s), probability=float(p), decision="fake" if s >= t else "real", threshold=t, detector=self.name)
            for s, p in zip(scores, probs)
        ]


def _check_forensic_features(backbone: dict[str, Any], where: Path) -> None:
    """A forensic bundle names its features; they must be this synthtrace's, in this order."""
    from synthtrace.features.forensic import FEATURE_NAMES

    if list(backbone.get("features") or []) != list(FEATURE_NAMES):
        raise BundleError(f"{where}: the bundle was trained on other forensic features than this synthtrace computes "
                          f"({len(backbone.get('features') or [])} named, {len(FEATURE_NAMES)} here); re-train it with "
                          "`synthtrace train --backbone forensic` or use the synthtrace version that wrote it")


def _check_validation(block: Any, where: str) -> dict[str, Any]:
    """The validation block, type-checked (fields in docs/verdict.md); older bundles have none."""
    if not isinstance(block, dict):
        raise BundleError(f"{where}: expected a JSON object, got {type(block).__name__}; "
                          "build it with synthtrace.verdict.validation_block or leave it out")
    problems = []
    if "real_world" in block and not isinstance(block["real_world"], bool):
        problems.append(f"real_world must be true or false, got {block['real_world']!r}")
    for key in ("reliability", "auc"):
        x = block.get(key)
        if key in block and not (isinstance(x, (int, float)) and not isinstance(x, bool) and 0.0 <= x <= 1.0):
            problems.append(f"{key} must be a number in 0..1, got {x!r}")
    for key in ("n_real", "n_fake"):
        x = block.get(key)
        if key in block and not (isinstance(x, int) and not isinstance(x, bool) and x >= 0):
            problems.append(f"{key} must be a count >= 0, got {x!r}")
    if block.get("real_world") is True and "reliability" not in block:
        problems.append("real_world is true but no reliability was recorded")
    if problems:
        raise BundleError(f"{where}: {'; '.join(problems)}. Re-measure it with synthtrace.verdict.validation_block")
    return dict(block)


__all__ = ["BUILTIN", "DetectorBundle", "OPERATING_POINTS"]
