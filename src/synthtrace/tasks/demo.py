"""The whole pipeline on a small built-in benchmark, in a few minutes on a laptop CPU.

build → train cnn-small → evaluate (seen and held-out generators apart) → scan a
few test images → demo-output/ (metrics JSON, bundle, scan results, summary); then,
when ../shared/real-world-dev is there, a few real images (both classes) scanned with
the detector shipped in the package, because the built-in benchmark proves mechanics,
not real-world accuracy.
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synthtrace.bench.build import BenchConfig, build_benchmark
from synthtrace.detector import BUILTIN, DetectorBundle
from synthtrace.evaluation.evaluate import evaluate_detector, write_metrics
from synthtrace.io.manifest import read_manifest
from synthtrace.tasks.scan import scan_file
from synthtrace.training.train import train_detector

# The reference band of the standard preset (builtin-benchmark.md): hard enough that
# generalisation can be seen, easy enough that the seen generators are learnable.
SEEN_AUC_BAND = (0.95, 0.995)
REAL_WORLD_DEV = Path("..") / "shared" / "real-world-dev"


def run_demo(
    out: str | Path = "demo-output",
    *,
    per_source: int = 120,
    epochs: int = 12,
    seed: int = 0,
    progress: bool = True,
    log: Callable[[str], None] = print,
    real_world: str | Path | None = REAL_WORLD_DEV,
) -> dict[str, Any]:
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    timings: dict[str, float] = {}

    t = time.perf_counter()
    log(f"1/5 building the built-in benchmark ({per_source} fakes per generator, 15 generators, seed {seed})")
    build = build_benchmark(out / "bench", BenchConfig(per_source=per_source, seed=seed))
    timings["build_s"] = round(time.perf_counter() - t, 1)
    log(f"    {build.n_images} images in {build.seconds:.1f} s ({build.images_per_second:.0f} images/s)")

    t = time.perf_counter()
    log("2/5 training cnn-small on the train split (val split for model selection and calibration)")
    bundle = train_detector(out / "bench" / "manifest.csv", out / "detector", epochs=epochs, seed=seed,
                            progress=progress, log=lambda m: log("    " + m))
    timings["train_s"] = round(time.perf_counter() - t, 1)

    t = time.perf_counter()
    log("3/5 evaluating on the test split (seen vs held-out generators)")
    manifest = read_manifest(out / "bench" / "manifest.csv")
    metrics = evaluate_detector(bundle, manifest, progress=progress)
    write_metrics(metrics, out / "metrics.json")
    timings["eval_s"] = round(time.perf_counter() - t, 1)

    t = time.perf_counter()
    log("4/5 scanning a few test images")
    picks = _pick_examples(manifest)
    results = [scan_file(manifest.path_of(r), bundle) for r in picks]
    scan_rows = [
        {"path": str(Path(res.path).relative_to(out.resolve()) if Path(res.path).is_absolute() else res.path),
         "truth": r.label, "source": r.source, "score": res.detection.score, "probability": res.detection.probability,
         "decision": res.detection.decision}
        for r, res in zip(picks, results) if res.ok
    ]
    (out / "scan.json").write_text(json.dumps([res.to_dict() for res in results], indent=2) + "\n")
    with open(out / "scan.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(scan_rows[0]))
        w.writeheader()
        w.writerows(scan_rows)
    timings["scan_s"] = round(time.perf_counter() - t, 1)

    t = time.perf_counter()
    real_rows = scan_real_world(real_world, log=log)
    timings["real_world_s"] = round(time.perf_counter() - t, 1)

    seen = metrics["seen_generators"]["roc_auc"]
    held = metrics["held_out_generators"]["roc_auc"]
    summary = {
        "dataset": metrics["dataset"],
        "images": build.n_images,
        "build_images_per_second": round(build.images_per_second, 1),
        "seen_generators_roc_auc": seen,
        "seen_generators_roc_auc_ci": [metrics["seen_generators"]["roc_auc_ci_low"], metrics["seen_generators"]["roc_auc_ci_high"]],
        "held_out_generators_roc_auc": held,
        "held_out_generators_roc_auc_ci": [metrics["held_out_generators"]["roc_auc_ci_low"], metrics["held_out_generators"]["roc_auc_ci_high"]],
        "per_source_roc_auc": {k: v["roc_auc"] for k, v in metrics["per_source"]["fake"].items()},
        "difficulty_band": difficulty_band(metrics),
        "scan": scan_rows,
        "real_world_scan": real_rows,
        "timings": timings,
        "outputs": {"bundle": str(out / "detector"), "metrics": str(out / "metrics.json"),
                    "scan": str(out / "scan.json"), "scan_csv": str(out / "scan.csv")},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def scan_real_world(folder: str | Path | None, *, per_class: int = 3,
                    log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Scan a few PNG crops of each class of the real-world dev set with the shipped detector.

    Returns [] (and says why) when the folder is not there: the dev set sits beside the
    project checkout, not inside the package."""

    manifest_path = Path(folder) / "pixels" / "manifest.csv" if folder else None
    if manifest_path is None or not manifest_path.is_file():
        log(f"5/5 real images: {manifest_path or 'no folder given'} not found, skipped")
        return []
    log(f"5/5 scanning {2 * per_class} real images of {folder} (validation set) with the shipped detector")
    manifest = read_manifest(manifest_path)
    picks = [r for r in manifest if r.label == "fake"][:per_class] + [r for r in manifest if r.label == "real"][:per_class]
    detector = DetectorBundle.from_pretrained(BUILTIN)
    rows = []
    for r in picks:
        res = scan_file(manifest.path_of(r), detector)
        rows.append({"path": str(manifest.path_of(r)), "truth": r.label, "family": r.family or r.source,
                     "verdict": res.verdict.label if res.verdict else "failed",
                     "probability": res.detection.probability if res.detection else None})
    return rows


def difficulty_band(metrics: dict[str, Any]) -> dict[str, Any]:
    """Does the reference detector land in the standard preset's band?"""
    seen = metrics["seen_generators"]["roc_auc"]
    held = metrics["held_out_generators"]["roc_auc"]
    return {
        "seen_auc": seen, "held_out_auc": held, "seen_auc_band": list(SEEN_AUC_BAND),
        "held_out_lower": held < seen, "holds": SEEN_AUC_BAND[0] <= seen <= SEEN_AUC_BAND[1] and held < seen,
    }


def check_band(
    bench_dir: str | Path, *, epochs: int = 12, seed: int = 0, progress: bool = True, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Train the reference cnn-small on a built benchmark and report the band check."""
    bench_dir = Path(bench_dir)
    bundle = train_detector(bench_dir / "manifest.csv", bench_dir / "reference-detector", epochs=epochs, seed=seed,
                            progress=progress, log=log)
    metrics = evaluate_detector(bundle, bench_dir / "manifest.csv", progress=progress)
    write_metrics(metrics, bench_dir / "reference-metrics.json")
    return difficulty_band(metrics)


def _pick_examples(manifest, n_per_kind: int = 2):
    """A few test images: reals, seen-generator fakes, held-out fakes, a splice."""
    test = [r for r in manifest if r.split == "test"]
    wanted = [
        lambda r: r.label == "real",
        lambda r: r.label == "fake" and not r.mask_path and r.source.endswith(("-s0", "-s1")) and not r.source.startswith("ldm"),
        lambda r: r.label == "fake" and not r.mask_path and r.source.startswith("ldm"),
        lambda r: bool(r.mask_path),
    ]
    picks = []
    for cond in wanted:
        picks += [r for r in test if cond(r)][:n_per_kind]
    return picks
