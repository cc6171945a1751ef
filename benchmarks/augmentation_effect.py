"""Does train-time augmentation make cnn-small robust to JPEG q60 and 0.5x resize?

Trains two cnn-small bundles with the same seed and epochs, one without and one
with augmentation (``--augment``, default the spec sampler: 0-2 of 16 transforms per
image), and evaluates both on the test split clean, after JPEG q60 and after a
0.5x resize. Prints a table of ROC AUC [95 % CI] and AP.

    synthtrace bench build --out /tmp/i5bench --per-source 60
    python benchmarks/augmentation_effect.py --bench /tmp/i5bench --out /tmp/i5aug

Numbers measured on the built-in benchmark must be labelled as such.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from synthtrace.evaluation.robustness import evaluate_robustness, grid_from_names
from synthtrace.training.train import train_detector

GRID = ("jpeg_q60", "resize_0.5x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", type=Path, required=True, help="Benchmark folder (manifest.csv inside).")
    ap.add_argument("--out", type=Path, required=True, help="Folder for the two bundles and results.json.")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--augment", default="spec", help="spec, bart, or spec:NAME,NAME (the spec sampler over named transforms)")
    ap.add_argument("--n-boot", type=int, default=500)
    ap.add_argument("--plain", type=Path, default=None,
                    help="Reuse this no-augmentation bundle (trained by an earlier run with the same seed and epochs).")
    args = ap.parse_args()

    manifest = args.bench / "manifest.csv"
    rows = {}
    for name, augment in (("no augmentation", None), (f"augment={args.augment}", args.augment)):
        t0 = time.perf_counter()
        out = args.out / ("plain" if augment is None else "aug_" + args.augment.replace(":", "_").replace(",", "+"))
        if augment is None and args.plain:
            out = args.plain
        else:
            train_detector(manifest, out, epochs=args.epochs, seed=args.seed, augment=augment, progress=False)
        train_s = time.perf_counter() - t0
        r = evaluate_robustness(out, manifest, grid=grid_from_names(GRID), n_boot=args.n_boot, seed=args.seed, progress=False)
        rows[name] = {"train_seconds": round(train_s, 1), "dataset": r["dataset"],
                      **{k: {m: v["overall"][m] for m in ("roc_auc", "roc_auc_ci_low", "roc_auc_ci_high", "average_precision")}
                         for k, v in r["results"].items()}}
    (args.out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")

    print(f"data: {next(iter(rows.values()))['dataset']} ({manifest}), test split, all fakes vs all reals")
    print(f"cnn-small, {args.epochs} epochs, seed {args.seed}")
    header = f"{'training':<22}" + "".join(f"{c:>28}" for c in ("clean", *GRID)) + f"{'train s':>9}"
    print(header)
    for name, r in rows.items():
        cells = "".join(
            f"{r[c]['roc_auc']:>8.3f} [{r[c]['roc_auc_ci_low']:.3f},{r[c]['roc_auc_ci_high']:.3f}] AP {r[c]['average_precision']:.3f}".rjust(28)
            for c in ("clean", *GRID)
        )
        print(f"{name:<22}{cells}{r['train_seconds']:>9}")


if __name__ == "__main__":
    main()
