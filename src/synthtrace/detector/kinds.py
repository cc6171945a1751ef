"""The bundle kind table: ``{kind: class}``, one class per kind with one interface.

Every kind answers the same three questions, so :class:`~synthtrace.detector.bundle.DetectorBundle`
never branches on its kind:

- ``load(cfg, weights)``: rebuild the fitted model from ``config.json`` and the safetensors file;
- ``score(bundle, images, batch_size)``: raw scores (higher = more likely generated) for decoded
  uint8 RGB images;
- ``features(bundle, images)``: the pooled features a probe, an attribution head or discovery
  can use (kinds that have none raise ``ConfigError``).

Kinds (docs/zoo.md for the converted ones):
- ``linear_probe``: frozen backbone (``hf:...``) features → LinearProbe; the backbone's weights
  are not copied, their hash is checked on load.
- ``cnn-small``: the whole network, trained end to end.
- ``multilayer``: frozen ``hf:`` backbone, every layer's patch tokens and attention keys → the
  AdaptCLIP-style head (``heads/multilayer.py``).
- ``finetuned``: an ``hf:`` tower fine-tuned with LoRA (adapters merged) or fully, plus its
  linear head (``heads/lora.py``); loading needs neither peft nor the original checkpoint.
- ``forensic``: hand-built forensic features (``features/forensic.py``) → boosted trees kept as
  arrays (``heads/forensic.py``). The shipped real-image detector is one.
- ``clip_fc`` / ``resnet_fc``: published detectors converted by ``synthtrace.training.convert``;
  uncalibrated until calibrated.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from safetensors.numpy import load_file as load_numpy
from safetensors.torch import load_file as load_torch

from synthtrace.backbones.cnn import CNNSmall, CNNSmallConfig
from synthtrace.batching import shape_batches
from synthtrace.errors import BundleError, ConfigError
from synthtrace.features.forensic import FEATURE_NAMES, forensic_matrix
from synthtrace.features.layers import layer_tokens
from synthtrace.heads.cnn_small import CNNSmallClassifier
from synthtrace.heads.forensic import ForensicHead
from synthtrace.heads.linear_probe import LinearProbe
from synthtrace.heads.lora import FineTunedClassifier
from synthtrace.heads.multilayer import MultiLayerClassifier
from synthtrace.zoo import models as zoo_models

if TYPE_CHECKING:
    from synthtrace.detector.bundle import DetectorBundle


class Kind:
    """One bundle kind. ``torch_weights``: the weights file holds torch tensors (else numpy)."""

    name: ClassVar[str]
    torch_weights: ClassVar[bool] = True
    needs_calibration: ClassVar[bool] = True

    @classmethod
    def load(cls, cfg: dict[str, Any], weights: Path) -> Any:
        raise NotImplementedError

    @classmethod
    def score(cls, bundle: DetectorBundle, images: Sequence[np.ndarray], batch_size: int) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    def features(cls, bundle: DetectorBundle, images: Sequence[np.ndarray]) -> np.ndarray:
        raise ConfigError(f"bundle {bundle.name!r} (kind {cls.name!r}) gives no features for attribution or discovery; "
                          "use a cnn-small bundle or the fingerprint features")


def _hf_embeddings(bundle: DetectorBundle, images: Sequence[np.ndarray], batch_size: int) -> np.ndarray:
    bb = bundle.feature_backbone()
    pixels = [bb.preprocess(im) for im in images]
    feats: list[np.ndarray | None] = [None] * len(pixels)
    with torch.inference_mode():
        for chunk in shape_batches((px.shape for px in pixels), batch_size):
            batch = torch.from_numpy(np.stack([pixels[i] for i in chunk]))
            out = bb.embed(batch, layer=bundle.backbone["layer"], pooling=bundle.backbone["pooling"],
                           precision=bundle.run.precision, compile=bundle.run.compile).float().numpy()
            for i, f in zip(chunk, out):
                feats[i] = f
    return np.stack(feats)


class LinearProbeKind(Kind):
    name = "linear_probe"
    torch_weights = False

    @classmethod
    def load(cls, cfg, weights):
        return LinearProbe.from_state(cfg["head"]["params"], load_numpy(str(weights)))

    @classmethod
    def score(cls, bundle, images, batch_size):
        return bundle.model.decision_function(_hf_embeddings(bundle, images, batch_size))

    @classmethod
    def features(cls, bundle, images):
        return _hf_embeddings(bundle, images, 32)


class CNNSmallKind(Kind):
    name = "cnn-small"

    @classmethod
    def load(cls, cfg, weights):
        model = CNNSmall(CNNSmallConfig.from_dict(cfg["backbone"]["config"]))
        try:
            model.load_state_dict(load_torch(str(weights)))
        except RuntimeError as exc:
            raise BundleError(f"{weights}: weights do not match the configured network ({exc})") from exc
        return model.eval()

    @classmethod
    def score(cls, bundle, images, batch_size):
        return CNNSmallClassifier.from_model(bundle.model).decision_function(images)

    @classmethod
    def features(cls, bundle, images):
        bb = bundle.cnn_backbone()
        with torch.inference_mode():
            return np.concatenate([bb.embed(torch.as_tensor(bb.preprocess(np.asarray(im)))[None]).numpy()
                                   for im in images])


class MultiLayerKind(Kind):
    name = "multilayer"

    @classmethod
    def load(cls, cfg, weights):
        return MultiLayerClassifier.from_state(cfg["head"]["params"], load_torch(str(weights)), where=str(weights))

    @classmethod
    def score(cls, bundle, images, batch_size):
        bb = bundle.feature_backbone()
        pixels = [bb.preprocess(im) for im in images]
        scores = np.zeros(len(pixels), dtype=np.float64)
        for chunk in shape_batches((px.shape for px in pixels), batch_size):
            P, A = layer_tokens(bb, torch.from_numpy(np.stack([pixels[i] for i in chunk])))
            scores[list(chunk)] = bundle.model.decision_function(P, A)
        return scores


class FineTunedKind(Kind):
    name = "finetuned"

    @classmethod
    def load(cls, cfg, weights):

        return FineTunedClassifier.from_state(cfg["head"]["params"], load_torch(str(weights)), where=str(weights))

    @classmethod
    def score(cls, bundle, images, batch_size):
        return bundle.model.score_images(images, batch_size)


class ForensicKind(Kind):
    name = "forensic"
    torch_weights = False

    @classmethod
    def load(cls, cfg, weights):
        names = list(cfg["backbone"].get("features") or [])
        if names != list(FEATURE_NAMES):
            raise BundleError(f"{weights.parent}: the bundle was trained on other forensic features than this synthtrace "
                              f"computes ({len(names)} named, {len(FEATURE_NAMES)} here); re-train it with "
                              "`synthtrace train --backbone forensic` or use the synthtrace version that wrote it")
        return ForensicHead.from_state(cfg["head"]["params"], load_numpy(str(weights)), n_features=len(FEATURE_NAMES),
                                       where=str(weights))

    @classmethod
    def score(cls, bundle, images, batch_size):
        return bundle.model.decision_function(forensic_matrix(images))


class _ZooKind(Kind):
    needs_calibration = False  # converted bundles may be uncalibrated (docs/zoo.md)

    @classmethod
    def load(cls, cfg, weights):
        return zoo_models.load_model(cls.name, cfg["head"], load_torch(str(weights)), where=str(weights))

    @classmethod
    def score(cls, bundle, images, batch_size):
        return zoo_models.score_images(bundle, images)


class ClipFCKind(_ZooKind):
    name = "clip_fc"


class ResNetFCKind(_ZooKind):
    name = "resnet_fc"


KINDS: dict[str, type[Kind]] = {k.name: k for k in (LinearProbeKind, CNNSmallKind, MultiLayerKind, FineTunedKind,
                                                      ForensicKind, ClipFCKind, ResNetFCKind)}
assert set(zoo_models.ZOO_KINDS) <= set(KINDS)


def kind_of(name: str, where: Any) -> type[Kind]:
    try:
        return KINDS[name]
    except KeyError:
        raise BundleError(f"{where}: kind {name!r} is not one of {', '.join(KINDS)}") from None


__all__ = ["KINDS", "Kind", "kind_of"]
