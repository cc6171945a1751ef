"""Scan speed at 512 px with and without the shipped detector, in the same run.

    python benchmarks/scan_speed_real.py [--dev ../shared/real-world-dev] [--repeat 2]

Scans the 512-px PNG crops of the real-world dev set (validation data, used here
only as realistic 512-px inputs) with ``scan_paths``: once with no detector
(provenance + pixel signals), once with the built-in detector, and prints images/s
of each, the ratio, and the forensic features alone. One process; the machine's
CPU (``lscpu``) and load (``uptime``) are printed beside the numbers, because a
shared machine moves them.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dev", type=Path, default=HERE.parents[1] / "shared" / "real-world-dev")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args(argv)
    from synthtrace.detector import BUILTIN, DetectorBundle
    from synthtrace.features.forensic import forensic_features
    from synthtrace.io.images import load_image
    from synthtrace.tasks.scan import scan_paths

    files = sorted((args.dev / "pixels").glob("*.png"))
    det = DetectorBundle.from_pretrained(BUILTIN)
    cpu = next((ln.split(":", 1)[1].strip() for ln in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
                if ln.startswith("Model name")), platform.processor())
    print(f"{len(files)} PNG crops of {args.dev}; CPU {cpu}, {os.cpu_count()} cores; load {os.getloadavg()[0]:.2f}")
    rates = {}
    for name, d in (("no detector", None), ("built-in detector", det), ("no detector (again)", None)):
        best = 0.0
        for _ in range(args.repeat):
            t = time.perf_counter()
            scan_paths(files, d)
            best = max(best, len(files) / (time.perf_counter() - t))
        rates[name] = best
        print(f"  scan, {name}: {best:.1f} images/s")
    imgs = [load_image(f).rgb for f in files]
    t = time.perf_counter()
    for im in imgs:
        forensic_features(im)
    print(f"  forensic features alone: {len(imgs) / (time.perf_counter() - t):.1f} images/s")
    base = (rates["no detector"] + rates["no detector (again)"]) / 2
    print(f"  built-in detector / no detector: {rates['built-in detector'] / base:.2f}x the rate; load {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
