import io

import numpy as np
import pytest
from PIL import Image

from synthtrace.signals.jpeg import (
    JpegHistory,
    estimate_quality,
    ijg_table,
    STD_LUMA,
    pixel_reliability,
    read_jpeg_history,
    resize_hint,
)

from ._synth import decode, jpeg_bytes, rgb_texture


@pytest.mark.parametrize("quality", [50, 75, 90, 95])
def test_quality_estimate_within_two(quality):
    h = read_jpeg_history(jpeg_bytes(rgb_texture(64, 0), quality))
    assert h.is_jpeg is True
    assert abs(h.quality - quality) <= 2
    assert h.standard_tables is True


def test_estimate_quality_on_tables_and_bad_input():
    assert estimate_quality(ijg_table(STD_LUMA, 83)) == (83.0, True)
    q, exact = estimate_quality(ijg_table(STD_LUMA, 83) + 1)
    assert abs(q - 83) <= 3 and not exact
    with pytest.raises(ValueError, match="64-entry"):
        estimate_quality([1, 2, 3])


def test_double_compression_flagged_more_often_than_single():
    doubles = singles = 0
    for seed in range(4):
        img = rgb_texture(384, seed)
        single = jpeg_bytes(img, 70)
        double = jpeg_bytes(decode(jpeg_bytes(img, 90)), 70)  # same 8x8 grid
        doubles += read_jpeg_history(double).double_compression.flagged
        singles += read_jpeg_history(single).double_compression.flagged
    assert doubles >= 3 and singles <= 1 and doubles > singles


def test_non_jpeg_says_no_jpeg_history():
    buf = io.BytesIO()
    Image.fromarray(rgb_texture(32, 1)).save(buf, "PNG")
    h = read_jpeg_history(buf.getvalue())
    assert h.is_jpeg is False and "no JPEG history" in h.summary and h.quality is None


def test_missing_or_broken_file_is_unknown_not_an_error(tmp_path):
    assert read_jpeg_history().is_jpeg is None
    assert "unknown" in read_jpeg_history(b"not an image").summary
    assert read_jpeg_history(path=tmp_path / "missing.jpg").is_jpeg is None
    p = tmp_path / "x.jpg"
    p.write_bytes(jpeg_bytes(rgb_texture(64, 2), 80))
    assert read_jpeg_history(path=p).quality == 80


def test_pixel_reliability_decreases_with_quality_and_downscaling():
    img = rgb_texture(128, 3)
    hist = {q: read_jpeg_history(jpeg_bytes(img, q)) for q in (95, 85, 70, 50, 30)}
    camera = (4000, 3000)
    values = [pixel_reliability(hist[q], camera) for q in (95, 85, 70, 50, 30)]
    assert all(a > b for a, b in zip(values, values[1:]))
    assert all(0.0 <= v <= 1.0 for v in values)
    assert pixel_reliability(hist[95], (1280, 960)) < pixel_reliability(hist[95], camera)
    assert pixel_reliability(hist[95], (128, 128)) < pixel_reliability(hist[95], (1000, 700))


def test_double_compression_and_unknown_file_lower_reliability():
    img = rgb_texture(384, 4)
    single = read_jpeg_history(jpeg_bytes(img, 70))
    double = read_jpeg_history(jpeg_bytes(decode(jpeg_bytes(img, 90)), 70))
    assert double.double_compression.flagged and not single.double_compression.flagged
    assert pixel_reliability(double, (4000, 3000)) < pixel_reliability(single, (4000, 3000))
    assert pixel_reliability(JpegHistory(None, "unknown"), (4000, 3000)) < 1.0


def test_resize_hint_size_classes():
    assert resize_hint(4032, 3024).size_class == "camera"
    assert resize_hint(3024, 4032).size_class == "camera"
    hint = resize_hint(1080, 1350)
    assert hint.size_class == "platform" and hint.likely_downscaled
    assert resize_hint(777, 555, {"fx": 0.3, "fy": 0.1, "ratio": 20.0}).likely_resampled
