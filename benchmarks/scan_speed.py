"""Time a full single-image scan of a synthetic 12-megapixel JPEG, stage by stage.

Run: python benchmarks/scan_speed.py [--repeat 5] [--width 4000 --height 3000] [--no-reference]

The image is procedural (camera-like: smooth colour texture + fine texture +
Bayer-like mosaic noise, JPEG quality 90, a few EXIF tags), written to a
temporary directory and then scanned the way ``synthtrace.tasks.scan.scan_file`` does it:

1. decode: ``read_file_bytes`` + ``load_image_bytes`` (the scan's only decode).
2. provenance: ``read_provenance(path, data=data, rgb=loaded.rgb)`` — C2PA (if
   c2pa-python is installed), XMP/IPTC, EXIF, generator parameters and the
   invisible-watermark check, which reuses the decoded pixels and runs the
   vectorised dwtDct decoder (``synthtrace.provenance.watermark``) once per
   channel order for both marks. The watermark check is also timed on its own.
3. signals: ``analyze_pixels(loaded.rgb, path=path, data=data)`` (spectrum on a
   1024 px centre crop + JPEG history including the double-compression test).

"total" is the sum of the three stages in one run; "scan_file" times
``synthtrace.tasks.scan.scan_file(path)`` end to end (the same work plus the verdict)
and is what the target applies to: <= 1.5 s on the project's 2-core machine.
Best and median seconds over ``--repeat`` runs. Timings on a shared machine vary
by +-30 %.

Unless ``--no-reference``, the decoder's bits are compared once (untimed) with
``invisible-watermark``'s own decoder (the old path: 2 marks x 2 channel orders,
a Python loop over every 4x4 block), and that reference run is timed too.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from synthtrace.io.images import load_image_bytes, read_file_bytes
from synthtrace.provenance import read_provenance
from synthtrace.provenance.watermark import KNOWN_MARKS, decode_known_marks, read_watermarks
from synthtrace.tasks.scan import scan_file
from synthtrace.signals import analyze_pixels

TARGET_S = 1.5


def check_reference(rgb: np.ndarray) -> tuple[bool, float]:
    """Whether the vectorised decoder gives ``imwatermark``'s bits for both marks and
    channel orders, and the seconds the library took (the old watermark path)."""
    import imwatermark

    fast = decode_known_marks(rgb)
    same = True
    t0 = time.perf_counter()
    for order, img in (("bgr", np.ascontiguousarray(rgb[:, :, ::-1])), ("rgb", np.ascontiguousarray(rgb))):
        for i, mark in enumerate(KNOWN_MARKS):
            ref = imwatermark.WatermarkDecoder("bits", len(mark.bits)).decode(img, "dwtDct")
            same &= bool(np.array_equal(np.asarray(ref, dtype=bool), fast[order][i]))
    return same, time.perf_counter() - t0


def make_photo_jpeg(width: int, height: int, quality: int = 90, seed: int = 0) -> bytes:
    """A camera-like synthetic JPEG with EXIF (Make, Model, DateTime, Software)."""
    rng = np.random.default_rng(seed)
    small = rng.normal(size=(-(-height // 32), -(-width // 32), 3)).astype(np.float32)
    coarse = ndimage.zoom(small, (32, 32, 1), order=1)[:height, :width]
    fine = ndimage.gaussian_filter(rng.normal(size=(height, width)).astype(np.float32), 1.2)
    img = 120 + 45 * coarse / coarse.std()
    img += 12 * (fine / fine.std())[..., None]
    # Sensor-like noise through a 2x2 (Bayer-like) pattern: a weak period-2 component.
    noise = rng.normal(0, 3, size=(height, width)).astype(np.float32)
    noise[0::2, 0::2] *= 1.3
    img += noise[..., None]
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    exif = Image.Exif()
    exif[0x010F] = "SynthCam"  # Make
    exif[0x0110] = "Model 12MP"  # Model
    exif[0x0131] = "firmware 1.0"  # Software
    exif[0x0132] = "2024:05:01 12:00:00"  # DateTime
    buf = io.BytesIO()
    pil.save(buf, "JPEG", quality=quality, exif=exif.tobytes())
    return buf.getvalue()


def _stats(xs: list[float]) -> str:
    return f"best {min(xs):6.3f} s   median {statistics.median(xs):6.3f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5, help="runs per stage (default 5)")
    ap.add_argument("--width", type=int, default=4000)
    ap.add_argument("--height", type=int, default=3000)
    ap.add_argument("--quality", type=int, default=90)
    ap.add_argument("--no-reference", action="store_true",
                    help="skip the (slow, untimed) comparison with invisible-watermark's own decoder")
    args = ap.parse_args()

    has_wm = importlib.util.find_spec("cv2") is not None and importlib.util.find_spec("pywt") is not None
    has_ref = importlib.util.find_spec("imwatermark") is not None
    has_c2pa = importlib.util.find_spec("c2pa") is not None
    keys = ("decode", "provenance", "watermark only", "provenance w/o watermark", "signals", "total", "scan_file")
    t: dict[str, list[float]] = {k: [] for k in keys}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "photo.jpg"
        path.write_bytes(make_photo_jpeg(args.width, args.height, args.quality))
        size_mb = path.stat().st_size / 1e6
        for _ in range(args.repeat):
            # The scan's own path (synthtrace.tasks.scan.scan_file), stage by stage.
            t0 = time.perf_counter()
            data = read_file_bytes(path)
            loaded = load_image_bytes(data, str(path))
            t1 = time.perf_counter()
            prov = read_provenance(path, data=data, rgb=loaded.rgb)
            t2 = time.perf_counter()
            ev = analyze_pixels(loaded.rgb, path=path, data=data)
            t3 = time.perf_counter()
            t["decode"].append(t1 - t0)
            t["provenance"].append(t2 - t1)
            t["signals"].append(t3 - t2)
            t["total"].append(t3 - t0)
            # Provenance split, for attribution (not part of the total).
            t4 = time.perf_counter()
            read_watermarks(data, rgb=loaded.rgb)
            t5 = time.perf_counter()
            read_provenance(path, data=data, watermarks=False)
            t6 = time.perf_counter()
            t["watermark only"].append(t5 - t4)
            t["provenance w/o watermark"].append(t6 - t5)
            # End to end, as `synthtrace scan` runs it (no detector).
            t7 = time.perf_counter()
            result = scan_file(path)
            t["scan_file"].append(time.perf_counter() - t7)
        if result.error:
            raise SystemExit(f"scan_file failed: {result.error}")
        reference = check_reference(loaded.rgb) if has_wm and has_ref and not args.no_reference else None

    print(f"machine: {platform.machine()}, python {platform.python_version()}")
    print(
        f"image: {args.width}x{args.height} JPEG q{args.quality} with EXIF, {size_mb:.1f} MB; "
        f"{args.repeat} runs; watermark decoder (opencv + PyWavelets) {'installed' if has_wm else 'NOT installed'}, "
        f"c2pa {'installed' if has_c2pa else 'NOT installed'}"
    )
    for k in ("decode", "provenance", "  watermark only", "  provenance w/o watermark", "signals", "total",
              "scan_file"):
        print(f"{k:28s} {_stats(t[k.strip()])}")
    best = min(t["scan_file"])
    verdict = "meets" if best <= TARGET_S else "MISSES"
    print(f"target <= {TARGET_S} s for scan_file: best run {best:.3f} s {verdict} it "
          f"(median {statistics.median(t['scan_file']):.3f} s; stage total best {min(t['total']):.3f} s, "
          f"median {statistics.median(t['total']):.3f} s)")
    wm = statistics.median(t["watermark only"])
    print(f"watermark check: {wm:.3f} s median, {wm / statistics.median(t['total']):.0%} of the stage total")
    if reference is not None:
        same, ref_s = reference
        print(f"reference: invisible-watermark's own decoder, 2 marks x 2 orders (the old path) took {ref_s:.3f} s "
              f"once; bits identical to synthtrace's decoder on this image: {same}")
    elif has_wm:
        print("reference: not compared (invisible-watermark not installed, or --no-reference)")
    print("evidence:")
    for e in prov + ev:
        extra = f" error={e.error!r}" if e.error else ""
        print(f"  {e.source}/{e.name}: direction={e.direction} strength={e.strength:.2f}{extra}")


if __name__ == "__main__":
    main()
