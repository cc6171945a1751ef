"""Input: safe image decoding and CSV manifests."""

from synthtrace.io.images import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    LoadedImage,
    estimate_jpeg_quality,
    iter_image_files,
    load_image,
    load_image_bytes,
)
from synthtrace.io.manifest import (
    MANIFEST_COLUMNS,
    Manifest,
    ManifestRow,
    read_manifest,
    write_manifest,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "MANIFEST_COLUMNS",
    "LoadedImage",
    "Manifest",
    "ManifestRow",
    "estimate_jpeg_quality",
    "iter_image_files",
    "load_image",
    "load_image_bytes",
    "read_manifest",
    "write_manifest",
]
