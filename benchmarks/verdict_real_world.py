"""How often the verdict is right when it commits, on the real-world dev set.

    python benchmarks/verdict_real_world.py                          # signals only
    python benchmarks/verdict_real_world.py --detector demo-output/detector

Scans ``pixels/`` (PNG crops) and ``pixels-jpeg90/`` (JPEG q90 copies) of
../shared/real-world-dev (validation only, never training) with ``scan_file`` and
prints, per folder: how many images the verdict calls "likely generated" and
"likely authentic", the share of those calls that are right, the abstentions, the
camera photos called likely generated, and the fused score's ROC AUC (a missing
score counts as 0). The target of issue 19: >= 90 % right among the calls.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dev", type=Path, default=HERE.parents[1] / "shared" / "real-world-dev")
    ap.add_argument("--detector", type=Path, default=None, help="a detector bundle folder (default: none)")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from sklearn.metrics import roc_auc_score

    from synthtrace.detector import DetectorBundle
    from synthtrace.tasks.scan import scan_file

    det = DetectorBundle.from_pretrained(args.detector) if args.detector else None
    what = f"detector {args.detector} (validation: {getattr(det, 'validation', None) or 'none'})" if det else "no detector"
    print(f"real-world dev set, {what}")
    for sub in ("pixels", "pixels-jpeg90"):
        rows = list(csv.DictReader(open(args.dev / sub / "manifest.csv", newline="")))
        y, labels, scores = [], [], []
        for r in rows:
            res = scan_file(args.dev / sub / r["path"], det)
            y.append(r["label"] == "fake")
            labels.append(res.verdict.label if res.verdict else "error")
            scores.append(res.verdict.score if res.verdict and res.verdict.score is not None else 0.0)
        y, labels, scores = np.array(y), np.array(labels), np.array(scores)
        gen, auth = labels == "likely_generated", labels == "likely_authentic"
        right = int((gen & y).sum() + (auth & ~y).sum())
        calls = int(gen.sum() + auth.sum())
        share = f"{right / calls:.1%}" if calls else "n/a"
        print(f"  {sub:14s} likely generated {int(gen.sum())} ({int((gen & y).sum())} right), likely authentic "
              f"{int(auth.sum())} ({int((auth & ~y).sum())} right): {right}/{calls} right ({share}); "
              f"uncertain {int((labels == 'uncertain').sum())}/{len(y)}; cameras called likely generated "
              f"{int((gen & ~y).sum())}/{int((~y).sum())}; fused-score ROC AUC {roc_auc_score(y, scores):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
