"""Invisible watermarks embedded with invisible-watermark, as the SD pipelines do, then decoded."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from synthtrace.provenance import read_provenance
from synthtrace.provenance.watermark import SDXL_BITS, chance_probability, read_watermarks

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
