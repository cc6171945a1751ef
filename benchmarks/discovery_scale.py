"""Scale of the open-world discovery loop on synthetic features (not a test).

    python benchmarks/discovery_scale.py [--n 100000] [--d 128] [--clusters 200] [--full-iteration]

Times the WTA-hash OOD step (hash + per-cluster code shares + exact BLAS mean
Hamming distance + thresholds + decision) on n × d features, and the speed-up of
the BLAS form over a pairwise implementation on the same data (the pairwise
version is timed on a subsample of query rows and extrapolated linearly, because
it is exact per row; both are checked to agree on that subsample).
With --full-iteration it also times one full iteration of OpenWorldDiscovery.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from synthtrace.discovery.wta import ClusterOODTest, mean_hamming, mean_hamming_pairwise


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--clusters", type=int, default=200, help="clusters in the clustered set")
    ap.add_argument("--hashes", type=int, default=2048)
    ap.add_argument("--pairwise-rows", type=int, default=20)
    ap.add_argument("--full-iteration", action="store_true")
    ap.add_argument("--svm-max-samples", type=int, default=2000, help="refine: positives and negatives per cluster")
    ap.add_argument("--max-steps", type=int, default=None,
                    help="cap on the f+g gradient steps of the training round (default: full epochs, as the paper)")
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    centers = rng.normal(scale=2.0, size=(args.clusters * 2, args.d)).astype(np.float32)
    src = rng.integers(0, centers.shape[0], size=args.n)
    X = centers[src] + rng.normal(size=(args.n, args.d)).astype(np.float32)
    clustered = src < args.clusters  # half the sources are "known"/clustered
    Xc, yc, Xn = X[clustered], src[clustered], X[~clustered]
    print(f"features {args.n} x {args.d}; clustered {Xc.shape[0]} in {args.clusters} clusters; unclustered {Xn.shape[0]}; H={args.hashes}")

    t0 = time.perf_counter()
    ood = ClusterOODTest(n_hashes=args.hashes).fit(Xc, yc, n_clusters=args.clusters)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = ood.predict(Xn)
    t_pred = time.perf_counter() - t0
    print(f"OOD step: fit (hash + shares + thresholds) {t_fit:.2f} s, test of {Xn.shape[0]} samples {t_pred:.2f} s, "
          f"total {t_fit + t_pred:.2f} s (target <= 10 s); {np.mean(pred < 0):.1%} of novel-source samples called OOD")

    codes_c = ood.hasher_.transform(Xc)
    q = ood.hasher_.transform(Xn[: args.pairwise_rows])
    t0 = time.perf_counter()
    slow = mean_hamming_pairwise(q, codes_c, yc, args.clusters)
    t_pair = (time.perf_counter() - t0) / q.shape[0]
    codes_n = ood.hasher_.transform(Xn)
    t0 = time.perf_counter()
    fast = mean_hamming(codes_n, ood.dist_)
    t_blas = (time.perf_counter() - t0) / codes_n.shape[0]
    assert np.allclose(fast[: q.shape[0]], slow, atol=1e-2), "BLAS and pairwise forms disagree"
    n_all = args.n
    print(f"mean Hamming distance to every cluster, per query row: pairwise {t_pair * 1e3:.1f} ms, BLAS {t_blas * 1e6:.1f} us "
          f"-> speed-up x{t_pair / t_blas:,.0f}; for all {n_all} rows: pairwise ~{t_pair * n_all:,.0f} s (extrapolated), "
          f"BLAS {t_blas * n_all:.2f} s")

    if args.full_iteration:
        from synthtrace.discovery.openworld import OpenWorldDiscovery

        known = rng.random(args.n) < 0.2
        disc = OpenWorldDiscovery(n_iterations=1, random_state=0, max_steps=args.max_steps,
                                  svm_max_samples=args.svm_max_samples)
        t0 = time.perf_counter()
        disc.fit(X[known & clustered], src[known & clustered], X[~known])
        print(f"one full iteration (k=500, H=2048, max_steps={args.max_steps}, svm_max_samples={args.svm_max_samples}) on {int((~known).sum())} discovery + "
              f"{int((known & clustered).sum())} labelled samples: {time.perf_counter() - t0:.1f} s (target <= 180 s); "
              f"seconds per step {disc.history_[-1]['seconds']}; stats {disc.history_[-1]}")


if __name__ == "__main__":
    main()
