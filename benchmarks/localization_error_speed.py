"""Speed of the fine-grained error analysis: 500 label maps of 512×512 with 20 classes.

Target (issue 7): <= 60 s on the project machine. Ground truth: blocky-blob label maps
(20 classes, coarse random field upsampled and smoothed); prediction: the ground truth
shifted by a few pixels with wrong-class patches pasted in (boundary, extent and
segment errors) and 2 % ignore pixels. d = 1 % of the diagonal (7 px). Generation is
not timed.

    python benchmarks/localization_error_speed.py [--n 500] [--size 512] [--classes 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import ndimage as ndi

from synthtrace.metrics.mask_errors import ErrorAnalyzer


def make_pair(rng: np.random.Generator, size: int, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    cells = 12
    coarse = rng.integers(0, n_classes, (cells, cells)).astype(np.uint8)
    zoom = size / cells
    gt = ndi.zoom(coarse, zoom, order=0, mode="nearest")[:size, :size]
    gt = ndi.median_filter(gt, size=9)
    pred = np.roll(gt, (int(rng.integers(-4, 5)), int(rng.integers(-4, 5))), axis=(0, 1))
    for _ in range(6):  # wrong-class patches
        y, x = rng.integers(0, size - 48, 2)
        h, w = rng.integers(8, 48, 2)
        pred[y:y + h, x:x + w] = rng.integers(0, n_classes)
    ign = rng.random((size // 8, size // 8)) < 0.02
    gt = gt.copy()
    gt[np.kron(ign, np.ones((8, 8), bool))] = 255
    return pred, gt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--classes", type=int, default=20)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    pairs = [make_pair(rng, args.size, args.classes) for _ in range(args.n)]
    an = ErrorAnalyzer(args.classes, ignore_index=255, d_frac=0.01)
    t0, c0 = time.perf_counter(), time.process_time()
    for pred, gt in pairs:
        an.add(pred, gt)
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    s = an.summary()
    m = s["mean"]
    full = args.n == 500 and args.size == 512 and args.classes == 20
    est = dt if full else dt / args.n * 500
    print(f"{args.n} label maps {args.size}x{args.size}, {args.classes} classes, d=1% diagonal: "
          f"{dt:.1f} s ({1000 * dt / args.n:.1f} ms/map); "
          + (f"target <= 60 s: {'PASS' if dt <= 60 else 'FAIL'}" if full
             else f"extrapolated to 500 maps: {est:.0f} s (not the acceptance run)")
          + f"; CPU time {cpu:.1f} s (wall > CPU means the machine was shared)")
    print(f"mIoU {100 * m['IoU']:.1f}  E_bnd {100 * m['E_bnd_oU']:.1f}  E_ext {100 * m['E_ext_oU']:.1f}  "
          f"E_seg {100 * m['E_seg_oU']:.1f}")


if __name__ == "__main__":
    main()
