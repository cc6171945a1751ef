"""Decision agreement between float32 and the CPU fast paths, on the built-in benchmark.

Run::

    python benchmarks/fastpath_agreement.py                         # ViT-B/16, per_source 10
    python benchmarks/fastpath_agreement.py --per-source 25 --fast bf16,bf16+compile,int8
    python benchmarks/fastpath_agreement.py --per-source 25 --fast bf16,fp32+tome16,bf16+tome16   # token merging
    python benchmarks/fastpath_agreement.py --bench DIR --backbone hf:openai/clip-vit-large-patch14

Protocol (``synthtrace.training.fastpath.fastpath_agreement``): a linear probe on
float32 features of the ``train`` split, Platt calibration and FPR thresholds on
float32 ``val`` features, then the ``test`` decisions from float32 features and from
each fast path are compared, per operating point (fpr_0.01, fpr_0.05, 0.5). The
target is >= 99.5 % at every operating point.

Default backbone: a random-weight ViT-B/16 (same config as in feature_throughput.py;
no download). With random weights the probe is weak, so many test scores sit near
the thresholds: a harder test of agreement than a trained backbone gives, not an
easier one. Figures are on the built-in benchmark and labelled so.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", type=Path, default=None, help="existing benchmark dir (default: build one)")
    ap.add_argument("--per-source", type=int, default=10, help="benchmark size when building (default 10)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backbone", default="vit-b16",
                    help="vit-b16 / vit-l14 (random weights) / tiny, or hf:<dir or hub id>")
    ap.add_argument("--fast", default="bf16,int8",
                    help="comma-separated precisions of backbones/speed.py, each optionally +compile: bf16, int8, "
                         "bf16+compile, bf16+tome16 (token merging, r=16), fp32+tome16 (merging alone), ...")
    ap.add_argument("--layer", default="last")
    ap.add_argument("--pooling", default="cls")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    import warnings

    from transformers.utils import logging

    logging.set_verbosity_error()
    from synthtrace.backbones import create_backbone
    from synthtrace.backbones.speed import Precision, configure_threads, cpu_bf16_native
    from synthtrace.backbones.tiny import save_tiny_model
    from synthtrace.bench.build import BenchConfig, build_benchmark
    from synthtrace.training.fastpath import fastpath_agreement

    warnings.filterwarnings("ignore", message="Only .* real images", category=RuntimeWarning)
    threads = configure_threads()
    with tempfile.TemporaryDirectory() as tmp_str:
        tmp = Path(tmp_str)
        bench = args.bench
        t0 = time.perf_counter()
        if bench is None:
            bench = tmp / "bench"
            build_benchmark(bench, BenchConfig(per_source=args.per_source, seed=args.seed), workers=1)
        t_bench = time.perf_counter() - t0
        if args.backbone.startswith("hf:"):
            name = args.backbone
        else:
            sizes = {
                "vit-b16": ("vit", dict(image_size=224, patch_size=16, hidden_size=768, num_layers=12, num_heads=12)),
                "vit-l14": ("clip", dict(image_size=224, patch_size=14, hidden_size=1024, num_layers=24, num_heads=16)),
                "tiny": ("vit", {}),
            }
            kind, spec = sizes[args.backbone]
            name = f"hf:{save_tiny_model(kind, tmp / args.backbone, **spec)}"
        bb = create_backbone(name)
        reports = []
        for fast in [f.strip() for f in args.fast.split(",") if f.strip()]:
            comp = fast.endswith("+compile")
            precision = fast[: -len("+compile")] if comp else fast
            rep = fastpath_agreement(bench / "manifest.csv", bb, precision=Precision.parse(precision), compile=comp,
                                     layer=args.layer, pooling=args.pooling, batch_size=args.batch_size,
                                     cache_dir=tmp / "cache", seed=args.seed, progress=False)
            reports.append((fast, rep))

    print(f"built-in benchmark (per_source {args.per_source}, seed {args.seed}; built in {t_bench:.0f} s), "
          f"backbone {args.backbone} ({'random weights' if not args.backbone.startswith('hf:') else name}), "
          f"layer {args.layer}/{args.pooling}; threads {threads}; native bf16: {cpu_bf16_native()}; "
          f"load average at the end (1/5/15 min) {tuple(round(x, 2) for x in os.getloadavg())}")
    r0 = reports[0][1]
    print(f"probe on fp32 train features ({r0.n_train}), thresholds on fp32 val ({r0.n_val}), "
          f"decisions compared on test ({r0.n_test}); test ROC AUC fp32 {r0.test_auc_fp32:.3f}")
    print(f"{'fast path':<20}{'ran as':<13}{'fpr_0.01':>10}{'fpr_0.05':>10}{'p=0.5':>10}{'min':>9}  "
          f"{'max rel L2':>11}{'min cos':>9}{'AUC':>7}{'test s':>8}  (fp32 test s; decode included)")
    for fast, r in reports:
        a = r.agreement
        print(f"{fast:<20}{str(r.precision):<13}{a['fpr_0.01']:>10.2%}{a['fpr_0.05']:>10.2%}{a['0.5']:>10.2%}"
              f"{r.min_agreement:>9.2%}  {r.features['max_rel_l2']:>11.4f}{r.features['min_cosine']:>9.5f}"
              f"{r.test_auc_fast:>7.3f}{r.seconds_fast_test:>8.1f}  "
              f"({f'{r.seconds_fp32_test:.1f}' if fast == reports[0][0] else 'from cache'})"
              + "".join(f"  compile {v:.0f} s" for k, v in r.extra["compile_seconds"].items()
                        if r.compile and k.startswith(f"{r.precision}/")))
        print(f"{'':<20}disagreements: " + ", ".join(f"{k} {v}/{r.n_test}" for k, v in r.disagreements.items()))
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "reports": {f: r.to_dict() for f, r in reports}}, indent=2) + "\n")


if __name__ == "__main__":
    main()
