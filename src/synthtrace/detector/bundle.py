"""DetectorBundle: a self-describing detector, saved as config.json + safetensors.

A bundle carries everything needed to reproduce a score: backbone id and weights
hash, preprocessing spelled out, layer and pooling, head, labels, calibration and
the hash of the manifest it was trained on. No pickle anywhere: a bundle someone
downloads can be inspected as JSON and loaded without running its code.

Kinds and what each stores: ``synthtrace.detector.kinds`` (one table, one class per kind).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import save_file as save_torch

from synthtrace import __version__
from synthtrace.backbones.base import Backbone
from synthtrace.backbones.cnn import CNNSmallBackbone
from synthtrace.backbones.registry import create_backbone
from synthtrace.backbones.speed import Precision
from synthtrace.detector.attribution import Attribution, bind_attribution, has_attribution_head, load_attribution_head
from synthtrace.detector.kinds import KINDS, kind_of
from synthtrace.errors import BundleError, ConfigError, SynthtraceError
from synthtrace.heads.calibration import Calibration
from synthtrace.records import Detection

BUNDLE_FORMAT = 1
CONFIG_KEYS = ("format", "synthtrace_version", "kind", "backbone", "preprocess", "head", "labels", "calibration", "training",
               "validation")
WEIGHTS_FILE = "model.safetensors"
BUILTIN = "builtin"
BUILTIN_DIR = Path(__file__).resolve().parent.parent / "weights" / "real-forensic"
"""The real-image detector shipped in the package (docs/real-world.md); ``from_pretrained("builtin")`` loads it."""
# Operating points a user can pick; "fpr_0.05" = the threshold that flagged 5 % of
# validation reals, "0.5" = calibrated probability 0.5.
OPERATING_POINTS = ("fpr_0.01", "fpr_0.05", "0.5")


@dataclass(frozen=True)
class RunOptions:
    """How a bundle runs here, chosen by the user, never saved: the CPU fast path of an
    ``hf:`` backbone (docs/cpu-speed.md). Other kinds run in float32."""

    precision: Precision = Precision()
    compile: bool = False

    @property
    def default(self) -> bool:
        return self.precision == Precision() and not self.compile


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
    model: Any = None  # the fitted model of this kind (synthtrace.detector.kinds)
    # Runtime only, never saved:
    run: RunOptions = field(default_factory=RunOptions)
    directory: Path | None = None  # where it was loaded from
    attribution: Attribution | None = None  # its attribution head, when the folder has one
    attribution_error: str | None = None  # why a head in the folder could not be used (the bundle still scores)
    _backbone: Backbone | None = None  # lazily created frozen backbone (hf: kinds)

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
        kind = kind_of(self.kind, "bundle")
        if self.model is None:
            raise BundleError("bundle has no trained model; train it before save_pretrained()")
        missing = [k for k in OPERATING_POINTS[:2] if k not in self.calibration.thresholds]
        if missing and kind.needs_calibration:
            raise BundleError(f"bundle calibration lacks thresholds {missing}; fit calibration on validation data first")
        _check_validation(self.validation, "bundle validation block")
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        if kind.torch_weights:
            state = {k: v.contiguous() for k, v in self.model.state_dict().items()}
            save_torch(state, str(out / WEIGHTS_FILE), metadata={"format": "pt"})
        else:
            save_numpy(self.model.state_dict(), str(out / WEIGHTS_FILE))
        (out / "config.json").write_text(json.dumps(self.config(), indent=2, sort_keys=False) + "\n")
        return out

    @classmethod
    def from_pretrained(cls, directory: str | Path, *, run: RunOptions = RunOptions()) -> DetectorBundle:
        """Load a bundle directory (or ``"builtin"``, the shipped real-image detector) with its
        attribution head if it has one; errors name the directory and what to do."""
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
        kind = kind_of(cfg.get("kind"), cfg_path)
        weights = d / WEIGHTS_FILE
        if not weights.is_file():
            raise BundleError(f"{d}: {WEIGHTS_FILE} is missing; the bundle is incomplete, re-create it")
        try:
            calibration = Calibration.from_dict(cfg["calibration"])
        except (ConfigError, KeyError, TypeError) as exc:
            raise BundleError(f"{cfg_path}: calibration is invalid ({exc})") from exc
        if not run.default and kind.name != "linear_probe":
            raise ConfigError(f"{d}: precision {str(run.precision)!r} / compile apply to linear_probe bundles on hf: "
                              f"backbones; this bundle is kind {kind.name!r}, which runs in float32 (drop "
                              "--precision/--compile)")
        bundle = cls(
            kind=kind.name, backbone=cfg["backbone"], preprocess=cfg["preprocess"], head=cfg["head"],
            calibration=calibration, training=cfg.get("training", {}), labels=tuple(cfg.get("labels", ("real", "fake"))),
            validation=_check_validation(cfg.get("validation", {}), f"{cfg_path}: validation"),
            model=kind.load(cfg, weights), run=run, directory=d,
        )
        if has_attribution_head(d):
            try:
                bundle.attribution = bind_attribution(load_attribution_head(d), bundle=bundle, directory=d)
            except SynthtraceError as exc:  # a broken head must not stop the detector: scans say why it is missing
                bundle.attribution_error = f"{type(exc).__name__}: {exc}"
        return bundle

    # ------------------------------------------------------------- scoring
    @property
    def name(self) -> str:
        return self.training.get("name") or f"{self.kind}:{self.backbone.get('id', '')}"

    def feature_backbone(self) -> Backbone:
        """The frozen backbone of an hf: bundle, checked against the recorded weights."""
        if self._backbone is None:
            bb = create_backbone(self.backbone["id"])
            recorded = self.backbone.get("weights_hash")
            if recorded and bb.weights_hash() != recorded:
                raise BundleError(
                    f"backbone {self.backbone['id']!r} has weights {bb.weights_hash()[:12]}..., but the bundle was trained "
                    f"on {recorded[:12]}...; the model files changed since training. Re-train the head or restore the weights."
                )
            self._backbone = bb
        return self._backbone

    def cnn_backbone(self) -> CNNSmallBackbone:
        """A cnn-small bundle's trained network as a backbone (pooled features), no second load."""
        if self.kind != "cnn-small":
            raise BundleError(f"{self.directory or self.name}: is a {self.kind!r} bundle; cnn-small features need a "
                              "cnn-small bundle")
        if self._backbone is None:
            where = self.directory.resolve() if self.directory else self.name
            self._backbone = CNNSmallBackbone(self.model, id=f"cnn-small:{where}")
        return self._backbone

    def score_images(self, images: Sequence[np.ndarray], batch_size: int = 32) -> np.ndarray:
        """Raw scores (logits, higher = more likely generated) for decoded uint8 RGB images."""
        if not len(images):
            return np.zeros(0, np.float32)
        return KINDS[self.kind].score(self, images, batch_size)

    def features(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Pooled features of decoded RGB images (kinds that have them: cnn-small, linear_probe)."""
        return KINDS[self.kind].features(self, images)

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


__all__ = ["BUILTIN", "DetectorBundle", "OPERATING_POINTS", "RunOptions"]
