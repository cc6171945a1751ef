"""The detectors synthtrace can convert: a plain tuple of frozen records (not a registry)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from synthtrace.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
CLIP_L14 = "hf:openai/clip-vit-large-patch14"


@dataclass(frozen=True)
class ZooEntry:
    """One published detector: where its weights come from and how they are read.

    ``checkpoint`` describes the file layout ``synthtrace zoo convert`` expects;
    ``preprocess`` is the test-time pipeline of the original code, spelled out.
    """

    name: str
    title: str
    paper: str
    source: str
    weights_file: str
    licence: str
    checkpoint: str
    architecture: str
    preprocess: dict[str, Any]
    trained_on: str
    kind: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _prep(mean: tuple[float, ...], std: tuple[float, ...], crop: int | None = None, **extra: Any) -> dict[str, Any]:
    return {"resize": None, "crop": crop, "mean": list(mean), "std": list(std), "interpolation": "bicubic",
            "rescale": 1 / 255, "resize_mode": "shortest_edge", **extra}


ZOO: tuple[ZooEntry, ...] = (
    ZooEntry(
        name="UniversalFakeDetect",
        title="Towards Universal Fake Image Detectors that Generalize Across Generative Models",
        paper="Ojha, Li, Lee. CVPR 2023",
        source="https://github.com/WisconsinAIVision/UniversalFakeDetect (pretrained_weights/fc_weights.pth)",
        weights_file="fc_weights.pth",
        licence="MIT (repository LICENSE); the CLIP ViT-L/14 backbone is OpenAI's, MIT",
        checkpoint='{"weight": [1, 768], "bias": [1]}',
        architecture="fc on the projected CLIP ViT-L/14 image embedding (image_embeds), no L2 normalisation",
        preprocess=_prep(CLIP_MEAN, CLIP_STD, crop=224, crop_offsets="torchvision"),
        trained_on="ProGAN (ForenSynths training set, 20 classes)",
        kind="clip_fc",
    ),
    ZooEntry(
        name="CNNDetection",
        title="CNN-generated images are surprisingly easy to spot... for now",
        paper="Wang, Wang, Zhang, Owens, Efros. CVPR 2020",
        source="https://github.com/PeterWang512/CNNDetection (blur_jpg_prob0.5.pth, blur_jpg_prob0.1.pth)",
        weights_file="blur_jpg_prob0.5.pth",
        licence="CC BY-NC-SA 4.0 (repository LICENSE.txt): non-commercial use only",
        checkpoint='{"model": torchvision ResNet-50 state_dict with fc [1, 2048]}',
        architecture="ResNet-50 (torchvision layout, mapped onto transformers ResNetModel) + fc [1, 2048]",
        preprocess=_prep(IMAGENET_MEAN, IMAGENET_STD),
        trained_on="ProGAN (ForenSynths training set, 20 classes), blur/JPEG augmentation",
        kind="resnet_fc",
    ),
    ZooEntry(
        name="NPR",
        title="Rethinking the Up-Sampling Operations in CNN-based Generative Network for Generalizable Deepfake Detection",
        paper="Tan, Zhao, Wei, Gu, Liu, Wei. CVPR 2024",
        source="https://github.com/chuangchuangtan/NPR-DeepfakeDetection (NPR.pth)",
        weights_file="NPR.pth",
        licence="none stated (no licence file in the repository): all rights reserved by default; ask the authors before redistributing",
        checkpoint="torchvision-style state_dict: conv1 [64, 3, 3, 3], bn1, layer1 (3 bottlenecks), layer2 (4), fc1 [1, 512]",
        architecture="truncated ResNet-50 (3x3 stride-2 stem, layer1, layer2) + fc1 [1, 512] on (x - up(down(x))) * 2/3, nearest x0.5 then x2",
        preprocess=_prep(IMAGENET_MEAN, IMAGENET_STD, even_crop=True),
        trained_on="ProGAN, 4 classes (car, cat, chair, horse)",
        kind="resnet_fc",
    ),
)


def get_entry(name: str) -> ZooEntry:
    for e in ZOO:
        if e.name.lower() == name.lower():
            return e
    raise ConfigError(f"unknown zoo detector {name!r}; available: {', '.join(e.name for e in ZOO)} (see `synthtrace zoo list`)")
