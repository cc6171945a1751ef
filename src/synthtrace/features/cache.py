"""Content-addressed on-disk cache of feature vectors.

Layout::

    cache_dir/
      <backbone-slug>-<hash>__<layer>__<pooling>/   one namespace per (backbone id, layer, pooling)
        key.json                                    the full key the vectors were computed under
        ab/abcdef....npy                            one float32 vector per image sha256

Why this shape: a different backbone, layer or pooling gets its own folder and
never collides; the rest of the key (weights hash, preprocessing, synthtrace
version) is checked against key.json when the namespace is opened, so vectors
computed under other weights or preprocessing are *detected* (CacheMismatchError
naming the differing part) instead of silently reused. One small .npy per image
makes hits a single file read, writes atomic (rename), and concurrent runs safe.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

import synthtrace
from synthtrace.errors import CacheMismatchError

_FORMAT = 1


@dataclass(frozen=True)
class CacheKey:
    """Everything a cached vector depends on, besides the image bytes (its sha256)."""

    backbone_id: str
    weights_hash: str
    preprocess: str  # PreprocessConfig.digest()
    layer: str
    pooling: str
    synthtrace_version: str

    @classmethod
    def for_backbone(cls, backbone: Any, *, layer: str, pooling: str) -> CacheKey:
        return cls(
            backbone_id=backbone.id,
            weights_hash=backbone.weights_hash(),
            preprocess=backbone.preprocess.digest(),
            layer=layer,
            pooling=pooling,
            synthtrace_version=synthtrace.__version__,
        )

    def namespace(self) -> str:
        """Folder name: readable, filesystem-safe, unique per (backbone id, layer, pooling)."""
        ident = f"{self.backbone_id}\n{self.layer}\n{self.pooling}"
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", self.backbone_id).strip("-.")[-48:]
        short = hashlib.sha256(ident.encode()).hexdigest()[:8]
        return f"{slug}-{short}__{_safe(self.layer)}__{_safe(self.pooling)}"


class FeatureCache:
    """A cache root; ``open(key)`` gives the namespace for one key."""

    def __init__(self, cache_dir: str | Path) -> None:
        self.root = Path(cache_dir)

    def open(self, key: CacheKey, *, refresh: bool = False, details: dict[str, Any] | None = None) -> FeatureNamespace:
        """Open (creating if needed) the namespace for ``key``.

        Raises CacheMismatchError when the namespace holds vectors computed under a
        different key. ``refresh=True`` instead deletes such a namespace and starts
        afresh (stale vectors must not survive next to new ones). ``details`` (e.g.
        the full preprocessing dict) is stored in key.json to make errors readable.
        """
        folder = self.root / key.namespace()
        key_file = folder / "key.json"
        if key_file.is_file():
            stored = json.loads(key_file.read_text())
            diffs = _differences(stored.get("key", {}), asdict(key))
            if not diffs:
                return FeatureNamespace(folder, key)
            if not refresh:
                raise CacheMismatchError(_mismatch_message(folder, diffs, stored.get("details", {}), details))
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        _atomic_write(key_file, json.dumps({"format": _FORMAT, "key": asdict(key), "details": details or {}}, indent=2).encode())
        return FeatureNamespace(folder, key)


class FeatureNamespace:
    """Vectors for one CacheKey, addressed by image sha256."""

    def __init__(self, folder: Path, key: CacheKey) -> None:
        self.folder, self.key = folder, key

    def path(self, sha256: str) -> Path:
        return self.folder / sha256[:2] / f"{sha256}.npy"

    def get(self, sha256: str) -> np.ndarray | None:
        """The cached vector, or None when absent or unreadable (it is then recomputed)."""
        try:
            vec = np.load(self.path(sha256), allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError):
            return None
        if vec.ndim != 1 or vec.dtype != np.float32:
            return None
        return vec

    def put(self, sha256: str, vector: np.ndarray) -> None:
        p = self.path(sha256)
        p.parent.mkdir(exist_ok=True)
        buf = _npy_bytes(np.ascontiguousarray(vector, dtype=np.float32).reshape(-1))
        _atomic_write(p, buf)


def _npy_bytes(vec: np.ndarray) -> bytes:
    b = io.BytesIO()
    np.save(b, vec, allow_pickle=False)
    return b.getvalue()


def _atomic_write(path: Path, data: bytes) -> None:
    """Write then rename, so readers never see half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _safe(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", s)


def _differences(stored: dict[str, Any], requested: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    names = [f.name for f in fields(CacheKey)]
    return [(n, stored.get(n), requested[n]) for n in names if stored.get(n) != requested[n]]


def _mismatch_message(
    folder: Path, diffs: list[tuple[str, Any, Any]], old: dict[str, Any], new: dict[str, Any] | None
) -> str:
    lines = [f"feature cache {folder} was written under a different key:"]
    for name, cached, requested in diffs:
        lines.append(f"  {name}: cached {cached!r}, requested {requested!r}")
        before, after = old.get(name), (new or {}).get(name)
        if isinstance(before, dict) and isinstance(after, dict):  # say which field changed
            for field in sorted(set(before) | set(after)):
                if before.get(field) != after.get(field):
                    lines.append(f"    {name}.{field}: cached {before.get(field)!r}, requested {after.get(field)!r}")
    lines.append(
        "Its vectors would not match this configuration. Delete that folder, or pass "
        "refresh_cache=True (CLI: --refresh-cache) to recompute."
    )
    return "\n".join(lines)
