"""The periodic-peak signal on real photos and real generator outputs (the real-world
dev set; its thresholds were calibrated on other camera photos, see docs/signals.md)."""

import csv

from synthtrace.io.images import load_image
from synthtrace.signals import analyze_pixels, noise_residual, periodic_peaks, power_spectrum

from ._real import crops, real_world_dev


def _spectral(path):
    return next(e for e in analyze_pixels(load_image(path).rgb, path=path) if e.source == "spectrum")


def test_camera_png_crops_are_rarely_called_generated():
    # PNG crops of camera JPEGs keep JPEG's block grid; counted as a generator's grid,
    # it called 8 of these 55 generated before the JPEG rules applied to every file.
    paths = crops("camera")
    called = [p.name for p in paths if _spectral(p).direction == "generated"]
    assert len(paths) == 55 and len(called) <= 0.05 * len(paths), called


def test_the_block_grid_in_a_converted_jpeg_is_discounted():
    cam = {p.name: p for p in crops("camera")}["rw-0109.png"]  # Canon EOS 30D, strong 1/4 axis peak
    spec = power_spectrum(noise_residual(load_image(cam).rgb))
    without, with_rules = periodic_peaks(spec, jpeg_rules=False), periodic_peaks(spec)
    assert with_rules.jpeg_rules is False and without.score >= 0.55  # the default follows is_jpeg
    e = _spectral(cam)
    assert e.details["jpeg_rules"] is True and e.strength < 0.55 and e.direction == "none"
    assert "not counted" in e.explanation


def test_stable_cascade_grids_are_still_found():
    root = real_world_dev()
    with open(root / "pixels" / "manifest.csv", newline="") as f:
        paths = [root / "pixels" / r["path"] for r in csv.DictReader(f) if r["family"] == "stable-cascade"]
    found = [p.name for p in paths if _spectral(p).direction == "generated"]
    assert len(paths) == 6 and len(found) >= 4, found
