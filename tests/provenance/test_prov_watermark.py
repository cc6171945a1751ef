"""Invisible watermarks embedded with invisible-watermark, as the SD pipelines do, then decoded."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from synthtrace.io.images import load_image_bytes
from synthtrace.provenance import read_provenance, watermark
from synthtrace.provenance.watermark import (
    KNOWN_MARKS,
    SDXL_BITS,
    chance_probability,
    decode_known_marks,
    dwtdct_bits,
    read_watermarks,
)
from synthtrace.tasks.scan import ScanOptions, scan_file

imwatermark = pytest.importorskip("imwatermark", reason="invisible-watermark (synthtrace[watermark]) is not installed")
cv2 = pytest.importorskip("cv2")


@pytest.fixture(scope="module")
def photo_rgb() -> np.ndarray:
    rng = np.random.default_rng(7)
    return cv2.GaussianBlur(rng.integers(0, 256, (320, 320, 3), dtype=np.uint8), (9, 9), 3)


def _png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


def test_sd1_watermark_as_in_compvis_txt2img(photo_rgb):
    # scripts/txt2img.py: RGB→BGR, encode bytes "StableDiffusionV1" with dwtDct, BGR→RGB
    enc = imwatermark.WatermarkEncoder()
    enc.set_watermark("bytes", b"StableDiffusionV1")
    bgr = enc.encode(cv2.cvtColor(photo_rgb, cv2.COLOR_RGB2BGR), "dwtDct")
    evidence = read_watermarks(_png(bgr[:, :, ::-1]))
    (ev,) = evidence
    assert ev.name == "stable_diffusion_v1" and ev.direction == "generated"
    assert ev.details["bit_accuracy"] >= 0.9 and ev.details["chance_probability"] < 1e-20


def test_sdxl_watermark_as_in_diffusers(photo_rgb):
    # diffusers StableDiffusionXLWatermarker passes the RGB array straight to encode()
    enc = imwatermark.WatermarkEncoder()
    enc.set_watermark("bits", list(SDXL_BITS))
    rgb = enc.encode(photo_rgb.copy(), "dwtDct")
    (ev,) = read_provenance("x.png", data=_png(rgb))[-1:]
    assert ev.name == "sdxl" and ev.direction == "generated" and ev.reliability == pytest.approx(0.8)
    assert ev.details["bit_accuracy"] >= 0.9 and ev.details["chance_probability"] < 1e-8


def test_clean_image_has_no_watermark(photo_rgb):
    (ev,) = read_watermarks(_png(photo_rgb))
    assert ev.direction == "none" and ev.details["checked"] and "proves nothing" in ev.explanation
    assert max(ev.details["bit_accuracy"].values()) < 0.9


def test_small_or_undecodable_images_are_not_checked():
    (small,) = read_watermarks(_png(np.zeros((64, 64, 3), np.uint8)))
    assert small.details["checked"] is False and "256x256" in small.explanation
    (junk,) = read_watermarks(b"not an image")
    assert junk.details["checked"] is False and junk.direction == "none"


def test_chance_probability():
    assert chance_probability(48, 48) == pytest.approx(2.0**-48)
    assert chance_probability(0, 10) == pytest.approx(1.0)


# ---------------------------------------------------- fast decoder vs the library --

def _marked(rgb: np.ndarray, kind: str) -> np.ndarray:
    """RGB pixels as the pipelines leave them: clean, SD 1.x (BGR in) or SDXL (RGB in)."""
    enc = imwatermark.WatermarkEncoder()
    if kind == "sd1":
        enc.set_watermark("bytes", b"StableDiffusionV1")
        return np.ascontiguousarray(enc.encode(np.ascontiguousarray(rgb[:, :, ::-1]), "dwtDct")[:, :, ::-1])
    if kind == "sdxl":
        enc.set_watermark("bits", list(SDXL_BITS))
        return enc.encode(rgb.copy(), "dwtDct")
    return rgb


def _library_bits(img: np.ndarray, n: int) -> np.ndarray:
    return np.asarray(imwatermark.WatermarkDecoder("bits", n).decode(np.ascontiguousarray(img), "dwtDct"), dtype=bool)


@pytest.mark.parametrize("kind", ["clean", "sd1", "sdxl"])
@pytest.mark.parametrize("shape", [(256, 256), (320, 320), (301, 517), (257, 1023), (1001, 67), (642, 963)])
def test_fast_decoder_bits_equal_library(kind, shape):
    rng = np.random.default_rng(shape[0] * 7919 + shape[1])
    rgb = _marked(cv2.GaussianBlur(rng.integers(0, 256, (*shape, 3), dtype=np.uint8), (7, 7), 2), kind)
    lengths = tuple(len(m.bits) for m in KNOWN_MARKS)
    decoded = decode_known_marks(rgb)
    for order, img in (("bgr", rgb[:, :, ::-1]), ("rgb", rgb)):
        fast = dwtdct_bits(img, lengths)
        for i, n in enumerate(lengths):
            ref = _library_bits(img, n)
            assert np.array_equal(decoded[order][i], ref), (order, n)
            assert np.array_equal(fast[i], ref), (order, n)


def test_fast_decoder_bits_equal_library_after_jpeg(photo_rgb):
    # a marked image re-compressed: partly damaged bits, away from the clean 0/1 margins
    buf = io.BytesIO()
    Image.fromarray(_marked(photo_rgb, "sdxl")).save(buf, "JPEG", quality=80)
    rgb = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    decoded = decode_known_marks(rgb)
    for order, img in (("bgr", rgb[:, :, ::-1]), ("rgb", rgb)):
        for i, mark in enumerate(KNOWN_MARKS):
            assert np.array_equal(decoded[order][i], _library_bits(img, len(mark.bits)))


def test_haar_lookup_equals_pywavelets():
    pywt = pytest.importorskip("pywt")
    x = np.random.default_rng(3).integers(0, 256, (300, 502), dtype=np.uint8)
    assert watermark._haar_tables() is not None  # the fast path is in use on this platform
    assert np.array_equal(watermark._haar_ll(x), pywt.dwt2(x, "haar")[0])


# ------------------------------------------------------------- reusing pixels --

def _jpeg_with_orientation(rgb: np.ndarray, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=95, exif=exif.tobytes())
    return buf.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_passed_pixels_are_restored_to_the_stored_layout(photo_rgb, orientation):
    rgb = photo_rgb[:, :300]  # not square, so a wrong rotation cannot go unnoticed
    data = _jpeg_with_orientation(np.ascontiguousarray(rgb), orientation)
    upright = load_image_bytes(data, "x.jpg").rgb
    stored = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert np.array_equal(watermark._load_rgb(data, upright), stored)


def test_passed_pixels_are_not_decoded_again(photo_rgb, monkeypatch):
    data = _png(_marked(photo_rgb, "sdxl"))
    upright = load_image_bytes(data, "x.png").rgb
    monkeypatch.setattr(Image.Image, "convert", lambda *a, **k: pytest.fail("decoded the pixels again"))
    (ev,) = read_watermarks(data, rgb=upright)
    assert ev.name == "sdxl"
    (ev,) = read_provenance("x.png", data=data, rgb=upright)[-1:]
    assert ev.name == "sdxl"


def test_mismatched_pixels_fall_back_to_decoding(photo_rgb):
    data = _png(_marked(photo_rgb, "sd1"))
    (ev,) = read_watermarks(data, rgb=np.zeros((10, 10, 3), np.uint8))
    assert ev.name == "stable_diffusion_v1"


def test_scan_finds_the_mark(tmp_path, photo_rgb):
    path = tmp_path / "sdxl.png"
    path.write_bytes(_png(_marked(photo_rgb, "sdxl")))
    result = scan_file(path, options=ScanOptions(signals=False))
    assert [e.name for e in result.evidence if e.source == "watermark"] == ["sdxl"]
