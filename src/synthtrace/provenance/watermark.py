"""Invisible watermarks that open-source Stable Diffusion pipelines embed.

The reference txt2img scripts of Stable Diffusion 1.x embed the bytes
``StableDiffusionV1`` and SDXL (``sgm``/diffusers) embeds the 48-bit message
0xB3EC907BB19E, both with ``invisible-watermark``'s ``dwtDct`` method. We
decode them with a vectorised copy of that library's decoder and report the bit
accuracy together with the chance of that many bits matching by luck, so the
match can be defended.

The library's decoder (``imwatermark.maxDct.EmbedMaxDct.decode``, default
scales [0, 36, 36], 4x4 blocks) loops in Python over every 4x4 block of the
Haar LL band of the U channel (187,500 blocks at 12 MP) and had to run four
times (2 marks x 2 channel orders): about 3.5 s on a 12-MP photo. Here the
per-block decision (is |largest AC entry| mod 36 above 18?) is computed once per
channel order with numpy, using the same OpenCV colour conversion and the same
floating-point Haar arithmetic as PyWavelets (a lookup table for the first pass),
and averaged per bit for each mark's length: about 0.15 s at 12 MP. The bits
are the library's bits exactly; tests/provenance/test_prov_watermark.py keeps
``imwatermark`` as the reference on clean and marked images of several sizes.
Only OpenCV and PyWavelets are needed at run time.

A match is strong evidence of generation (a random image almost never matches),
but the marks are public: anyone can embed them into a real photo, and resizing,
cropping or JPEG re-compression erase them. So no match is only absence of
evidence.
"""

from __future__ import annotations

import functools
import importlib
import math
import warnings
from dataclasses import dataclass
from io import BytesIO

import numpy as np
from PIL import Image

from synthtrace.provenance.metadata import missing_extra
from synthtrace.records import Evidence

MIN_PIXELS = 256 * 256  # the decoder refuses smaller images
MAX_PIXELS = 4096 * 4096  # beyond this decoding is slow, and generator output is never this large
MATCH_ACCURACY = 0.9
RELIABILITY = 0.8  # a public mark can be copied onto a real photo


@dataclass(frozen=True)
class KnownMark:
    """One published watermark: its bits, and who embeds it."""

    name: str
    generator: str
    bits: tuple[int, ...]


def _bits_of_bytes(b: bytes) -> tuple[int, ...]:
    return tuple(int(x) for x in np.unpackbits(np.frombuffer(b, dtype=np.uint8)))


SD1_BITS = _bits_of_bytes(b"StableDiffusionV1")
SDXL_BITS = tuple(int(c) for c in bin(0xB3EC907BB19E)[2:])  # 48 bits, as in sgm and diffusers
KNOWN_MARKS = (
    KnownMark("stable_diffusion_v1", "Stable Diffusion 1.x (reference scripts)", SD1_BITS),
    KnownMark("sdxl", "Stable Diffusion XL (sgm / diffusers)", SDXL_BITS),
)


def chance_probability(matches: int, n: int) -> float:
    """P(at least ``matches`` of ``n`` random bits agree): how likely a match is by luck."""
    return sum(math.comb(n, k) for k in range(matches, n + 1)) / 2.0**n


# How the embedding pipeline handed the pixels to the encoder, and the OpenCV
# conversion that gives the U channel the library's decoder would see when given
# the same array, applied to our RGB pixels: the reference scripts pass BGR (so
# the library's BGR->YUV of the BGR array equals RGB->YUV of ours), diffusers
# passes the RGB array unchanged (the library reads it as BGR).
_ORDERS = ("bgr", "rgb")
_ORIENTATION_TAG = 0x0112


def _yuv_code(order: str) -> int:
    import cv2  # optional extra 'watermark'

    return cv2.COLOR_RGB2YUV if order == "bgr" else cv2.COLOR_BGR2YUV


@functools.lru_cache(maxsize=1)
def _haar_tables() -> tuple[float, np.ndarray] | None:
    """Lookup table for the first Haar pass on uint8 pixels, or None to use PyWavelets.

    PyWavelets computes each Haar LL coefficient as ``h*x0 + h*x1`` in float64
    (h = 1/sqrt(2), rounded), first down the columns and then along the rows.
    For uint8 input the first pass has only 65,536 possible results, so it is a
    table lookup and the second pass is two numpy products and a sum: 7x faster
    than ``pywt.dwt2``, and the same floating-point operations in the same
    order. Checked once against ``pywt.dwt2`` on random pixels; a PyWavelets
    build that rounds differently (e.g. fused multiply-add) falls back to it.
    """
    import pywt  # optional extra 'watermark'

    h = float(pywt.Wavelet("haar").dec_lo[0])
    if pywt.Wavelet("haar").dec_lo != [h, h]:
        return None
    prod = h * np.arange(256.0)
    pairs = (prod[:, None] + prod[None, :]).ravel()
    probe = np.random.default_rng(0).integers(0, 256, (256, 384), dtype=np.uint8)
    if not np.array_equal(_haar_ll_lookup(probe, h, pairs), pywt.dwt2(probe, "haar")[0]):
        return None
    return h, pairs


def _haar_ll_lookup(u: np.ndarray, h: float, pairs: np.ndarray) -> np.ndarray:
    first = pairs[(u[0::2].astype(np.uint16) << 8) | u[1::2]]  # down the columns: h*u[2k] + h*u[2k+1]
    return h * first[:, 0::2] + h * first[:, 1::2]  # along the rows


def _haar_ll(u: np.ndarray) -> np.ndarray:
    """``pywt.dwt2(u, "haar")[0]`` for uint8 ``u`` with even sides, bit for bit."""
    tables = _haar_tables()
    if tables is None:
        import pywt  # optional extra 'watermark'

        return pywt.dwt2(u, "haar")[0]
    return _haar_ll_lookup(u, *tables)


def _block_decisions(img: np.ndarray, yuv_code: int, scale: float = 36.0, block: int = 4) -> np.ndarray:
    """The library's per-block bit decision (0/1), in its block order (row-major).

    Same steps as ``EmbedMaxDct.decode`` / ``infer_dct_matrix``: U channel of the
    OpenCV YUV conversion, cropped to a multiple of 4, Haar ``dwt2`` (LL band),
    then for every whole 4x4 block the AC entry of largest magnitude (first one on
    ties, as ``np.argmax``) and whether ``|value| mod scale > scale / 2``.
    """
    import cv2  # optional extra 'watermark'

    row, col = img.shape[:2]
    u = cv2.extractChannel(cv2.cvtColor(img, yuv_code), 1)
    ca1 = _haar_ll(u[: row // 4 * 4, : col // 4 * 4])
    r, c = ca1.shape[0] // block, ca1.shape[1] // block
    blocks = ca1[: r * block, : c * block].reshape(r, block, c, block).transpose(0, 2, 1, 3).reshape(r * c, block * block)
    pos = np.argmax(np.abs(blocks[:, 1:]), axis=1) + 1
    val = np.abs(blocks[np.arange(r * c), pos])
    return ((val % scale) > 0.5 * scale).astype(np.int64)


def _bits_from_decisions(decision: np.ndarray, n: int) -> np.ndarray:
    """Average the decisions of blocks k, k+n, k+2n, ... into bit k (as the library does)."""
    idx = np.arange(len(decision)) % n
    with np.errstate(invalid="ignore", divide="ignore"):  # a bit with no block: nan -> False, as the library
        mean = np.bincount(idx, weights=decision, minlength=n) / np.bincount(idx, minlength=n)
    return mean * 255 > 127


def dwtdct_bits(bgr: np.ndarray, lengths: tuple[int, ...]) -> list[np.ndarray]:
    """``imwatermark.WatermarkDecoder("bits", n).decode(bgr, "dwtDct")`` for every ``n`` in ``lengths``.

    ``bgr`` is (H, W, 3) uint8, read as BGR exactly as the library reads its
    argument. One vectorised pass serves every length; the bits are the library's
    bits (booleans). The library's 256x256 minimum is not enforced here.
    """
    import cv2  # optional extra 'watermark'

    decision = _block_decisions(np.ascontiguousarray(bgr), cv2.COLOR_BGR2YUV)
    return [_bits_from_decisions(decision, n) for n in lengths]


def decode_known_marks(rgb: np.ndarray) -> dict[str, list[np.ndarray]]:
    """Bits of every known mark (in ``KNOWN_MARKS`` order) for each channel order.

    ``rgb`` is (H, W, 3) uint8 RGB. ``out["bgr"]`` is what the library decodes from
    the BGR array (the reference scripts' convention), ``out["rgb"]`` what it
    decodes from the RGB array itself (diffusers' convention).
    """
    rgb = np.ascontiguousarray(rgb)
    lengths = tuple(len(m.bits) for m in KNOWN_MARKS)
    out = {}
    for order in _ORDERS:
        decision = _block_decisions(rgb, _yuv_code(order))
        out[order] = [_bits_from_decisions(decision, n) for n in lengths]
    return out


def _undo_orientation(upright: np.ndarray, orientation: int | None) -> np.ndarray:
    """Stored pixel layout from pixels made upright by ``ImageOps.exif_transpose``."""
    ops = {
        2: lambda a: a[:, ::-1],  # FLIP_LEFT_RIGHT (self-inverse)
        3: lambda a: a[::-1, ::-1],  # ROTATE_180
        4: lambda a: a[::-1],  # FLIP_TOP_BOTTOM
        5: lambda a: a.transpose(1, 0, 2),  # TRANSPOSE
        6: lambda a: np.rot90(a, 1),  # undo ROTATE_270
        7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # TRANSVERSE
        8: lambda a: np.rot90(a, -1),  # undo ROTATE_90
    }
    op = ops.get(orientation) if orientation is not None else None
    return op(upright) if op else upright


def _orientation(im, data: bytes) -> int | None:
    """The EXIF orientation ``synthtrace.io.images`` applied, read without decoding pixels.

    Returns -1 when it cannot be known without decoding (a PNG eXIf chunk after
    the image data, which Pillow reads only on load).
    """
    if im.format == "PNG" and "exif" not in im.info:
        return -1 if b"eXIf" in data else None
    try:
        value = im.getexif().get(_ORIENTATION_TAG)
    except Exception:  # images.py applies no orientation when EXIF is unreadable
        return None
    return int(value) if isinstance(value, int) else None


def _load_rgb(data: bytes, rgb: np.ndarray | None = None) -> np.ndarray | str:
    """The stored pixels as RGB uint8 (no EXIF rotation), or why they cannot be checked.

    ``rgb`` (pixels from ``synthtrace.io.images``, upright per EXIF orientation)
    is used instead of decoding again when it is certainly the same pixels: an RGB
    or grayscale file whose orientation can be undone; otherwise the file is decoded.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(BytesIO(data)) as im:
                w, h = im.size
                if w * h > MAX_PIXELS:
                    return f"the image has {w}x{h} pixels, over the {MAX_PIXELS}-pixel limit for this check"
                if w * h < MIN_PIXELS:
                    return f"the image is {w}x{h}, smaller than the 256x256 the decoder needs"
                if min(w, h) < 8:
                    return f"the image is {w}x{h}; the decoder needs at least 8 pixels on each side"
                if rgb is not None and im.mode in ("RGB", "L"):
                    orientation = _orientation(im, data)
                    if orientation != -1:
                        stored = _undo_orientation(np.asarray(rgb), orientation)
                        if stored.shape == (h, w, 3) and stored.dtype == np.uint8:
                            return np.ascontiguousarray(stored)
                out = np.asarray(im.convert("RGB"))
    except Exception as exc:
        return f"the pixels could not be decoded ({type(exc).__name__}: {exc})"
    return np.ascontiguousarray(out)


def read_watermarks(data: bytes, *, rgb: np.ndarray | None = None) -> list[Evidence]:
    """Decode every known mark; one evidence per match, or one 'no match' item.

    ``rgb`` optionally passes pixels the caller already decoded (as
    ``synthtrace.io.images.load_image`` returns them: (H, W, 3) uint8, upright per
    EXIF orientation) so the file is not decoded a second time; the stored layout
    is restored from the orientation tag. When they cannot be matched to the
    file's stored pixels with certainty, the file is decoded instead.
    """
    try:
        importlib.import_module("cv2")
        importlib.import_module("pywt")
    except ImportError:
        return [missing_extra("watermark", "watermark", "opencv-python-headless / PyWavelets")]
    pixels = _load_rgb(data, rgb)
    if isinstance(pixels, str):
        return [Evidence(source="watermark", name="invisible_watermark", details={"checked": False, "reason": pixels},
                         explanation=f"Invisible watermarks were not checked: {pixels}.")]
    decoded = decode_known_marks(pixels)
    results = []
    for i, mark in enumerate(KNOWN_MARKS):
        want = np.asarray(mark.bits, dtype=bool)
        # max over (matches, order): ties go to "rgb", as before
        matches, order = max((int((decoded[o][i] == want).sum()), o) for o in _ORDERS)
        results.append((mark, matches, order))
    out = []
    for mark, matches, order in results:
        n = len(mark.bits)
        accuracy, chance = matches / n, chance_probability(matches, n)
        if accuracy >= MATCH_ACCURACY:
            out.append(Evidence(
                source="watermark", name=mark.name, direction="generated", strength=0.95, reliability=RELIABILITY,
                details={"generator": mark.generator, "bit_accuracy": round(accuracy, 4), "bits": n,
                         "chance_probability": chance, "channel_order": order},
                explanation=f"The image carries the invisible watermark that {mark.generator} embeds "
                f"({matches} of {n} bits match; the chance of this by luck is about {chance:.1e}). The mark is "
                "public, so it could in principle be added to a real photo, but it is strong evidence."))
    if not out:
        out.append(Evidence(
            source="watermark", name="invisible_watermark",
            details={"checked": True, "bit_accuracy": {m.name: round(k / len(m.bits), 4) for m, k, _ in results}},
            explanation="No known invisible watermark (Stable Diffusion 1.x, SDXL) was found. Most generators "
            "do not embed these, and resizing or re-compression removes them, so this proves nothing."))
    return out
