"""Inputs of the scale-out tests: benchmark images with bad files among them."""

from __future__ import annotations

import shutil
from pathlib import Path

from synthtrace.io.manifest import read_manifest

BAD_FILES = {"broken.jpg": b"this is not a jpeg at all", "empty.png": b""}


def make_images(bench: Path, dest: Path, n: int, *, bad: bool = True) -> list[str]:
    """Copy ``n`` benchmark images (every split and source, in manifest order) into
    ``dest`` plus two bad files and a truncated JPEG; returns the scan's file list."""
    from synthtrace.io.images import list_image_files

    m = read_manifest(bench / "manifest.csv")
    rows = list(m)[:: max(1, len(m) // n)][:n]
    dest.mkdir(parents=True, exist_ok=True)
    for i, row in enumerate(rows):
        src = m.path_of(row)
        shutil.copy(src, dest / f"{i:04d}-{src.name}")
    if bad:
        for name, data in BAD_FILES.items():
            (dest / name).write_bytes(data)
        jpeg = next(p for p in sorted(dest.glob("*.jpg")) if p.name not in BAD_FILES)
        (dest / "truncated.jpg").write_bytes(jpeg.read_bytes()[:200])
    return [str(p) for p in list_image_files(dest).images]
