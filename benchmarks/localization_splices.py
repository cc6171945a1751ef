"""Sliding-window heatmap pixel AUC on the built-in benchmark's splices (issue 7).

A ``cnn-small`` detector is trained on whole images of the built-in benchmark
(``train_detector``: train/val rows without masks, so no splice is ever seen in
training); each splice image (a fake region blended into its real twin, ground-truth
mask from ``Manifest.mask_of``) is then mapped with ``sliding_window_heatmap`` and the
pooled pixel AUC over all splice images is reported (target >= 0.85).

Settings are swept with ``--windows``/``--strides``; ``--normalize`` adds per-image
score normalisation (``rank``: each map's scores replaced by their within-image rank,
``minmax``: rescaled to [0, 1] per image). Pooled pixel AUC mixes pixels of different
images, so an image whose whole map is high (a detector that fires on the whole
splice image) hurts it; within-image normalisation removes that offset. The
per-image mean pixel AUC is reported too (it is unaffected by per-image monotone
normalisation).

The benchmark and the bundle are cached under ``--work`` (built/trained once).

    python benchmarks/localization_splices.py [--per-source 60] [--epochs 12] \
        [--windows 32,48,64] [--strides 8,16] [--normalize none,rank] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from synthtrace.evaluation.metrics import roc_auc
from synthtrace.localization.heatmap import normalize_map, sliding_window_heatmap


def _ints(s: str) -> list[int]:
    return [int(x) for x in s.split(",") if x]


def prepare(work: Path, per_source: int, epochs: int, seed: int):
    from synthtrace.bench.build import BenchConfig, build_benchmark
    from synthtrace.detector import DetectorBundle
    from synthtrace.io.manifest import read_manifest
    from synthtrace.train import train_detector

    bench = work / f"bench-ps{per_source}-s{seed}"
    manifest = bench / "manifest.csv"
    if not manifest.exists():
        t0 = time.perf_counter()
        build_benchmark(bench, BenchConfig(per_source=per_source, seed=seed))
        print(f"built benchmark in {time.perf_counter() - t0:.0f} s: {bench}", flush=True)
    bundle_dir = work / f"cnn-small-ps{per_source}-e{epochs}-s{seed}"
    if not (bundle_dir / "config.json").exists():
        t0 = time.perf_counter()
        train_detector(manifest, bundle_dir, epochs=epochs, seed=seed, progress=False, log=print)
        print(f"trained cnn-small in {time.perf_counter() - t0:.0f} s: {bundle_dir}", flush=True)
    return read_manifest(manifest), DetectorBundle.from_pretrained(bundle_dir)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path("/tmp/synthtrace-localization-splices"))
    ap.add_argument("--per-source", type=int, default=60)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--windows", default="32,48,64")
    ap.add_argument("--strides", default="8")
    ap.add_argument("--normalize", default="none,rank")
    ap.add_argument("--average", default="probability", help="probability,logit: how windows are averaged")
    ap.add_argument("--limit", type=int, default=0, help="at most this many splice images (0 = all)")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    from synthtrace.io.images import load_image

    m, bundle = prepare(args.work, args.per_source, args.epochs, args.seed)
    rows = [r for r in m if r.mask_path]
    if args.limit:
        rows = rows[: args.limit]
    images = [load_image(m.path_of(r)).rgb for r in rows]
    masks = [np.asarray(Image.open(m.mask_of(r)).convert("L")) >= 128 for r in rows]
    print(f"{len(rows)} splice images ({images[0].shape[1]}x{images[0].shape[0]}), "
          f"mask area {100 * np.mean([k.mean() for k in masks]):.1f} % on average; "
          f"detector val AUC {bundle.training.get('val_roc_auc')}", flush=True)
    results = []
    for window, stride, average in [(w, s, a) for w in _ints(args.windows) for s in _ints(args.strides)
                                    for a in args.average.split(",")]:
        if True:
            t0 = time.perf_counter()
            maps = [sliding_window_heatmap(bundle, im, window=window, stride=stride, average=average).score
                    for im in images]
            dt = time.perf_counter() - t0
            per_img = [roc_auc(k.ravel(), s.ravel()) for s, k in zip(maps, masks) if k.any() and not k.all()]
            for norm in args.normalize.split(","):
                normed = [normalize_map(s, norm) for s in maps]
                auc = roc_auc(np.concatenate([k.ravel() for k in masks]),
                              np.concatenate([s.ravel() for s in normed]))
                r = {"window": window, "stride": stride, "average": average, "normalize": norm, "pixel_auc_pooled": round(float(auc), 4),
                     "pixel_auc_mean_per_image": round(float(np.mean(per_img)), 4),
                     "n_images": len(rows), "seconds_per_image": round(dt / len(rows), 3)}
                results.append(r)
                print(f"window {window:3d} stride {stride:2d} average {average:11s} normalize {norm:6s}: pooled pixel AUC "
                      f"{auc:.4f} (target >= 0.85: {'PASS' if auc >= 0.85 else 'FAIL'}), "
                      f"mean per-image AUC {np.mean(per_img):.4f}, {dt / len(rows):.2f} s/image", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"per_source": args.per_source, "epochs": args.epochs, "seed": args.seed,
                                         "results": results}, indent=2))


if __name__ == "__main__":
    main()
