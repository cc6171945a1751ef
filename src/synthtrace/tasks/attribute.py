"""Attribute: which known generator made each image, or "unknown generator"."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from synthtrace.detector import DetectorBundle
from synthtrace.detector.attribution import Attribution, bind_attribution, load_attribution_head
from synthtrace.errors import ConfigError
from synthtrace.io.images import list_image_files
from synthtrace.training.attribution import fit_bundle_head as fit_attribution


def load_attribution(detector: DetectorBundle | str | Path) -> Attribution:
    """The attribution head of a bundle (or of a folder holding only a head on fingerprint or
    learned features), with its feature extractor, loaded once."""
    if isinstance(detector, DetectorBundle):
        if detector.attribution is None:
            raise ConfigError(f"bundle {detector.name!r} has no attribution head; fit one with `synthtrace attribute "
                              "--fit MANIFEST --detector BUNDLE`.")
        return detector.attribution
    d = Path(detector)
    if (d / "config.json").is_file():
        return load_attribution(DetectorBundle.from_pretrained(d))
    return bind_attribution(load_attribution_head(d), directory=d)


def attribute(paths: str | Path | Sequence[str | Path], detector: DetectorBundle | str | Path, *,
              top_k: int = 3) -> list[dict[str, Any]]:
    """One record per image file (folders expanded): ``path``, ``answer`` (a known source or
    ``"unknown"``), ``unknown``, the OOD score and threshold, and the ``top_k`` known sources."""
    attribution = load_attribution(detector)
    files = list_image_files([paths] if isinstance(paths, (str, Path)) else paths).images
    return [{"path": str(f), **rec} for f, rec in zip(files, attribution.records(files, top_k=top_k))]


__all__ = ["attribute", "fit_attribution", "load_attribution"]
