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

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "LoadedImage",
    "estimate_jpeg_quality",
    "iter_image_files",
    "load_image",
    "load_image_bytes",
]
