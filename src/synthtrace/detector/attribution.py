"""A bundle's attribution head, saved beside its weights and loaded once with it.

``attribution.json`` (params + label map) and ``attribution.safetensors`` sit in the
bundle folder, so the head travels with the backbone it was fitted on. A head fitted on
``features="learned"`` also needs the learned fingerprint in the bundle's
``fingerprint/`` folder. :class:`Attribution` holds the head together with whatever
computes its features, all loaded once: scanning N images loads no weights again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from synthtrace.errors import ConfigError
from synthtrace.features.extract import extract_features
from synthtrace.features.fingerprint import fingerprint_features, fingerprint_files, grid_centre_crop
from synthtrace.heads.attribution import AttributionHead, attribution_records
from synthtrace.heads.learned_fingerprint import LearnedFingerprint

HEAD_JSON = "attribution.json"
HEAD_WEIGHTS = "attribution.safetensors"
LEARNED_DIR = "fingerprint"  # a learned fingerprint's folder inside a bundle (features="learned")


def save_attribution_head(directory: str | Path, head: AttributionHead, *, extra: dict | None = None) -> None:
    """Write the head into ``directory`` (typically a detector bundle folder)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(v) for k, v in head.state_dict().items()}, str(d / HEAD_WEIGHTS))
    meta = {"format": 1, "params": head.get_params(), "labels": head.label_map(), **(extra or {})}
    (d / HEAD_JSON).write_text(json.dumps(meta, indent=1))


def load_attribution_head(directory: str | Path) -> AttributionHead:
    """Inverse of :func:`save_attribution_head`; never unpickles."""
    d = Path(directory)
    meta_p = d / HEAD_JSON
    if not meta_p.exists():
        raise ConfigError(f"{d}: has no attribution head ({HEAD_JSON}); fit one with `synthtrace attribute --fit "
                          "MANIFEST --detector BUNDLE`.")
    meta = json.loads(meta_p.read_text())
    if meta.get("format") != 1:
        raise ConfigError(f"{meta_p}: format {meta.get('format')!r} is not supported (expected 1); upgrade synthtrace.")
    params = dict(meta["params"])
    params.setdefault("features", "backbone")  # heads saved before the fingerprint option used the backbone
    return AttributionHead.from_state(params, load_file(str(d / HEAD_WEIGHTS)), meta["labels"])


def has_attribution_head(directory: str | Path | None) -> bool:
    return directory is not None and (Path(directory) / HEAD_JSON).is_file()


@dataclass(frozen=True)
class Attribution:
    """An attribution head and the feature extractor it was fitted on, both loaded.

    ``arrays``: decoded RGB images (any sizes) → feature rows; ``files``: paths → feature
    rows (decoded in parallel, cached where the extractor caches)."""

    head: AttributionHead
    arrays: Callable[[Sequence[np.ndarray]], np.ndarray]
    files: Callable[[Sequence[str | Path]], np.ndarray]

    def features(self, images: Sequence[Any]) -> np.ndarray:
        items = list(images)
        if not items:
            return np.zeros((0, getattr(self.head, "n_features_in_", 0)))
        if isinstance(items[0], (str, Path)):
            return self.files(items)
        return self.arrays([np.asarray(im) for im in items])

    def records(self, images: Sequence[Any], *, top_k: int = 3) -> list[dict[str, Any]]:
        """One record per image (see :func:`~synthtrace.heads.attribution.attribution_records`)."""
        return attribution_records(self.head, self.features(images), top_k=top_k)


def _fingerprint_arrays(images: Sequence[np.ndarray]) -> np.ndarray:
    return np.concatenate([fingerprint_features([grid_centre_crop(im, 256)]) for im in images])


def bind_attribution(head: AttributionHead, *, bundle: Any = None, directory: str | Path | None = None) -> Attribution:
    """Give ``head`` its feature extractor: the fingerprint (needs nothing), the bundle's own
    cnn-small backbone (``bundle``, already loaded) or the learned fingerprint in
    ``directory/fingerprint/`` (loaded here, once)."""
    if head.features == "fingerprint":
        return Attribution(head, _fingerprint_arrays, lambda paths: fingerprint_files(list(paths)))
    if head.features == "learned":
        if directory is None:
            raise ConfigError("this attribution head uses learned features; pass the detector bundle folder it was "
                              "fitted with.")
        fp = LearnedFingerprint.from_pretrained(Path(directory) / LEARNED_DIR)
        return Attribution(head, fp.transform, lambda paths: fp.transform_files(list(paths)))
    if bundle is None:
        raise ConfigError("this attribution head uses backbone features; pass the detector bundle it was fitted with.")
    backbone = bundle.cnn_backbone()
    return Attribution(head, bundle.features,
                       lambda paths: extract_features(list(paths), backbone, pooling="mean", progress=False))


__all__ = ["Attribution", "HEAD_JSON", "LEARNED_DIR", "bind_attribution", "has_attribution_head",
           "load_attribution_head", "save_attribution_head"]
