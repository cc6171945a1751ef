"""The double-compression test on real files: first-time and repeated JPEG saves of
the real-world developer set's crops (generator outputs and camera photos)."""

import io

import numpy as np
from PIL import Image

from synthtrace.signals.jpeg import pixel_reliability, read_jpeg_history

from ._real import crops


def _save(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _decode(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def test_first_time_saves_of_generator_pngs_are_not_flagged():
    # Generator outputs published as PNG have never been JPEG: one save is one save.
    for path in crops("fake-png")[:8]:
        img = Image.open(path).convert("RGB")
        for q in (75, 90):
            dc = read_jpeg_history(_save(img, q)).double_compression
            assert not dc.flagged, f"{path.name} saved once at q{q}: p={dc.p_value:.1e}"


def test_aligned_resaves_from_lower_quality_are_flagged():
    tested = 0
    for path in crops("fake-png")[:10]:
        img = Image.open(path).convert("RGB")
        once = read_jpeg_history(_save(img, 90))
        twice = read_jpeg_history(_save(_decode(_save(img, 70)), 90))  # same 8x8 grid
        dc = twice.double_compression
        if "too flat" in dc.note:  # the documented blind spot: it says so and does not guess
            assert not dc.flagged and "too flat" in once.double_compression.note
            continue
        tested += 1
        assert dc.flagged, f"{path.name} q70 -> q90: p={dc.p_value:.1e}"
        assert pixel_reliability(twice, img.size) < pixel_reliability(once, img.size)
    assert tested >= 8


def test_mostly_flat_images_are_not_tested():
    # A colour-chart-like image: flat patches and a few straight edges. Its aligned and
    # shifted grids see the edges differently, so the test declines rather than guesses.
    rng = np.random.default_rng(0)
    img = np.repeat(np.repeat(rng.integers(30, 220, (6, 6, 3)), 64, axis=0), 64, axis=1).astype(np.uint8)
    for data in (_save(Image.fromarray(img), 90), _save(_decode(_save(Image.fromarray(img), 70)), 90)):
        dc = read_jpeg_history(data).double_compression
        assert not dc.flagged and "too flat for the DQ test" in dc.note


def test_a_crop_that_moves_the_grid_hides_the_earlier_save():
    # The documented blind spot: shifting by 3 px puts the earlier blocks off the grid.
    path = crops("fake-png")[0]
    first = _decode(_save(Image.open(path).convert("RGB"), 70))
    shifted = first.crop((3, 3, first.width, first.height))
    assert not read_jpeg_history(_save(shifted, 90)).double_compression.flagged


def test_the_dev_sets_q90_copies_of_generator_pngs_are_not_flagged():
    # pixels-jpeg90 holds first-time q90 saves made by another encoder run.
    paths = crops("fake-png", "pixels-jpeg90")
    flagged = [p.name for p in paths if read_jpeg_history(path=p).double_compression.flagged]
    assert len(paths) > 40 and flagged == []


def test_camera_crop_resaved_on_its_grid_is_flagged():
    # Camera crops kept the camera JPEG's grid (corner on a multiple of 16). A camera table
    # with steps above 1 (rw-0016: Olympus C720UZ, about q85) leaves the DQ trace at q90.
    cam = {p.name: p for p in crops("camera")}["rw-0016.png"]
    hist = read_jpeg_history(_save(Image.open(cam).convert("RGB"), 90))
    assert hist.double_compression.flagged
    assert np.isfinite(hist.double_compression.p_value) and hist.double_compression.p_value < 1e-4
