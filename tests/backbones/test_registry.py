from __future__ import annotations

import subprocess
import sys
from collections import OrderedDict

import pytest

from synthtrace.backbones import create_backbone, list_backbones, registry
from synthtrace.errors import ConfigError


def test_unknown_name_lists_builtins_and_hf_pattern():
    with pytest.raises(ConfigError, match=r"unknown backbone 'clip-large'; available: cnn-small, hf:<hub id or local dir>"):
        create_backbone("clip-large")


def test_hub_like_name_without_prefix_gets_a_hint():
    with pytest.raises(ConfigError, match="Did you mean 'hf:openai/clip-vit-base-patch32'"):
        create_backbone("openai/clip-vit-base-patch32")


def test_empty_hf_name():
    with pytest.raises(ConfigError, match="names no model"):
        create_backbone("hf:")


def test_list_backbones():
    names = [n for n, _ in list_backbones()]
    assert names == ["hf:<hub id or local dir>", "cnn-small"]
    assert all(desc for _, desc in list_backbones())


def test_builtins_resolve_lazily_from_import_strings(monkeypatch):
    monkeypatch.setitem(registry._BUILTINS, "fake", ("collections:OrderedDict", "a test entry"))
    assert isinstance(create_backbone("fake", a=1), OrderedDict)


def test_importing_the_registry_does_not_import_builtins_or_transformers():
    code = (
        "import sys, synthtrace.backbones as b; b.list_backbones(); "
        "print('synthtrace.backbones.cnn' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
