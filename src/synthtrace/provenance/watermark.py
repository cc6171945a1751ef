"""Invisible watermarks that open-source Stable Diffusion pipelines embed.

The reference txt2img scripts of Stable Diffusion 1.x embed the bytes
``StableDiffusionV1`` and SDXL (``sgm``/diffusers) embeds the 48-bit message
0xB3EC907BB19E, both with ``invisible-watermark``'s ``dwtDct`` method. We decode
with the same library and report the bit accuracy together with the chance of
that many bits matching by luck, so the match can be defended.

A match is strong evidence of generation (a random image almost never matches),
but the marks are public: anyone can embed them into a real photo, and resizing,
cropping or JPEG re-compression erase them. So no match is only absence of
evidence.
"""

from __future__ import annotations

import importlib
import math
import warnings
from dataclasses import dataclass
from io import BytesIO

import numpy as np

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


def _load_bgr(data: bytes) -> np.ndarray | str:
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(BytesIO(data)) as im:
                w, h = im.size
                if w * h > MAX_PIXELS:
                    return f"the image has {w}x{h} pixels, over the {MAX_PIXELS}-pixel limit for this check"
                if w * h < MIN_PIXELS:
                    return f"the image is {w}x{h}, smaller than the 256x256 the decoder needs"
                rgb = np.asarray(im.convert("RGB"))
    except Exception as exc:
        return f"the pixels could not be decoded ({type(exc).__name__}: {exc})"
    return np.ascontiguousarray(rgb[:, :, ::-1])


def read_watermarks(data: bytes) -> list[Evidence]:
    """Decode every known mark; one evidence per match, or one 'no match' item."""
    try:
        imwatermark = importlib.import_module("imwatermark")
    except ImportError:
        return [missing_extra("watermark", "watermark", "invisible-watermark")]
    bgr = _load_bgr(data)
    if isinstance(bgr, str):
        return [Evidence(source="watermark", name="invisible_watermark", details={"checked": False, "reason": bgr},
                         explanation=f"Invisible watermarks were not checked: {bgr}.")]
    results = []
    for mark in KNOWN_MARKS:
        best = (-1, "bgr")
        # The reference scripts pass BGR; diffusers passes RGB arrays unchanged. Try both.
        for order, img in (("bgr", bgr), ("rgb", bgr[:, :, ::-1])):
            decoder = imwatermark.WatermarkDecoder("bits", len(mark.bits))
            got = np.asarray(decoder.decode(np.ascontiguousarray(img), "dwtDct"), dtype=int)
            matches = int((got == np.asarray(mark.bits)).sum())
            best = max(best, (matches, order))
        results.append((mark, best[0], best[1]))
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
