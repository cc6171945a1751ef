"""cnn-small: a compact CNN trained from scratch for generator fingerprints.

Fingerprints of up-sampling live at the highest frequencies (periods of 2, 4 and
8 pixels), so the network keeps full resolution for its first two layers and
never resizes its input: a stride-2 stem or a resize to 224 would erase exactly
the evidence it needs. Global average pooling makes it fully convolutional, so
it trains on crops and runs on whole images.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from synthtrace.backbones.base import Backbone
from synthtrace.backbones.preprocess import PreprocessConfig
from synthtrace.errors import ConfigError, reject_unknown_keys

# Pixels in [-1, 1]; no resize or crop here (the network crops large inputs itself).
CNN_PREPROCESS = PreprocessConfig(
    resize=None, crop=None, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), interpolation="bicubic"
)


@dataclass(frozen=True)
class CNNSmallConfig:
    widths: tuple[int, ...] = (16, 16, 32, 32, 64, 64)
    strides: tuple[int, ...] = (1, 1, 2, 1, 2, 2)
    # Larger inputs are centre-cropped to this size (aligned to the 8x8 JPEG grid):
    # the evidence is local, and a 12-megapixel image would otherwise cost seconds.
    max_side: int = 256

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> CNNSmallConfig:
        reject_unknown_keys(cls, d, "cnn-small config")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


class CNNSmall(nn.Module):
    def __init__(self, config: CNNSmallConfig = CNNSmallConfig()):
        super().__init__()
        if len(config.widths) != len(config.strides):
            raise ConfigError(f"cnn-small: {len(config.widths)} widths but {len(config.strides)} strides")
        self.config = config
        layers: list[nn.Module] = []
        c_in = 3
        for width, stride in zip(config.widths, config.strides):
            layers += [nn.Conv2d(c_in, width, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            c_in = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c_in, 1)

    @property
    def feature_dim(self) -> int:
        return self.config.widths[-1]

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = self.config.max_side
        top = max(0, (h - m) // 2) // 8 * 8
        left = max(0, (w - m) // 2) // 8 * 8
        return x[..., top : top + m, left : left + m]

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(self.crop(x)).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logit of "generated", shape (B,)."""
        return self.classifier(self.embed(x)).squeeze(1)


class CNNSmallBackbone(Backbone):
    """A cnn-small network's pooled features, for probes and open-world discovery.

    ``model``: a trained network (``DetectorBundle.cnn_backbone()`` gives a bundle's);
    without it the network has random weights (useful only for tests)."""

    def __init__(self, model: CNNSmall | None = None, *, config: CNNSmallConfig | None = None, id: str = "cnn-small"):
        self.model = model if model is not None else CNNSmall(config or CNNSmallConfig())
        self.id = id
        self.model.eval()
        self.preprocess = CNN_PREPROCESS

    def layer_names(self) -> list[str]:
        return ["last"]

    def poolings(self) -> list[str]:
        return ["mean"]

    @torch.inference_mode()
    def embed(self, pixels: torch.Tensor, *, layer: str = "last", pooling: str = "mean") -> torch.Tensor:
        self.validate(layer, pooling)
        return self.model.embed(pixels.float())
