"""Time the robustness grid: N test images x the 12 perturbations (+ clean) with cnn-small.

Target (issue 5): 1 000 test images x 12 perturbations in <= 10 min on the project's
CPU machine. The machine is shared, so the load average is printed with the time.

    synthtrace bench build --out /tmp/i5bench --per-source 60     # 1 110 test images
    synthtrace train --manifest /tmp/i5bench/manifest.csv --out /tmp/i5cnn
    python benchmarks/robustness_speed.py --bench /tmp/i5bench --detector /tmp/i5cnn --images 1000
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from synthtrace.evaluation.robustness import DEFAULT_GRID, evaluate_robustness


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", type=Path, required=True, help="Benchmark folder (manifest.csv inside).")
    ap.add_argument("--detector", type=Path, required=True, help="cnn-small bundle folder.")
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--out", type=Path, default=None, help="Write the robustness JSON here.")
    args = ap.parse_args()

    load0 = os.getloadavg()
    t0, c0 = time.perf_counter(), time.process_time()
    rob = evaluate_robustness(args.detector, args.bench / "manifest.csv", max_images=args.images, n_boot=args.n_boot, progress=True)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    load1 = os.getloadavg()
    if args.out:
        args.out.write_text(json.dumps(rob, indent=2) + "\n")
    n = rob["n_images"]
    print(f"data: {rob['dataset']}; detector {rob['detector']}; {n} {rob['split']} images x {len(DEFAULT_GRID)} perturbations + clean")
    print(f"wall {wall:.1f} s ({wall / 60:.2f} min; target <= 10 min); CPU time of this process {cpu:.1f} s; phases (s): {rob['seconds']}")
    distinct = sum(1 for r in rob["results"].values() if not r.get("pixels_identical_to"))
    print(f"evaluated {n * (len(DEFAULT_GRID) + 1)} images, {n * distinct} forward passes (pixel-identical sets are scored once); {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}; "
          f"load average before {load0[0]:.1f}, after {load1[0]:.1f} (shared machine)")
    for name, r in rob["results"].items():
        print(f"  {name:<18} ROC AUC {r['overall']['roc_auc']:.3f}")


if __name__ == "__main__":
    main()
