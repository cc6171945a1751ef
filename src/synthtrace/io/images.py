"""Safe image decoding: every input becomes 8-bit RGB plus a record of how.

Detectors are sensitive to silent conversions (a 16-bit PNG clipped instead of
scaled, an un-rotated phone photo, alpha turned black), so each conversion is
done explicitly here and written to ``ImageRecord.notes`` for the report.
Untrusted files are guarded against decompression bombs before any pixel is
decoded, and every failure surfaces as a typed synthtrace error that names the
file, never as a raw Pillow/OSError.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import struct
import threading
import warnings
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from synthtrace.errors import ImageTooLargeError, InputError, SynthtraceError, UnreadableImageError
from synthtrace.progress import progress_bar
from synthtrace.records import ImageRecord

try:  # HEIC/HEIF is optional: phones produce it, but the wheel is not everywhere.
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_AVAILABLE = True
except ImportError:  # pragma: no cover - depends on the environment
    HEIF_AVAILABLE = False

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "FileListing",
    "LoadedImage",
    "SkippedFile",
    "estimate_jpeg_quality",
    "iter_image_files",
    "list_image_files",
    "sniff_image_file",
    "load_image",
    "load_image_bytes",
]

DEFAULT_MAX_PIXELS = 100_000_000

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".heic", ".heif", ".avif"}
)

# Only these decoders may run on untrusted bytes: a smaller attack surface than
# Pillow's full plugin list, and exactly the formats we test. (The JPEG decoder
# also yields "MPO" for camera JPEGs with an embedded second picture.)
_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF", "HEIF", "AVIF")
_FORMAT_LIST = "JPEG, PNG, WebP, TIFF, BMP, GIF, HEIC/HEIF, AVIF"

# Pillow keeps its own process-wide bomb limit (warns above ~89 MP, refuses above
# ~179 MP). Our per-call ``max_pixels`` must be the one that decides, so a caller
# who raises it past Pillow's hard limit gets Pillow's limit raised for that call;
# the lock keeps concurrent calls from restoring each other's value.
_PIL_LIMIT_LOCK = threading.Lock()

_ORIENTATION_TAG = 0x0112

# IJG/libjpeg standard tables (ITU-T T.81 Annex K), natural (row-major) order,
# which is also the order Pillow's ``Image.quantization`` uses.
STD_LUMINANCE = (
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip
STD_CHROMINANCE = (
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
)  # fmt: skip


@dataclass(frozen=True)
class LoadedImage:
    """Decoded pixels (H, W, 3) uint8 RGB, with the record of how they were obtained."""

    rgb: np.ndarray
    record: ImageRecord


def load_image(path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Decode an image file to 8-bit RGB; see :func:`load_image_bytes`."""
    return load_image_bytes(read_file_bytes(path), str(path), max_pixels=max_pixels)


def read_file_bytes(path: str | os.PathLike[str]) -> bytes:
    """The file's bytes, or an UnreadableImageError that says why not."""
    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise UnreadableImageError(
            f"{p}: file not found (working directory: {Path.cwd()}). Check the path."
        ) from None
    except IsADirectoryError:
        raise UnreadableImageError(
            f"{p}: is a directory, expected an image file. Pass the files, or use "
            "iter_image_files() to expand a directory."
        ) from None
    except OSError as exc:
        raise UnreadableImageError(
            f"{p}: cannot be read ({exc.strerror or exc}). Check its permissions."
        ) from None


def load_image_bytes(data: bytes, name: str, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Decode image bytes (e.g. a web upload) to 8-bit RGB.

    ``name`` is only used in the record and in error messages. The pixel count
    is checked against ``max_pixels`` from the header, before decoding.
    """
    if not data:
        raise UnreadableImageError(
            f"{name}: empty file (0 bytes), expected an image. Re-download or re-export it."
        )
    try:
        with _pillow_bomb_limit(max_pixels):
            return _decode(data, name, max_pixels)
    except Image.DecompressionBombError as exc:
        raise _too_large(name, None, max_pixels, detail=str(exc)) from None
    except UnidentifiedImageError:
        looks_like = _sniff(data)
        if data[4:8] == b"ftyp" and not HEIF_AVAILABLE:
            raise UnreadableImageError(
                f"{name}: looks like HEIC/HEIF/AVIF, which needs pillow-heif. Install it "
                "(pip install pillow-heif) or convert the file to JPEG/PNG."
            ) from None
        if looks_like:
            raise UnreadableImageError(
                f"{name}: starts like a {looks_like} file but its header is truncated or corrupt "
                f"({len(data)} bytes). Re-download or re-export it."
            ) from None
        raise UnreadableImageError(
            f"{name}: content is not a supported image format ({_FORMAT_LIST}); "
            f"got {len(data)} bytes starting with {data[:8]!r}. "
            "Check that the file really is an image (the extension may be wrong)."
        ) from None
    except SynthtraceError:
        raise  # our own checks (size limit, ...) already say what is wrong
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, TypeError) as exc:
        # Pillow reports corrupt data with a zoo of exception types.
        raise _corrupt(name, exc) from None


def _decode(data: bytes, name: str, max_pixels: int) -> LoadedImage:
    notes: list[str] = []
    Image.init()
    # Pillow fails with KeyError on a format it has no decoder for (AVIF in older
    # builds, HEIF without pillow-heif), so ask only for those it has.
    formats = [f for f in _FORMATS if f in Image.OPEN]
    with Image.open(io.BytesIO(data), formats=formats) as im:
        width, height = im.size
        if width * height > max_pixels:
            raise _too_large(name, (width, height), max_pixels)
        fmt = str(im.format)
        mode = im.mode
        n_frames = int(getattr(im, "n_frames", 1))
        if n_frames > 1:
            im.seek(0)
            notes.append(f"first of {n_frames} frames used")
        quality = None
        if fmt in ("JPEG", "MPO"):
            quality = estimate_jpeg_quality(getattr(im, "quantization", None) or {})
        if mode in ("RGB", "RGBA") and _is_16bit_rawmode(im):
            notes.append(f"16-bit per channel {mode} reduced to 8 bit (high byte)")
        # Decode before reading EXIF: PNG's getexif() decodes implicitly, and a
        # pixel error must surface as corrupt/truncated, not as "EXIF unreadable".
        im.load()
        orientation = _orientation(im, notes)
        upright = im
        if orientation in range(2, 9):
            upright = ImageOps.exif_transpose(im)
            notes.append(f"rotated/flipped upright per EXIF orientation {orientation}")
        rgb = _to_rgb(upright, notes)
    record = ImageRecord(  # width/height describe the pixels returned (after EXIF rotation)
        path=name,
        sha256=hashlib.sha256(data).hexdigest(),
        format=fmt,
        width=int(rgb.shape[1]),
        height=int(rgb.shape[0]),
        mode=mode,
        file_size=len(data),
        jpeg_quality=quality,
        n_frames=n_frames,
        exif_orientation=orientation,
        notes=tuple(notes),
    )
    return LoadedImage(rgb=rgb, record=record)


def _is_16bit_rawmode(im: Image.Image) -> bool:
    """Pillow silently keeps the high byte of 16-bit RGB(A); detect it so the record says so."""
    for tile in im.tile[:1]:
        args = tile.args
        raw = args if isinstance(args, str) else (args[0] if isinstance(args, tuple) and args else "")
        return isinstance(raw, str) and ";16" in raw
    return False


def _orientation(im: Image.Image, notes: list[str]) -> int | None:
    """The EXIF orientation tag; broken EXIF must not make good pixels unreadable."""
    try:
        value = im.getexif().get(_ORIENTATION_TAG)
    except Exception as exc:  # noqa: BLE001 - any EXIF parser failure is the same to us
        notes.append(f"EXIF unreadable ({type(exc).__name__}); orientation not applied")
        return None
    return int(value) if isinstance(value, int) else None


_MAGIC = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF8", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
)


def _sniff(data: bytes) -> str | None:
    """Name the format a file claims by its magic bytes, to tell "truncated" from "not an image"."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[4:8] == b"ftyp":
        return "HEIC/HEIF/AVIF"
    return next((fmt for magic, fmt in _MAGIC if data.startswith(magic)), None)


def _to_rgb(im: Image.Image, notes: list[str]) -> np.ndarray:
    """Convert any decoded mode to (H, W, 3) uint8, noting what was done."""
    mode = im.mode
    if mode == "RGB":
        return np.asarray(im, dtype=np.uint8).copy()
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info
        im = im.convert("RGBA" if has_alpha else "RGB")
        notes.append("palette converted to RGB")
    elif mode == "CMYK":
        im = im.convert("RGB")
        notes.append("CMYK converted to RGB (naive, no ICC profile)")
    elif mode.startswith("I") or mode == "F":
        im = Image.fromarray(_scale_to_uint8(np.asarray(im), mode, notes), mode="L")
    elif mode in ("RGBa", "La"):  # premultiplied alpha
        im = im.convert(mode[0:-1] + "A")
    if im.mode in ("RGBA", "LA"):
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float32)
        alpha = rgba[..., 3:4] / 255.0
        if float(alpha.min()) < 1.0:
            notes.append("alpha channel composited on white")
        else:
            notes.append("opaque alpha channel dropped")
        out = rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    if im.mode in ("L", "1"):
        if mode in ("L", "1"):
            notes.append("grayscale converted to RGB" if mode == "L" else "1-bit converted to RGB")
        gray = np.asarray(im.convert("L"), dtype=np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if im.mode != "RGB":
        notes.append(f"{im.mode} converted to RGB")
        im = im.convert("RGB")
    return np.asarray(im, dtype=np.uint8).copy()


def _scale_to_uint8(a: np.ndarray, mode: str, notes: list[str]) -> np.ndarray:
    """Scale high-bit-depth grayscale to 8 bit; Pillow's own convert would clip at 255."""
    a = a.astype(np.float64)
    if mode.startswith("I;16") or (mode == "I" and a.size and a.min() >= 0 and a.max() <= 65535):
        notes.append(f"16-bit grayscale ({mode}) scaled to 8-bit RGB")
        return np.rint(a / 257.0).astype(np.uint8)
    if mode == "F" and a.size and a.min() >= 0.0 and a.max() <= 1.0:
        notes.append("float grayscale in [0, 1] scaled to 8-bit RGB")
        return np.rint(a * 255.0).astype(np.uint8)
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    notes.append(f"{mode} grayscale min-max scaled ({lo:g}..{hi:g}) to 8-bit RGB")
    if hi <= lo:
        return np.zeros(a.shape, dtype=np.uint8)
    return np.rint((a - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def estimate_jpeg_quality(quantization: dict[int, list[int]]) -> float | None:
    """Estimate the IJG/libjpeg quality (1..100) a JPEG was saved with.

    Inverts libjpeg's quality scaling by finding the quality whose scaled
    standard tables are closest to the file's (exact for libjpeg-family
    encoders, the nearest equivalent for others). ``quantization`` is Pillow's
    ``Image.quantization`` (natural order). Returns None when there is no
    luminance table. Why it matters: recompression quality changes which pixel
    statistics survive, so signals weigh their reliability by it.
    """
    lum = quantization.get(0) if quantization else None
    if not lum or len(lum) != 64:
        return None
    chroma = quantization.get(1)
    chroma = chroma if chroma and len(chroma) == 64 else None
    err = np.abs(ijg_tables(STD_LUMINANCE) - np.minimum(np.asarray(lum, dtype=np.int64), 255)).sum(axis=1)
    if chroma:
        err = err + np.abs(ijg_tables(STD_CHROMINANCE) - np.minimum(np.asarray(chroma, dtype=np.int64), 255)).sum(axis=1)
    return float(np.argmin(err) + 1)  # ties go to the lowest quality, as a forward scan would


@functools.lru_cache(maxsize=4)
def ijg_tables(std: tuple[int, ...]) -> np.ndarray:
    """The standard table ``std`` scaled for every quality 1..100: shape (100, 64), read-only.

    Computed once per table: quality estimation compares a file's table with all
    100 and runs on every scanned JPEG (twice per scan).
    """
    q = np.arange(1, 101)
    scale = np.where(q < 50, 5000 // q, 200 - 2 * q)
    out = ijg_scale(np.asarray(std, dtype=np.int64)[None, :], scale[:, None])
    out.flags.writeable = False
    return out


def ijg_scale(table: np.ndarray, scale: int) -> np.ndarray:
    """A standard table scaled by a libjpeg quality ``scale`` factor (integer arithmetic)."""
    # libjpeg jpeg_add_quant_table with force_baseline: clamp to 1..255.
    return np.clip((table * scale + 50) // 100, 1, 255)


@dataclass(frozen=True)
class SkippedFile:
    """A file a folder scan passed over, and why (shown beside the scanned files)."""

    path: Path
    reason: str


@dataclass(frozen=True)
class FileListing:
    """What expanding paths found: files to read (sorted) and files skipped with the reason."""

    images: list[Path]
    skipped: list[SkippedFile]


# ISO-BMFF brands of still images; other "ftyp" files (MP4, MOV, 3GP) are video.
_IMAGE_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1",
                           b"msf1", b"avif", b"avis"})


def sniff_image_file(path: str | os.PathLike[str]) -> str | None:
    """The image format a file's first bytes announce (``"PNG"``, ``"WebP"``...), or None.

    Used for files without an extension, so a folder scan can read them when they
    are images; raises OSError when the file cannot be read.
    """
    with open(path, "rb") as fh:
        head = fh.read(32)
    if head[4:8] == b"ftyp":
        return "HEIC/HEIF/AVIF" if head[8:12] in _IMAGE_BRANDS else None
    return _sniff(head)


def list_image_files(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *, recursive: bool = True
) -> FileListing:
    """Expand files and directories into the files to read and the files skipped, each with its reason.

    Files named explicitly are always kept, whatever their extension, so a scan
    reports them as unreadable instead of silently skipping them. Inside
    directories: files with an image extension (case-insensitive) are kept;
    files with no extension are kept when their first bytes are an image's;
    everything else is listed as skipped with the reason: other extensions,
    hidden entries (``.DS_Store``, ``._IMG.jpg`` AppleDouble files, ``.git``),
    and, when ``recursive`` is False, subfolders.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: dict[Path, Path] = {}
    skipped: dict[Path, SkippedFile] = {}
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for f, reason in _walk(p, recursive):
                if reason is None:
                    found.setdefault(f.resolve(), f)
                else:
                    skipped.setdefault(f.resolve(), SkippedFile(f, reason))
        elif p.exists():
            found.setdefault(p.resolve(), p)
        else:
            raise InputError(
                f"{p}: no such file or directory (working directory: {Path.cwd()}). Check the path."
            )
    left_out = [s for key, s in skipped.items() if key not in found]
    return FileListing(sorted(found.values(), key=str), sorted(left_out, key=lambda s: str(s.path)))


def iter_image_files(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *, recursive: bool = True
) -> list[Path]:
    """The files ``list_image_files`` would read, sorted and de-duplicated (the skipped ones dropped)."""
    return list_image_files(paths, recursive=recursive).images


def _walk(root: Path, recursive: bool) -> Iterator[tuple[Path, str | None]]:
    """(path, None) for each file to read, (path, reason) for each entry passed over."""
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for d in sorted(dirnames):
            if d.startswith("."):
                yield here / d, "hidden folder (name starts with '.'), not searched"
            elif not recursive:
                yield here / d, "subfolder, not searched (the scan is not recursive)"
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) if recursive else []
        for fn in filenames:
            yield here / fn, _skip_reason(here / fn)


def _skip_reason(path: Path) -> str | None:
    """Why a file found in a folder is not read, or None when it is read."""
    if path.name.startswith("."):
        return "hidden file (name starts with '.'), as system and metadata files are"
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return None
    if suffix:
        return f"not an image: the extension {suffix} is not one synthtrace reads ({_FORMAT_LIST})"
    try:
        kind = sniff_image_file(path)
    except OSError as exc:
        return f"no extension, and its content could not be read to check it: {exc.strerror or exc}"
    if kind is None:
        return f"no extension, and its content is not an image synthtrace reads ({_FORMAT_LIST})"
    return None


@contextmanager
def _pillow_bomb_limit(max_pixels: int) -> Iterator[None]:
    """Make Pillow's own bomb check defer to ``max_pixels`` for one decode.

    Pillow's warning band is silenced (our header check, with the caller's limit,
    decides); its hard limit is raised only when the caller asked for more.
    Pillow's "Corrupt EXIF" warnings are silenced too.
    """
    old = Image.MAX_IMAGE_PIXELS
    raise_limit = old is not None and max_pixels > 2 * old
    if raise_limit:
        _PIL_LIMIT_LOCK.acquire()
        Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # Metadata damage is common in the wild and says nothing about pixels.
            warnings.filterwarnings("ignore", message="Corrupt EXIF", category=UserWarning)
            yield
    finally:
        if raise_limit:
            Image.MAX_IMAGE_PIXELS = old
            _PIL_LIMIT_LOCK.release()


def _too_large(
    name: str, size: tuple[int, int] | None, max_pixels: int, detail: str = ""
) -> ImageTooLargeError:
    got = f"{size[0]}x{size[1]} = {size[0] * size[1]:,} pixels" if size else detail
    return ImageTooLargeError(
        f"{name}: image is too large ({got}); the limit is {max_pixels:,} pixels, which "
        "guards against decompression bombs. If you trust the file, raise the limit with "
        "max_pixels= (CLI: --max-pixels)."
    )


def _corrupt(name: str, exc: BaseException) -> UnreadableImageError:
    msg = str(exc) or type(exc).__name__
    low = msg.lower()
    if "truncated" in low or "end of file" in low or isinstance(exc, EOFError):
        return UnreadableImageError(
            f"{name}: file is truncated ({msg}); the image data ends early, e.g. an "
            "interrupted download or copy. Re-download or re-export it."
        )
    return UnreadableImageError(
        f"{name}: corrupt or unsupported image data ({type(exc).__name__}: {msg}). "
        "Re-export it as PNG or JPEG."
    )


def load_images(
    paths: Sequence[str | os.PathLike[str]],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    workers: int = 2,
    progress: bool = False,
    label: str = "decoding",
) -> list[LoadedImage]:
    """Decode many files in order with a thread pool (Pillow releases the GIL).

    Raises the first file's error; use ``load_image`` per file to go past bad ones.
    """
    out: list[LoadedImage] = []
    with progress_bar(len(paths), label, enabled=progress) as advance, ThreadPoolExecutor(max(1, workers)) as pool:
        for loaded in pool.map(lambda p: load_image(p, max_pixels=max_pixels), paths):
            out.append(loaded)
            advance(1)
    return out
