"""Frozen image encoders behind one interface; see ``registry.create_backbone``.

``HFBackbone`` lives in ``synthtrace.backbones.hf`` and is imported on use, so
importing this package does not import transformers.
"""

from synthtrace.backbones.base import Backbone
from synthtrace.backbones.preprocess import PreprocessConfig
from synthtrace.backbones.registry import create_backbone, list_backbones

__all__ = ["Backbone", "PreprocessConfig", "create_backbone", "list_backbones"]
