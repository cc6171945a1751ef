"""Read a published PyTorch checkpoint without running its code.

``torch.load(..., weights_only=True, map_location="cpu")`` only: the restricted
unpickler accepts tensors, dicts, lists and primitive values and refuses every
other global (a pickled module, optimizer class, ``argparse.Namespace`` ...).
A file it refuses is refused here too, with the reason; nothing falls back to a
full unpickle.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from synthtrace.errors import BundleError, InputError


def load_checkpoint(path: str | Path) -> Any:
    """The object stored in ``path``, loaded with the weights-only unpickler on CPU."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"checkpoint {p}: no such file; pass the file you downloaded with --weights")
    try:
        return torch.load(p, weights_only=True, map_location="cpu")
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError or ValueError by version
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        if found:
            text = f"it stores the Python object {found.group(1)}, which would have to be unpickled"
        else:
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BundleError(
            f"checkpoint {p}: refused by the weights-only loader ({text}). synthtrace never unpickles code "
            "from a downloaded file: the checkpoint must hold only tensors, dicts and plain values. If it "
            "was saved with extra objects (optimizer, options), re-save only its state_dict in a trusted "
            "environment, or use a safetensors file."
        ) from None


def tensor_dict(obj: Any, *, where: str) -> dict[str, torch.Tensor]:
    """Check that ``obj`` is a flat ``{name: tensor}`` mapping and return a plain dict."""
    if not isinstance(obj, Mapping):
        raise BundleError(f"{where}: expected a dict of tensors, got {type(obj).__name__}")
    out: dict[str, torch.Tensor] = {}
    for k, v in obj.items():
        if not isinstance(k, str) or not isinstance(v, torch.Tensor):
            raise BundleError(f"{where}: entry {k!r} is {type(v).__name__}, expected a tensor keyed by name")
        out[k] = v
    return out


def strip_prefix(state: dict[str, torch.Tensor], prefix: str = "module.") -> dict[str, torch.Tensor]:
    """Drop a DataParallel ``module.`` prefix when every key carries it."""
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return state


def expect_shape(state: dict[str, torch.Tensor], key: str, shape: tuple[int, ...], *, where: str) -> torch.Tensor:
    if key not in state:
        raise BundleError(f"{where}: key {key!r} is missing; keys present: {sorted(state)[:12]}")
    t = state[key]
    if tuple(t.shape) != shape:
        raise BundleError(f"{where}: {key!r} has shape {list(t.shape)}, expected {list(shape)}")
    return t
