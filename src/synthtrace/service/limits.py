"""Request limits and input checks: upload size, image type by content, pixel count,
and server-side paths confined to the allowed directories."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from synthtrace.errors import ImageTooLargeError, SynthtraceError
from synthtrace.io.images import IMAGE_EXTENSIONS, iter_image_files, load_image_bytes

# Magic bytes of the formats synthtrace.io.images decodes; the extension is never trusted.
_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"BM", "image/bmp"),
)


class ApiError(Exception):
    """An error answered as JSON {"error": {"code", "message"}} with an HTTP status."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def sniff_image_type(data: bytes) -> str | None:
    """The media type the content claims by its magic bytes, or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"heis", b"avif", b"avis"):
        return "image/avif" if data[8:12] in (b"avif", b"avis") else "image/heic"
    return next((t for magic, t in _MAGIC if data.startswith(magic)), None)


def check_image_bytes(data: bytes, name: str, *, max_bytes: int, max_pixels: int) -> str:
    """Refuse an upload that is too big, not an image by content, or over the pixel limit.

    Returns the sniffed media type. Decoding goes through synthtrace.io.images,
    whose header check refuses decompression bombs before any pixel is decoded.
    """
    if len(data) > max_bytes:
        raise ApiError(413, "upload_too_large",
                       f"{name}: {len(data):,} bytes; the limit is {max_bytes:,} bytes per file (server flag --max-upload-mb)")
    if not data:
        raise ApiError(400, "empty_upload", f"{name}: empty file (0 bytes)")
    kind = sniff_image_type(data)
    if kind is None:
        raise ApiError(415, "unsupported_media_type",
                       f"{name}: content is not a JPEG, PNG, GIF, WebP, TIFF, BMP, HEIC or AVIF image "
                       f"(starts with {data[:8]!r}); the type is judged by content, not by the file name")
    try:
        load_image_bytes(data, name, max_pixels=max_pixels)
    except ImageTooLargeError as exc:
        raise ApiError(413, "too_many_pixels", str(exc)) from None
    except SynthtraceError as exc:
        raise ApiError(422, "unreadable_image", str(exc)) from None
    return kind


def resolve_allowed_paths(raw_paths: Sequence[str], allow_dirs: Sequence[Path], *, max_files: int) -> list[tuple[str, Path]]:
    """(name as given, resolved file) for server-side paths, all inside ``allow_dirs``.

    Paths are resolved (``..`` and every symlink followed) before the check, so a
    link inside an allowed folder pointing outside it is refused, as is a file
    found while expanding a folder. Relative paths are taken relative to the
    first allowed folder. Nothing about a refused path (not even whether it
    exists) is revealed.
    """
    if not allow_dirs:
        raise ApiError(403, "paths_not_allowed",
                       "server-side paths are off; start the server with --allow-dir DIR to scan files under DIR, "
                       "or upload the files")
    roots = [Path(d).resolve() for d in allow_dirs]
    out: list[tuple[str, Path]] = []
    for raw in raw_paths:
        if not raw or "\x00" in raw:
            raise ApiError(400, "invalid_path", "empty path or a path with a NUL character")
        p = Path(raw)
        if not p.is_absolute():
            p = roots[0] / p
        resolved = Path(os.path.realpath(p))
        if not _inside(resolved, roots):
            raise ApiError(403, "path_outside_allowed_dir",
                           f"{raw}: not inside an allowed directory ({', '.join(map(str, roots))})")
        if not resolved.exists():
            raise ApiError(404, "path_not_found", f"{raw}: no such file or directory under the allowed directories")
        files = iter_image_files([resolved]) if resolved.is_dir() else [resolved]
        for f in files:
            rf = Path(os.path.realpath(f))
            if not _inside(rf, roots) or not rf.is_file():
                raise ApiError(403, "path_outside_allowed_dir", f"{raw}: contains a link that leaves the allowed directories")
            if resolved.is_dir() and rf.suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            name = raw if not resolved.is_dir() else str(Path(raw) / f.relative_to(resolved))
            out.append((name, rf))
            if len(out) > max_files:
                raise ApiError(413, "too_many_files", f"more than {max_files} files in one request; split the batch")
    if not out:
        raise ApiError(400, "no_files", "the paths hold no image files")
    return out


def _inside(p: Path, roots: Sequence[Path]) -> bool:
    return any(p == r or p.is_relative_to(r) for r in roots)
