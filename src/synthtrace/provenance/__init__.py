"""Provenance: what the file itself declares about its origin.

``read_provenance`` runs every reader (C2PA, IPTC/XMP, EXIF, generator
parameters, invisible watermarks) and returns their ``Evidence`` items. Readers
never raise on bad metadata: a damaged block becomes an item with ``error`` set
and the other readers still run. Missing metadata is reported as absence of
evidence (direction "none"), never as evidence either way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from synthtrace.provenance.c2pa import read_c2pa
from synthtrace.provenance.metadata import Extracted, extract, read_exif, read_xmp_iptc
from synthtrace.provenance.params import KNOWN_KEYS, read_params
from synthtrace.provenance.watermark import read_watermarks
from synthtrace.records import Evidence

__all__ = ["read_provenance", "read_c2pa", "read_exif", "read_params", "read_watermarks", "read_xmp_iptc"]

MAX_FILE_BYTES = 1 << 30


def _guarded(source: str, fn: Callable[[], list[Evidence]]) -> list[Evidence]:
    """Run one reader; an unexpected exception becomes an error item, not a failed scan."""
    try:
        return fn()
    except Exception as exc:  # a bug in a reader must not lose the other readers' evidence
        return [Evidence(
            source=source, name=f"{source}_reader", error=f"internal error: {type(exc).__name__}: {exc}",
            explanation=f"The {source} check failed unexpectedly on this file; other checks still ran. "
            "Please report this file to the synthtrace maintainers.")]


def _container_problems(ext: Extracted) -> list[Evidence]:
    problems = ext.errors + [msg for key, msg in ext.text_errors.items() if key not in KNOWN_KEYS]
    if not problems:
        return []
    return [Evidence(
        source="metadata", name="container", error="; ".join(problems[:10]),
        details={"problems": problems[:50], "format": ext.format},
        explanation="Part of the file's metadata is damaged or too large and was skipped; the rest was read. "
        "Damage alone is not evidence of generation.")]


def read_provenance(
    path: str | Path,
    *,
    data: bytes | None = None,
    trust_anchors: Path | None = None,
    watermarks: bool = True,
    rgb: np.ndarray | None = None,
) -> list[Evidence]:
    """All provenance evidence for one image.

    ``data`` avoids re-reading a file the caller already holds (``path`` then only
    names it). ``trust_anchors`` is a PEM bundle of C2PA roots to trust; without it
    a valid signature is reported as valid-but-untrusted. ``watermarks=False``
    skips pixel decoding (the only reader that needs pixels). ``rgb`` passes pixels
    the caller already decoded with ``synthtrace.io.images`` ((H, W, 3) uint8,
    upright per EXIF orientation) to the watermark reader, so the file is not
    decoded twice; see ``read_watermarks``.
    """
    if data is None:
        try:
            size = Path(path).stat().st_size
            if size > MAX_FILE_BYTES:
                raise OSError(f"file is {size} bytes, over the {MAX_FILE_BYTES}-byte limit")
            data = Path(path).read_bytes()
        except OSError as exc:
            return [Evidence(source="provenance", name="file", error=f"cannot read {path}: {exc}",
                             explanation="The file could not be read, so no provenance was checked.")]
    ext = extract(data)
    anchors = Path(trust_anchors) if trust_anchors is not None else None
    out = _container_problems(ext)
    out += _guarded("c2pa", lambda: read_c2pa(data, ext.format, trust_anchors=anchors))
    out += _guarded("xmp", lambda: read_xmp_iptc(ext))
    out += _guarded("exif", lambda: read_exif(ext))
    out += _guarded("params", lambda: read_params(ext, data=data))
    if watermarks:
        out += _guarded("watermark", lambda: read_watermarks(data, rgb=rgb))
    return out
