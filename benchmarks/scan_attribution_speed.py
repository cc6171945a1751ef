"""`synthtrace scan --detector` with an attribution head: this checkout against a baseline, same run.

Run:
    git worktree add /tmp/st-baseline <commit>   # e.g. 6715de5, the last commit before issue 21
    python benchmarks/scan_attribution_speed.py --baseline-src /tmp/st-baseline/src [--n 200] [--repeat 2]

Data: the built-in benchmark (procedural images, ``bench build``), never real images.
A cnn-small bundle is trained for one epoch and given an attribution head on its own
backbone features (``features="backbone"``: the case where the baseline rebuilt the
backbone from the bundle folder for every scanned image). Both checkouts then scan the
same ``--n`` fake images through the command line, in fresh processes (start-up and
imports included, the same for both), twice each, alternating:

- ``detector only``: ``--no-provenance --no-signals`` (the detector and the attribution);
- ``full scan``: every evidence source, as ``synthtrace scan -d BUNDLE`` runs by default.

Prints best-of wall seconds, images/s and the speed-up; checks that both give the same
attribution answers. ``--json`` prints the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
CLI = "import sys; from synthtrace.cli.app import main; sys.argv[0] = 'synthtrace'; main()"


def prepare(work: Path, n: int) -> tuple[Path, list[Path]]:
    from synthtrace.bench.build import BenchConfig, build_benchmark
    from synthtrace.io.manifest import read_manifest
    from synthtrace.training.attribution import fit_bundle_head
    from synthtrace.training.train import train_detector

    bench = work / "bench"
    if not (bench / "manifest.csv").is_file():
        build_benchmark(bench, BenchConfig(per_source=n // 14 + 2, seed=5), workers=2)  # 15 generators
    m = read_manifest(bench / "manifest.csv")
    bundle = work / "bundle"
    if not (bundle / "attribution.json").is_file():
        train_detector(bench / "manifest.csv", bundle, epochs=1, progress=False)
        fit_bundle_head(bundle, bench / "manifest.csv", features="backbone")
    fakes = [m.path_of(r) for r in m if r.label == "fake" and not r.mask_path and r.split == "test"]
    fakes += [m.path_of(r) for r in m if r.label == "fake" and not r.mask_path and r.split != "test"]
    if len(fakes) < n:
        raise SystemExit(f"the benchmark has {len(fakes)} fakes, fewer than --n {n}")
    return bundle, fakes[:n]


# In-process: the baseline's module path (synthtrace.scan) or this checkout's (synthtrace.tasks.scan).
IN_PROCESS = """
import json, sys, time
try:
    from synthtrace.tasks.scan import ScanOptions, scan_paths
except ImportError:
    from synthtrace.scan import ScanOptions, scan_paths
t0 = time.perf_counter()
full = sys.argv[1] == "full"
results = scan_paths(sys.argv[3:], sys.argv[2], ScanOptions(provenance=full, signals=full))
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "answers": [r.extras.get("attribution", {}).get("answer") for r in results]}))
"""


def run_scan(src: Path, bundle: Path, files: list[Path], mode: str) -> tuple[float, list[str]]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    if mode in ("detector", "full"):
        cmd = [sys.executable, "-c", IN_PROCESS, mode, str(bundle), *map(str, files)]
    else:
        cmd = [sys.executable, "-c", CLI, "scan", *map(str, files), "-d", str(bundle), "--json"]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"scan with {src} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    if mode in ("detector", "full"):
        got = json.loads(r.stdout.strip().splitlines()[-1])
        return got["seconds"], got["answers"]
    return seconds, [row.get("attribution", {}).get("answer", "?") for row in json.loads(r.stdout)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline-src", type=Path, required=True, help="the src/ folder of the baseline checkout")
    ap.add_argument("--n", type=int, default=200, help="images to scan (default 200)")
    ap.add_argument("--repeat", type=int, default=2, help="runs per checkout and mode, best kept (default 2)")
    ap.add_argument("--work", type=Path, default=None, help="folder for the benchmark and bundle (kept, reused)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="st-attr-speed-"))
    bundle, files = prepare(work, args.n)
    modes = {"detector + attribution": "detector", "full scan": "full", "full scan (CLI)": "cli"}
    checkouts = {"baseline": args.baseline_src.resolve(), "this checkout": HERE / "src"}
    best: dict[tuple[str, str], float] = {}
    answers: dict[str, list[str]] = {}
    for mode, how in modes.items():
        for _ in range(args.repeat):
            for name, src in checkouts.items():  # alternating, so load drifts hit both alike
                s, a = run_scan(src, bundle, files, how)
                best[name, mode] = min(best.get((name, mode), float("inf")), s)
                answers.setdefault(f"{name}/{mode}", a)
    same = all(answers[f"baseline/{m}"] == answers[f"this checkout/{m}"] for m in modes)
    rows = [{"mode": mode, "images": len(files),
             "baseline_s": round(best["baseline", mode], 2), "this_s": round(best["this checkout", mode], 2),
             "baseline_img_s": round(len(files) / best["baseline", mode], 1),
             "this_img_s": round(len(files) / best["this checkout", mode], 1),
             "speedup": round(best["baseline", mode] / best["this checkout", mode], 2)} for mode in modes]
    info = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "rows": rows,
            "same_attribution_answers": same, "data": "built-in benchmark (procedural images), fakes",
            "work": str(work)}
    if args.json:
        print(json.dumps(info, indent=2))
        return
    print(f"scan --detector with an attribution head (backbone features), {len(files)} built-in benchmark images, "
          f"best of {args.repeat} (seconds)")
    print(f"{'mode':<24}{'baseline s':>12}{'this s':>10}{'baseline img/s':>16}{'this img/s':>12}{'speed-up':>10}")
    for r in rows:
        print(f"{r['mode']:<24}{r['baseline_s']:>12}{r['this_s']:>10}{r['baseline_img_s']:>16}{r['this_img_s']:>12}"
              f"{r['speedup']:>9}x")
    print(f"same attribution answers: {same}")


if __name__ == "__main__":
    main()
