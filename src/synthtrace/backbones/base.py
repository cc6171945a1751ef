"""The Backbone interface: a frozen image encoder that turns pixels into vectors.

Detectors, discovery and the feature cache only see this interface, so a Hugging
Face tower and the built-in CNN are interchangeable, and every feature can be
traced to (backbone id, weights hash, preprocessing, layer, pooling).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod

import torch

from synthtrace.backbones.preprocess import PreprocessConfig
from synthtrace.errors import ConfigError


class Backbone(ABC):
    """A frozen encoder. Subclasses set ``id``, ``preprocess`` and ``model``."""

    id: str
    preprocess: PreprocessConfig
    model: torch.nn.Module
    _weights_hash: str | None = None

    def weights_hash(self) -> str:
        """sha256 over parameter/buffer names, dtypes, shapes and bytes.

        Identifies the weights independently of where they were loaded from, so a
        cache or bundle notices when a local model directory was overwritten.
        Computed once (it reads every weight) and memoised.
        """
        if self._weights_hash is None:
            h = hashlib.sha256()
            for name, tensor in sorted(self.model.state_dict().items()):
                t = tensor.detach().cpu().contiguous().reshape(-1)
                h.update(f"{name}|{t.dtype}|{tuple(tensor.shape)}\n".encode())
                h.update(t.view(torch.uint8).numpy().data if t.numel() else b"")
            self._weights_hash = h.hexdigest()
        return self._weights_hash

    @abstractmethod
    def layer_names(self) -> list[str]:
        """Valid ``layer`` values, e.g. ``["0", ..., "12", "last"]``."""

    @abstractmethod
    def poolings(self) -> list[str]:
        """Valid ``pooling`` values, e.g. ``["cls", "mean", "embeds"]``."""

    def precisions(self) -> list[str]:
        """Valid ``precision`` values for ``embed`` (``"fp32"`` always; ``hf:`` towers add
        ``"bf16"`` and ``"int8"``, see ``backbones/speed.py``)."""
        return ["fp32"]

    def validate(self, layer: str, pooling: str) -> None:
        """Raise ConfigError unless ``layer`` and ``pooling`` are valid here.

        Called before any work so a typo fails before thousands of files are hashed.
        """
        if layer not in self.layer_names():
            raise ConfigError(
                f"backbone {self.id!r} has no layer {layer!r}; valid layers: {self.layer_names()}."
            )
        if pooling not in self.poolings():
            raise ConfigError(
                f"backbone {self.id!r} has no pooling {pooling!r}; valid poolings: {self.poolings()}."
            )

    @abstractmethod
    def embed(self, pixels: torch.Tensor, *, layer: str = "last", pooling: str = "cls") -> torch.Tensor:
        """Preprocessed float pixels (B, 3, H, W) → features (B, D) float32, in inference mode."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r})"
