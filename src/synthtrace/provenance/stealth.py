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
from PIL import Image

from synthtrace.provenance.metadata import MAX_TEXT_BYTES, MetadataError

SIGNATURES = {
    b"stealth_pnginfo": ("alpha", False),
    b"stealth_pngcomp": ("alpha", True),
    b"stealth_rgbinfo": ("rgb", False),
    b"stealth_rgbcomp": ("rgb", True),
}
SIG_BITS = 15 * 8
MAX_STEALTH_PIXELS = 64_000_000  # larger PNGs are not decoded for this check


HEAD_BITS = SIG_BITS + 32  # signature and length: the first 152 pixels of column 0 (alpha), 51 (RGB)


def lsb_streams(pixels: np.ndarray) -> dict[str, np.ndarray]:
    """The alpha and RGB least-significant-bit streams of an (H, W, 3|4) uint8 array, column-major."""
    cols = np.ascontiguousarray(pixels.transpose(1, 0, 2))  # (W, H, C): x outer, y inner
    streams = {"rgb": (cols[:, :, :3] & 1).reshape(-1)}
    if pixels.shape[2] == 4:
        streams["alpha"] = (cols[:, :, 3] & 1).reshape(-1)
    return streams


def _bit_range(pixels: np.ndarray, mode: str, start: int, count: int) -> np.ndarray:
    """Bits ``start .. start+count`` of one stream, computed without building the whole stream."""
    h = pixels.shape[0]
    idx = np.arange(start, start + count, dtype=np.int64)
    if mode == "alpha":
        return pixels[idx % h, idx // h, 3] & 1
    pix, channel = idx // 3, idx % 3
    return pixels[pix % h, pix // h, channel] & 1


def _capacity(pixels: np.ndarray, mode: str) -> int:
    return pixels.shape[0] * pixels.shape[1] * (1 if mode == "alpha" else 3)


def find_signature(pixels: np.ndarray) -> tuple[str, str, bool, int] | None:
    """(signature, mode, compressed, payload bits) when the first bits are a stealth header, else None.

    Reads only the first 152 bits, which lie in the first 152 rows of column 0,
    so the top rows of a tall image are enough to check.
    """
    if pixels.ndim != 3 or pixels.shape[2] not in (3, 4) or pixels.dtype != np.uint8:
        return None
    for mode in ("alpha", "rgb") if pixels.shape[2] == 4 else ("rgb",):
        if _capacity(pixels, mode) < HEAD_BITS:
            continue
        head = _bytes(_bit_range(pixels, mode, 0, HEAD_BITS))
        sig = head[:15]
        if SIGNATURES.get(sig, ("", False))[0] == mode:
            return sig.decode(), mode, SIGNATURES[sig][1], int.from_bytes(head[15:19], "big")
    return None


def _bytes(bits: np.ndarray) -> bytes:
    return np.packbits(bits[: len(bits) - len(bits) % 8].astype(np.uint8)).tobytes()


def decode_stealth(pixels: np.ndarray) -> tuple[str, str] | None:
    """(signature, payload text) hidden in ``pixels`` (the whole image), or None when there is none.

    A present signature with a damaged payload raises MetadataError saying what
    is wrong, so the caller reports it instead of silently passing over it.
    """
    found = find_signature(pixels)
    if found is None:
        return None
    name, mode, compressed, length = found
    if length == 0 or length > MAX_TEXT_BYTES * 8 or HEAD_BITS + length > _capacity(pixels, mode):
        raise MetadataError(f"{name}: the hidden payload claims {length} bits, more than the image can hold "
                            "or than synthtrace reads (damaged or not a real stealth block)")
    payload = _bytes(_bit_range(pixels, mode, HEAD_BITS, length))
    if compressed:
        payload = _gunzip(payload, name)
    return name, payload.decode("utf-8", "replace")


def _gunzip(blob: bytes, name: str) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip wrapper, bounded output
    try:
        out = d.decompress(blob, MAX_TEXT_BYTES + 1)
    except zlib.error as exc:
        raise MetadataError(f"{name}: the hidden gzip payload is corrupt ({exc})") from None
    if len(out) > MAX_TEXT_BYTES or d.unconsumed_tail:
        raise MetadataError(f"{name}: the hidden payload decompresses to more than {MAX_TEXT_BYTES} bytes; not read")
    return out


def stealth_pixels(data: bytes, *, rows: int | None = None) -> np.ndarray | None:
    """The PNG's pixels as uint8 RGB/RGBA for the LSB check; None when it cannot carry stealth info.

    ``rows`` decodes only the top rows (enough for ``find_signature``), so a PNG
    without a signature costs a fraction of a full decode.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(BytesIO(data)) as im:
                if im.format != "PNG" or im.width * im.height > MAX_STEALTH_PIXELS:
                    return None
                if im.mode not in ("RGB", "RGBA"):
                    return None  # the extension writes 8-bit RGB(A) only; other modes would be converted
                if rows is not None and rows < im.height and len(im.tile) == 1 and not im.info.get("interlace"):
                    # decode the first rows only: the zip decoder stops once this smaller region is full
                    im.tile = [im.tile[0]._replace(extents=(0, 0, im.width, rows))]
                    im._size = (im.width, rows)
                im.load()
                return np.asarray(im)
    except Exception:
        return None  # undecodable pixels are reported by the image decoder, not here


def read_stealth_payload(data: bytes) -> tuple[str, str] | None:
    """(signature, payload) hidden in a PNG file's pixels, or None; MetadataError when damaged."""
    head = stealth_pixels(data, rows=HEAD_BITS)
    if head is None or find_signature(head) is None:
        return None
    pixels = stealth_pixels(data)
    return decode_stealth(pixels) if pixels is not None else None


__all__ = ["SIGNATURES", "decode_stealth", "find_signature", "lsb_streams", "read_stealth_payload", "stealth_pixels"]
