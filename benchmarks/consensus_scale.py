"""Cost of joining discovery runs (``synthtrace.discovery.consensus``) as the set grows.

    python benchmarks/consensus_scale.py [--sizes 2000,5000,10000] [--runs 16] [--clusters 40]

Synthetic labels, not the built-in benchmark: ``--runs`` clusterings of n samples, each the
same ``--clusters`` groups with 10 % of the samples moved at random. Prints, per n, the
seconds of ``co_association`` + ``consensus_labels`` and the peak resident memory of a
fresh process (the join is the part that grows as n²; the runs of the loop themselves are
in ``discovery_scale.py``), and checks that the consensus recovers the groups.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import numpy as np
from sklearn.metrics import adjusted_rand_score
from synthtrace.discovery.consensus import consensus_labels

n, runs, k = map(int, sys.argv[1:4])
rng = np.random.default_rng(0)
truth = rng.integers(0, k, size=n)
label_runs = []
for _ in range(runs):
    lab = truth.copy()
    moved = rng.random(n) < 0.1
    lab[moved] = rng.integers(0, k, size=int(moved.sum()))
    label_runs.append(lab)
single = float(np.mean([adjusted_rand_score(truth, lab) for lab in label_runs]))
t = time.perf_counter()
joined = consensus_labels(label_runs, max_samples=n)
sec = time.perf_counter() - t
print(json.dumps({"n": n, "seconds": sec, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "ari_single_runs": single, "ari_consensus": adjusted_rand_score(truth, joined)}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="2000,5000,10000")
    ap.add_argument("--runs", type=int, default=16)
    ap.add_argument("--clusters", type=int, default=40)
    args = ap.parse_args()
    print(f"consensus of {args.runs} runs, {args.clusters} groups, 10 % of samples moved per run (synthetic labels)")
    for n in (int(v) for v in args.sizes.split(",")):
        out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(args.runs), str(args.clusters)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"n = {n:6d}: {r['seconds']:7.1f} s, peak RSS {r['peak_rss_mb']:7.0f} MB; ARI to the groups: single runs "
              f"{r['ari_single_runs']:.3f}, consensus {r['ari_consensus']:.3f}", flush=True)


if __name__ == "__main__":
    main()
