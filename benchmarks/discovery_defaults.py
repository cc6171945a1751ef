"""Discovery defaults without a recipe, on built-in benchmark builds of several seeds (numbers labelled as such).

    python benchmarks/discovery_defaults.py --work DIR --seeds 11,12 [--prepare] [--sizes full,half]
        [--grid "name=v1,v2;name=..."] [--consensus R] [--threads 1] [--json] [--out F.jsonl] [--save-runs DIR]

A new user's path, per build seed S (``--prepare`` does steps 1-2 when DIR/bS or DIR/fpS is missing):

1. ``synthtrace bench build --out DIR/bS --seed S`` (standard preset, defaults);
2. ``synthtrace fingerprint train DIR/bS/manifest.csv --out DIR/fpS`` (defaults: one network,
   trained on the train split's fakes of the seen sources);
3. discovery with known = the train split's fakes of the seen sources (``fingerprint train``'s
   own rows) and the discovery set = the test split's fakes (splices left out): ``full``, or
   ``half`` (the scenes with crc32(scene_id) odd, the test half of ``discovery_bench.py``):
   two data sizes, so that settings which scale with the data are checked at both.

Step 3 runs what ``synthtrace discover --features DIR/fpS`` runs without self-training:
``OpenWorldDiscovery`` with the CLI's arguments (the class defaults for everything the CLI
does not pass) inside ``ConsensusDiscovery`` (``consensus`` runs), on the fingerprint's
features of the same files (cached in DIR/featS.npz). It builds the loop from
``DiscoverySettings.loop_params`` as ``synthtrace.tasks.discover`` does, on the cached
features, so that features are computed once per build.

Each setting is ``DiscoverySettings()`` (the defaults) with the ``--grid`` overrides:
any field of ``DiscoverySettings``, plus ``k_per_sqrt`` / ``tau_per_sqrt`` (the scaling
rule's coefficients, ``scaled_cluster_counts``). Scored with
``synthtrace.metrics.clustering.clustering_metrics`` (unclustered images join their
nearest cluster first): purity, NMI, clusters, held-out sources found.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import zlib
from pathlib import Path

import numpy as np
from discovery_bench import parse_grid  # the same grid syntax as discovery_bench.py

RULE_KEYS = ("k_per_sqrt", "tau_per_sqrt")


def prepare(work: Path, seed: int) -> None:
    """Steps 1-2 with the library calls behind the two CLI commands, their defaults."""
    from synthtrace.bench.build import BenchConfig, build_benchmark
    from synthtrace.heads.learned_fingerprint import LearnedFingerprintConfig, is_learned_fingerprint
    from synthtrace.training.fingerprint import train_from_manifest

    bench, fp = work / f"b{seed}", work / f"fp{seed}"
    if not (bench / "manifest.csv").is_file():
        t = time.perf_counter()
        build_benchmark(bench, BenchConfig(seed=seed), workers=1)
        print(f"built {bench} in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    if not is_learned_fingerprint(fp):
        _, s = train_from_manifest(bench / "manifest.csv", fp, config=LearnedFingerprintConfig(), progress=False)
        print(f"trained {fp} in {s['seconds']:.0f} s, val accuracy {s['val_accuracy']}", file=sys.stderr)


def features(work: Path, seed: int) -> dict[str, np.ndarray]:
    """Known and discovery features of build ``seed`` (cached in work/feat<seed>.npz)."""
    from synthtrace.heads.learned_fingerprint import LearnedFingerprint
    from synthtrace.io.manifest import read_manifest

    bench, fp_dir, cache = work / f"b{seed}", work / f"fp{seed}", work / f"feat{seed}.npz"
    for p, cmd in ((bench / "manifest.csv", f"synthtrace bench build --out {bench} --seed {seed}"),
                   (fp_dir / "learned_fingerprint.json", f"synthtrace fingerprint train {bench}/manifest.csv --out {fp_dir}")):
        if not p.is_file():
            raise SystemExit(f"{p} is missing: run `{cmd}` (or pass --prepare)")
    stamp = (fp_dir / "learned_fingerprint.safetensors").stat().st_mtime_ns
    if cache.is_file():
        z = np.load(cache)
        if int(z["stamp"]) == stamp:
            return {k: z[k] for k in z.files}
    m = read_manifest(bench / "manifest.csv")
    fakes = [r for r in m if r.label == "fake" and r.source and not r.mask_path and not r.source.startswith("splice:")]
    known = [r for r in fakes if r.split == "train"]
    disc = [r for r in fakes if r.split == "test"]
    fp = LearnedFingerprint.from_pretrained(fp_dir)
    t = time.perf_counter()
    Xk = fp.transform_files([m.path_of(r) for r in known], workers=1)
    Xd = fp.transform_files([m.path_of(r) for r in disc], workers=1)
    print(f"features of build {seed}: {len(known)} known + {len(disc)} test fakes in {time.perf_counter() - t:.0f} s",
          file=sys.stderr)
    z = {"Xk": Xk, "yk": np.array([r.source for r in known]), "Xd": Xd, "yd": np.array([r.source for r in disc]),
         "scene": np.array([r.scene_id or r.path for r in disc]), "stamp": np.int64(stamp)}
    np.savez(cache, **z)
    return z


def run_one(z: dict, size: str, over: dict, consensus: int | None, save: Path | None = None) -> dict:
    from synthtrace.discovery.consensus import ConsensusDiscovery
    from synthtrace.discovery.openworld import OpenWorldDiscovery
    from synthtrace.discovery.settings import DiscoverySettings, scaled_cluster_counts
    from synthtrace.metrics.clustering import clustering_metrics

    rule = {k: over[k] for k in RULE_KEYS if k in over}
    fields = {k: v for k, v in over.items() if k not in RULE_KEYS}
    if consensus is not None:
        fields["consensus"] = consensus
    s = DiscoverySettings(**fields)
    sel = np.ones(len(z["yd"]), bool)
    if size == "half":
        sel = np.array([zlib.crc32(str(sc).encode()) % 2 == 1 for sc in z["scene"]])
    Xd, yd = z["Xd"][sel], z["yd"][sel]
    k, tau = scaled_cluster_counts(len(yd), **rule)
    s = s.resolve(len(yd))
    if rule:  # the rule's coefficients under test replace the built-in ones where k / τ scale
        s = dataclasses.replace(s, n_clusters=fields.get("n_clusters") or k,
                                min_cluster_size=fields.get("min_cluster_size") or tau)
    t = time.perf_counter()
    d = OpenWorldDiscovery(**s.loop_params())
    if s.consensus > 1:
        d = ConsensusDiscovery(d, runs=s.consensus)
    d = d.fit(z["Xk"], z["yk"], Xd)
    mm = clustering_metrics(yd, d.labels_, d.features_)
    if save and s.consensus > 1:  # the runs' labels: other cuts of the same consensus can be scored later
        np.savez(save, runs=d.runs_, y=yd, labels=d.labels_)
    held_out = sorted(set(yd) - set(z["yk"]))
    found = [h for h in held_out if h not in mm["sources_missing"]]
    return {"size": size, "n_images": len(yd), "n_clusters": s.n_clusters, "min_cluster_size": s.min_cluster_size,
            "purity": mm["purity"], "nmi": mm["nmi"], "clusters": mm["n_clusters"],
            "sources": mm["sources_discovered"], "n_sources": mm["n_sources"], "held_out_found": len(found),
            "held_out": len(held_out), "seconds": time.perf_counter() - t}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", required=True, help="folder holding bS/ (builds), fpS/ (fingerprints), featS.npz")
    ap.add_argument("--seeds", required=True, help="build seeds, comma-separated")
    ap.add_argument("--prepare", action="store_true", help="build the benchmark and train the fingerprint where missing")
    ap.add_argument("--sizes", default="full,half", help="discovery sets: full (test fakes) and/or half")
    ap.add_argument("--grid", default="", help="overrides of DiscoverySettings (and k_per_sqrt / tau_per_sqrt): "
                                               "name=v1,v2;name=... (default: the defaults alone)")
    ap.add_argument("--consensus", type=int, default=None, help="runs joined (default: DiscoverySettings' default)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    ap.add_argument("--out", default=None, help="also append the rows as JSON lines to this file")
    ap.add_argument("--save-runs", default=None, help="folder: keep each consensus's run labels (npz) there")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    work = Path(args.work)
    seeds = [int(s) for s in args.seeds.split(",")]
    sizes = [s.strip() for s in args.sizes.split(",")]
    if set(sizes) - {"full", "half"}:
        ap.error(f"--sizes {args.sizes}: full and/or half")
    grid = parse_grid(args.grid)

    def save_path(seed: int, size: str, over: dict) -> Path | None:
        if not args.save_runs:
            return None
        Path(args.save_runs).mkdir(parents=True, exist_ok=True)
        tag = "_".join(f"{k}={v}" for k, v in over.items()) or "defaults"
        return Path(args.save_runs, f"b{seed}_{size}_{tag}_c{args.consensus or 'default'}.npz")
    rows = []
    for seed in seeds:
        if args.prepare:
            prepare(work, seed)
        z = features(work, seed)
        for over in grid:
            for size in sizes:
                r = dict(build_seed=seed, setting=";".join(f"{k}={v}" for k, v in over.items()) or "defaults",
                         **run_one(z, size, over, args.consensus, save=save_path(seed, size, over)))
                rows.append(r)
                if args.out:
                    with open(args.out, "a") as fh:
                        fh.write(json.dumps(r) + "\n")
                if not args.json:
                    print(f"build {seed} {r['setting']} {size} ({r['n_images']}): k {r['n_clusters']} tau "
                          f"{r['min_cluster_size']}: purity {r['purity']:.3f} NMI {r['nmi']:.3f} clusters "
                          f"{r['clusters']} held-out {r['held_out_found']}/{r['held_out']} ({r['seconds']:.0f} s)",
                          file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print("| build seed | setting | set (images) | k / τ | purity | NMI | clusters | held-out found | s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['build_seed']} | {r['setting']} | {r['size']} ({r['n_images']}) | {r['n_clusters']} / "
              f"{r['min_cluster_size']} | {r['purity']:.3f} | {r['nmi']:.3f} | {r['clusters']} | "
              f"{r['held_out_found']} of {r['held_out']} | {r['seconds']:.0f} |")
    for setting in dict.fromkeys(r["setting"] for r in rows):
        sub = [r for r in rows if r["setting"] == setting]
        print(f"{setting}: mean purity {np.mean([r['purity'] for r in sub]):.3f}, min {min(r['purity'] for r in sub):.3f}; "
              f"mean NMI {np.mean([r['nmi'] for r in sub]):.3f}, min {min(r['nmi'] for r in sub):.3f}; "
              f"held-out all found in {sum(r['held_out_found'] == r['held_out'] for r in sub)} of {len(sub)}")


if __name__ == "__main__":
    main()
