"""Parameters hidden in the pixels: AUTOMATIC1111 / Forge "stealth" PNG info and NovelAI's copy.

The stealth-pnginfo extension (and Forge, and NovelAI for its own JSON) writes a
bit stream into the least significant bits of the pixels, so the parameters
survive tools that strip text chunks. The layout, from the extension's
``add_data``/``read_info_from_image_stealth``:

- pixels are visited column by column (x outer, y inner);
- ``alpha`` mode: one bit per pixel, the alpha LSB; ``rgb`` mode: three bits per
  pixel, the R, G and B LSBs in that order;
- the stream is a 15-byte signature (``stealth_pnginfo`` / ``stealth_pngcomp``
  in alpha, ``stealth_rgbinfo`` / ``stealth_rgbcomp`` in RGB; ``comp`` means
  gzip), a 32-bit big-endian payload length *in bits*, then the payload.

Only PNG is read: the extension writes nothing else, and lossy formats destroy
the bits. The file is decoded here because the scan's own decode drops alpha.
"""

from __future__ import annotations

import warnings
import zlib
from io import BytesIO

import numpy as np

from synthtrace.provenance.metadata import MAX_TEXT_BYTES, MetadataError

SIGNATURES = {
    b"stealth_pnginfo": ("alpha", False),
    b"stealth_pngcomp": ("alpha", True),
    b"stealth_rgbinfo": ("rgb", False),
    b"stealth_rgbcomp": ("rgb", True),
}
SIG_BITS = 15 * 8
MAX_STEALTH_PIXELS = 64_000_000  # larger PNGs are not decoded for this check


def lsb_streams(pixels: np.ndarray) -> dict[str, np.ndarray]:
    """The alpha and RGB least-significant-bit streams of an (H, W, 3|4) uint8 array, column-major."""
    cols = np.ascontiguousarray(pixels.transpose(1, 0, 2))  # (W, H, C): x outer, y inner
    streams = {"rgb": (cols[:, :, :3] & 1).reshape(-1)}
    if pixels.shape[2] == 4:
        streams["alpha"] = (cols[:, :, 3] & 1).reshape(-1)
    return streams


def _bytes(bits: np.ndarray) -> bytes:
    return np.packbits(bits[: len(bits) - len(bits) % 8].astype(np.uint8)).tobytes()


def decode_stealth(pixels: np.ndarray) -> tuple[str, str] | None:
    """(signature, payload text) hidden in ``pixels``, or None when no signature is there.

    A present signature with a damaged payload raises MetadataError saying what
    is wrong, so the caller reports it instead of silently passing over it.
    """
    if pixels.ndim != 3 or pixels.shape[2] not in (3, 4) or pixels.dtype != np.uint8:
        return None
    for mode, bits in lsb_streams(pixels).items():
        if len(bits) < SIG_BITS + 32:
            continue
        sig = _bytes(bits[:SIG_BITS])
        if sig not in SIGNATURES or SIGNATURES[sig][0] != mode:
            continue
        compressed = SIGNATURES[sig][1]
        length = int.from_bytes(_bytes(bits[SIG_BITS : SIG_BITS + 32]), "big")
        name = sig.decode()
        if length == 0 or length > (MAX_TEXT_BYTES * 8) or SIG_BITS + 32 + length > len(bits):
            raise MetadataError(f"{name}: the hidden payload claims {length} bits, more than the image can hold "
                                "or than synthtrace reads (damaged or not a real stealth block)")
        payload = _bytes(bits[SIG_BITS + 32 : SIG_BITS + 32 + length])
        if compressed:
            payload = _gunzip(payload, name)
        return name, payload.decode("utf-8", "replace")
    return None


def _gunzip(blob: bytes, name: str) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip wrapper, bounded output
    try:
        out = d.decompress(blob, MAX_TEXT_BYTES + 1)
    except zlib.error as exc:
        raise MetadataError(f"{name}: the hidden gzip payload is corrupt ({exc})") from None
    if len(out) > MAX_TEXT_BYTES or d.unconsumed_tail:
        raise MetadataError(f"{name}: the hidden payload decompresses to more than {MAX_TEXT_BYTES} bytes; not read")
    return out


def stealth_pixels(data: bytes) -> np.ndarray | None:
    """The PNG's pixels as uint8 RGB/RGBA for the LSB check; None when it cannot carry stealth info."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(BytesIO(data)) as im:
                if im.format != "PNG" or im.width * im.height > MAX_STEALTH_PIXELS:
                    return None
                if im.mode not in ("RGB", "RGBA"):
                    return None  # the extension writes 8-bit RGB(A) only; other modes would be converted
                im.load()
                return np.asarray(im)
    except Exception:
        return None  # undecodable pixels are reported by the image decoder, not here


__all__ = ["SIGNATURES", "decode_stealth", "lsb_streams", "stealth_pixels"]
