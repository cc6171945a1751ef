"""Built-in benchmark build speed: images per second with files written.

    python benchmarks/bench_build_speed.py [--per-source 150] [--size 128] [--encode jpeg:85-98] [--workers 0]

Prints images/s for the whole build (pool start-up included) and the spec target
(>= 200 images/s at 128 px on 2 cores with JPEG output).
"""

from __future__ import annotations

import argparse
import os
import tempfile

from synthtrace.bench.build import BenchConfig, build_benchmark


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-source", type=int, default=150)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--encode", default="jpeg:85-98")
    ap.add_argument("--workers", type=int, default=0, help="0 = one per core")
    args = ap.parse_args()
    cfg = BenchConfig(size=args.size, per_source=args.per_source, encode=args.encode)
    with tempfile.TemporaryDirectory() as tmp:
        s = build_benchmark(tmp, cfg, workers=args.workers or None)
    print(f"cores: {os.cpu_count()}, size {args.size}, encode {args.encode}, per-source {args.per_source}")
    print(f"built {s.n_images} images in {s.seconds:.2f} s: {s.images_per_second:.0f} images/s (target >= 200)")


if __name__ == "__main__":
    main()
