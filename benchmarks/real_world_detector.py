"""The forensic detector and the pixel signals on real images, honestly.

    python scripts/real_data.py build --mirror /work/.mirror --out .synthtrace-cache/real-train
    python benchmarks/real_world_detector.py --train .synthtrace-cache/real-train/manifest.csv \
        [--detector builtin] [--json out.json]

Data: training views come from the fetched manifest (data/real-train, never the dev
set); every number is measured on ../shared/real-world-dev (validation and model
selection only, never training), in three conditions:
- ``png``: the metadata-free PNG crops (camera crops carry their camera JPEG history,
  generator crops mostly none);
- ``jpeg90``: the same crops saved once more as JPEG q90;
- ``jpeg-matched``: both classes with two JPEG saves: generator crops saved at a
  camera-like quality (85-95, seeded), cropped 4 px off the grid and saved at q90,
  beside the camera crops' q90 copies.

Printed per condition: ROC AUC, TPR at 5 % FPR and the camera false-positive rate
(calibrated probability >= 0.5) of the detector, per dev family; the same for the
periodic-peak score; leave-one-family-out (the head retrained without every training
image of the held-out family, from any source); and the trap statistics' AUC on the
same images (JPEG blockiness, pixel mean and standard deviation, high-pass energy), and
the detector's AUC once log high-pass energy is regressed out of its score.
``--verdict`` also scans the dev files with ``scan_file`` (fused score AUC, calls
right, cameras called likely generated); ``--validation-out`` writes the bundle's
validation block measured here.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage as ndi
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from synthtrace.detector import BUILTIN_DIR, DetectorBundle
from synthtrace.features.forensic import forensic_matrix
from synthtrace.heads.calibration import fit_calibration
from synthtrace.heads.forensic import ForensicHead
from synthtrace.io.images import load_image
from synthtrace.io.manifest import read_manifest
from synthtrace.tasks.scan import scan_file
from synthtrace.signals import analyze_pixels
from synthtrace.training.forensic import manifest_views
from synthtrace.verdict import validation_block

HERE = Path(__file__).resolve().parent
# dev family -> the training families a leave-one-family-out run drops (any source of that family)
HELD_OUT = {
    "sd1.x": ("sd1", "sd-unknown"),
    "sd2.x": ("sd2", "sd-unknown"),
    "sdxl": ("sdxl",),
    "stable-cascade": ("stable-cascade", "wuerstchen"),
    "auraflow": ("auraflow",),
    "lumina2": ("lumina",),
}


def dev_rows(dev: Path) -> list[dict]:
    return list(csv.DictReader(open(dev / "pixels" / "manifest.csv", newline="")))


def jpeg_matched(rgb: np.ndarray, key: str) -> np.ndarray:
    rng = np.random.default_rng(int(hashlib.sha1(key.encode()).hexdigest()[:8], 16))
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=int(rng.integers(85, 96)))
    im = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    im = im.crop((4, 4, im.width, im.height))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def dev_images(dev: Path) -> dict[str, tuple[list[np.ndarray], list[Path]]]:
    rows = dev_rows(dev)
    png = [dev / "pixels" / r["path"] for r in rows]
    jpg = [dev / "pixels-jpeg90" / Path(r["path"]).with_suffix(".jpg") for r in rows]
    png_rgb = [load_image(p).rgb for p in png]
    matched = [jpeg_matched(rgb, str(p)) if r["label"] == "fake" else load_image(q).rgb
               for rgb, p, q, r in zip(png_rgb, png, jpg, rows)]
    return {"png": (png_rgb, png), "jpeg90": ([load_image(p).rgb for p in jpg], jpg), "jpeg-matched": (matched, [])}


def tpr_at(y: np.ndarray, s: np.ndarray, fpr: float = 0.05) -> float:
    thr = np.quantile(s[~y], 1 - fpr)
    return float(np.mean(s[y] > thr))


def summary(y: np.ndarray, s: np.ndarray, fam: np.ndarray, prob: np.ndarray | None = None) -> dict:
    out = {"auc": round(float(roc_auc_score(y, s)), 3), "tpr_at_5pct_fpr": round(tpr_at(y, s), 3)}
    if prob is not None:
        out["camera_fpr_at_p0.5"] = round(float(np.mean(prob[~y] >= 0.5)), 3)
    out["per_family"] = {f: round(float(roc_auc_score(y[(fam == f) | ~y], s[(fam == f) | ~y])), 3)
                         for f in sorted(set(fam[y]))}
    return out


def blockiness(x: np.ndarray) -> float:
    """Negated JPEG blockiness: the strongest 8-px grid phase's boundary steps over the steps inside blocks
    (negated, so that "generated" scores high as the trap in specs/real-world-notes.md is quoted)."""
    dx = np.abs(np.diff(x, axis=1)).mean(axis=0)
    dy = np.abs(np.diff(x, axis=0)).mean(axis=1)
    ratio = 0.0
    for d in (dx, dy):
        phases = np.array([d[k::8].mean() for k in range(8)])
        ratio = max(ratio, float(phases.max() / max(np.median(phases), 1e-9)))
    return -ratio


def trap_statistics(images: list[np.ndarray], paths: list[Path]) -> dict[str, np.ndarray]:

    lum = [np.asarray(im[..., :3], np.float64) @ [0.299, 0.587, 0.114] for im in images]
    return {
        "JPEG blockiness (negated)": np.array([blockiness(x) for x in lum]),
        "pixel mean": np.array([x.mean() for x in lum]),
        "pixel standard deviation": np.array([x.std() for x in lum]),
        "high-pass energy (negated)": np.array([-np.mean(np.abs(ndi.laplace(x))) for x in lum]),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", type=Path, required=True, help="manifest.csv written by scripts/real_data.py build")
    ap.add_argument("--dev", type=Path, default=HERE.parents[1] / "shared" / "real-world-dev")
    ap.add_argument("--detector", default="builtin",
                    help="bundle folder, 'builtin' (default), or 'fit': the recipe fitted here on the --train views")
    ap.add_argument("--cache", type=Path, default=Path(".synthtrace-cache/real-world-eval"))
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--verdict", action="store_true", help="also scan the dev files and report the verdict")
    ap.add_argument("--json", type=Path, default=None, help="write every number here")
    ap.add_argument("--write-validation", action="store_true",
                    help="store the validation block measured here (PNG and JPEG q90 crops pooled) in the --detector bundle")
    args = ap.parse_args(argv)

    rows = dev_rows(args.dev)
    y = np.array([r["label"] == "fake" for r in rows])
    fam = np.array([r["family"] for r in rows])
    print(f"features of history-matched views of {args.train} (cached in {args.cache})", file=sys.stderr)
    views = manifest_views(read_manifest(args.train), cache_dir=args.cache, workers=args.workers)
    X_tr, y_tr, fam_tr, split_tr = views.X, views.y.astype(bool), views.family, views.split
    if args.detector == "fit":
        head = ForensicHead().fit(X_tr[split_tr == "train"], y_tr[split_tr == "train"])
        val = split_tr == "val"
        det = DetectorBundle(kind="forensic", backbone={}, preprocess={}, head={}, model=head,
                             calibration=fit_calibration(y_tr[val].astype(int), head.decision_function(X_tr[val])))
    else:
        det = DetectorBundle.from_pretrained(args.detector)
    print(f"training views: {len(y_tr)} ({int(y_tr.sum())} generated); dev set: {int(y.sum())} generated, "
          f"{int((~y).sum())} camera crops (validation only)")
    report: dict = {"detector": str(args.detector), "validation_data": "../shared/real-world-dev (validation only)"}
    probs: dict[str, np.ndarray] = {}
    for cond, (images, paths) in dev_images(args.dev).items():
        res: dict = {}
        X = forensic_matrix(images)
        s = det.model.decision_function(X) if det.kind == "forensic" else det.score_images(images)
        probs[cond] = det.calibration.probability(s)
        res["detector"] = summary(y, s, fam, probs[cond])
        # The high-pass energy trap: the detector's score with log high-pass energy regressed out
        # (least squares over all dev images, no labels), and the rank correlation of the two.
        traps = trap_statistics(images, paths)
        energy = np.log(-traps["high-pass energy (negated)"])
        A = np.c_[energy, np.ones_like(energy)]
        res["detector"]["auc_energy_regressed_out"] = round(float(roc_auc_score(
            y, s - A @ np.linalg.lstsq(A, s, rcond=None)[0])), 3)
        res["detector"]["spearman_with_energy"] = round(float(spearmanr(s, energy)[0]), 3)
        peak = []
        for im, p in zip(images, paths or [None] * len(images)):
            ev = analyze_pixels(im, path=p)
            spec = next(e for e in ev if e.source == "spectrum")
            peak.append(0.0 if spec.error else float(spec.strength))
        res["periodic_peak"] = summary(y, np.array(peak), fam)
        lofo = {}
        for held, drops in HELD_OUT.items():
            if held not in set(fam):
                continue
            keep = (split_tr == "train") & ~np.array([any(f.startswith(d) for d in drops) for f in fam_tr])
            head = ForensicHead().fit(X_tr[keep], y_tr[keep])
            m = (fam == held) | ~y
            lofo[held] = {"auc": round(float(roc_auc_score(y[m], head.decision_function(X[m]))), 3),
                          "n_fake": int((fam == held).sum()), "dropped_views": int((~keep & (split_tr == "train")).sum())}
        res["leave_one_family_out"] = lofo
        res["leave_one_family_out_mean_auc"] = round(float(np.mean([v["auc"] for v in lofo.values()])), 3)
        res["trap_statistics_auc"] = {k: round(float(roc_auc_score(y, v)), 3) for k, v in traps.items()}
        report[cond] = res
        d = res["detector"]
        print(f"\n[{cond}] detector AUC {d['auc']:.3f}, TPR@5%FPR {d['tpr_at_5pct_fpr']:.3f}, cameras p>=0.5 "
              f"{d['camera_fpr_at_p0.5']:.3f}; per family {d['per_family']}")
        print(f"[{cond}] detector with high-pass energy regressed out: AUC {d['auc_energy_regressed_out']:.3f} "
              f"(Spearman with energy {d['spearman_with_energy']:+.3f})")
        print(f"[{cond}] periodic-peak AUC {res['periodic_peak']['auc']:.3f}, TPR@5%FPR {res['periodic_peak']['tpr_at_5pct_fpr']:.3f}")
        print(f"[{cond}] leave-one-family-out: " + ", ".join(f"{k} {v['auc']:.3f}" for k, v in lofo.items())
              + f"; mean {res['leave_one_family_out_mean_auc']:.3f}")
        print(f"[{cond}] trap statistics AUC: " + ", ".join(f"{k} {v:.3f}" for k, v in res["trap_statistics_auc"].items()))
    if args.write_validation:
        if args.detector == "fit":
            ap.error("--write-validation needs a bundle folder or 'builtin' as --detector")
        det.validation = validation_block(
            np.r_[y, y].astype(int), np.r_[probs["png"], probs["jpeg90"]],
            data="real-world: ../shared/real-world-dev pixels/ (PNG crops) + pixels-jpeg90/ (JPEG q90 copies), "
                 "validation only", real_world=True,
            auc_png=report["png"]["detector"]["auc"], auc_jpeg90=report["jpeg90"]["detector"]["auc"],
            auc_jpeg_matched=report["jpeg-matched"]["detector"]["auc"],
            leave_one_family_out_mean_auc={c: report[c]["leave_one_family_out_mean_auc"] for c in ("png", "jpeg90")},
            per_family_auc_png=report["png"]["detector"]["per_family"])
        det.save_pretrained(BUILTIN_DIR if args.detector == "builtin" else args.detector)
        print(f"validation block written: reliability {det.validation['reliability']}, AUC {det.validation['auc']}")
    if args.verdict:
        for cond, sub in (("png", "pixels"), ("jpeg90", "pixels-jpeg90")):
            labels, scores = [], []
            for r in rows:
                p = args.dev / sub / (r["path"] if sub == "pixels" else Path(r["path"]).with_suffix(".jpg"))
                v = scan_file(p, det).verdict
                labels.append(v.label if v else "error")
                scores.append(v.score if v and v.score is not None else 0.0)
            labels_a = np.array(labels)
            gen, auth = labels_a == "likely_generated", labels_a == "likely_authentic"
            calls = int(gen.sum() + auth.sum())
            right = int((gen & y).sum() + (auth & ~y).sum())
            v = {"fused_auc": round(float(roc_auc_score(y, scores)), 3), "calls": calls, "right": right,
                 "cameras_called_generated": int((gen & ~y).sum()), "n_camera": int((~y).sum())}
            report[cond]["verdict"] = v
            print(f"[{cond}] verdict: fused-score AUC {v['fused_auc']:.3f}; {right}/{calls} calls right; cameras called "
                  f"likely generated {v['cameras_called_generated']}/{v['n_camera']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
