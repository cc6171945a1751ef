"""Time a 4000x3000 (12-megapixel) JPEG through ``synthtrace.signals.analyze_pixels``.

Run: python benchmarks/scan_speed_signals.py [--repeat 5] [--measure]
Prints the decode time (Pillow, not part of the signals) and the analysis time
(residual, spectrum, peak score, JPEG history including the DQ test, which
re-decodes the file's luminance plane), best and median of the repeats.

``--measure`` also prints the numbers quoted in docs/signals.md: peak scores on
synthetic up-sampled / camera-like images and double-compression flag rates.
These are synthetic images, not photographs: they check the mechanism only.
"""

from __future__ import annotations

import argparse
import io
import platform
import statistics
import time

import numpy as np
from PIL import Image
from scipy import ndimage

from synthtrace.signals import analyze_pixels


def make_jpeg(width: int = 4000, height: int = 3000, quality: int = 90, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    small = ndimage.zoom(rng.normal(size=(height // 8, width // 8, 3)), (8, 8, 1), order=1)
    img = 128 + 40 * small / small.std() + rng.normal(0, 3, size=(height, width, 3))
    buf = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--measure", action="store_true", help="also print the docs' synthetic measurements")
    args = ap.parse_args()
    if args.measure:
        measure()
    data = make_jpeg()
    decode, analyse = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        t1 = time.perf_counter()
        ev = analyze_pixels(rgb, data=data)
        t2 = time.perf_counter()
        decode.append(t1 - t0)
        analyse.append(t2 - t1)
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"image: {rgb.shape[1]}x{rgb.shape[0]} JPEG q90, {len(data) / 1e6:.1f} MB, {args.repeat} repeats")
    print(f"decode (Pillow):      best {min(decode):.3f} s, median {statistics.median(decode):.3f} s")
    print(f"analyze_pixels:       best {min(analyse):.3f} s, median {statistics.median(analyse):.3f} s")
    total = [a + b for a, b in zip(decode, analyse)]
    print(f"decode + analyze:     best {min(total):.3f} s, median {statistics.median(total):.3f} s")
    for e in ev:
        print(f"  {e.source}/{e.name}: direction={e.direction} strength={e.strength:.2f} reliability={e.reliability:.2f}")


def _texture(n: int, seed: int, sigma: float = 2.0) -> np.ndarray:
    x = ndimage.gaussian_filter(np.random.default_rng(seed).normal(size=(n, n)), sigma)
    return 128 + 40 * (x - x.mean()) / x.std()


def _up(x: np.ndarray, f: int, kind: str, seed: int) -> np.ndarray:
    if kind == "nearest":
        return np.kron(x, np.ones((f, f)))
    if kind == "bilinear":
        img = Image.fromarray(x.astype(np.float32), "F")
        return np.asarray(img.resize((x.shape[1] * f, x.shape[0] * f), Image.BILINEAR))
    k = np.random.default_rng(100 + seed).uniform(0.5, 1.5, size=(2 * f, 2 * f))  # transposed conv
    up = np.zeros((x.shape[0] * f, x.shape[1] * f))
    up[::f, ::f] = x
    return ndimage.convolve(up, k / k.sum() * f * f, mode="wrap")


def _camera(n: int, seed: int) -> np.ndarray:
    """Colour texture + noise through an RGGB mosaic and bilinear demosaicing."""
    rng = np.random.default_rng(seed)
    base = _texture(n, seed, 1.5)
    rgb = np.stack([0.5 * base + 0.5 * _texture(n, seed + 10 + c, 1.5) for c in range(3)], -1)
    rgb += rng.normal(0, 3, rgb.shape)
    m = np.zeros((n, n))
    mr, mb = np.zeros((n, n)), np.zeros((n, n))
    mr[0::2, 0::2] = 1
    mb[1::2, 1::2] = 1
    mg = 1 - mr - mb
    m = rgb[..., 0] * mr + rgb[..., 1] * mg + rgb[..., 2] * mb
    kg = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]]) / 4
    krb = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 4
    out = [ndimage.convolve(m * mr, krb), ndimage.convolve(m * mg, kg), ndimage.convolve(m * mb, krb)]
    return np.clip(np.stack(out, -1), 0, 255)


def _jpeg(img: np.ndarray, q: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=q)
    return buf.getvalue()


def _dec(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def measure(n_images: int = 20, size: int = 512) -> None:
    from synthtrace.signals import GENERATED_THRESHOLD
    from synthtrace.signals.jpeg import read_jpeg_history

    def grey(x: np.ndarray) -> np.ndarray:
        return np.repeat(np.clip(x, 0, 255).astype(np.uint8)[..., None], 3, axis=2)

    sets = {
        "camera-like (mosaic+demosaic)": lambda s: _camera(size, s),
        "texture + noise": lambda s: grey(_texture(size, s) + np.random.default_rng(s).normal(0, 3, (size, size))),
        "transposed conv x2": lambda s: grey(_up(_texture(size // 2, s), 2, "tconv", s)),
        "transposed conv x4": lambda s: grey(_up(_texture(size // 4, s), 4, "tconv", s)),
        "transposed conv x8": lambda s: grey(_up(_texture(size // 8, s), 8, "tconv", s)),
        "nearest x4": lambda s: grey(_up(_texture(size // 4, s), 4, "nearest", s)),
        "bilinear x4": lambda s: grey(_up(_texture(size // 4, s), 4, "bilinear", s)),
    }
    print(f"peak score, {n_images} images of {size}x{size} per set (threshold {GENERATED_THRESHOLD}):")
    print(f"  {'set':32s} {'PNG mean':>9s} {'flagged':>8s} {'JPEG q90 mean':>14s} {'flagged':>8s}")
    for name, make in sets.items():
        png, jpg = [], []
        for s in range(n_images):
            img = make(s)
            png.append(analyze_pixels(img)[0].strength)
            data = _jpeg(img, 90)
            jpg.append(analyze_pixels(_dec(data), data=data)[0].strength)
        fp = np.mean(np.array(png) >= GENERATED_THRESHOLD)
        fj = np.mean(np.array(jpg) >= GENERATED_THRESHOLD)
        print(f"  {name:32s} {np.mean(png):9.2f} {fp:8.0%} {np.mean(jpg):14.2f} {fj:8.0%}")
    print(f"double-compression flag rate, {n_images} camera-like images per cell (aligned grid):")
    for side in (384, 1024):
        cells = []
        for label, q1, q2 in (("single q70", None, 70), ("q90->q70", 90, 70), ("q95->q80", 95, 80),
                              ("q70->q90", 70, 90), ("single q90", None, 90)):  # fmt: skip
            hits = 0
            for s in range(n_images):
                img = _camera(side, 1000 + s)
                data = _jpeg(img, q2) if q1 is None else _jpeg(_dec(_jpeg(img, q1)), q2)
                hits += read_jpeg_history(data).double_compression.flagged
            cells.append(f"{label} {hits / n_images:.0%}")
        print(f"  {side}x{side}: " + ", ".join(cells))


if __name__ == "__main__":
    main()
