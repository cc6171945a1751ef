"""Feature-extraction throughput on CPU: naive per-image loop vs extract_features at
fp32, bf16, bf16 + torch.compile, int8 and token merging, for ViT-B/16 and ViT-L/14.

Run (the lead's re-run on a quiet machine; about 10 min on 2 cores)::

    python benchmarks/feature_throughput.py                       # ViT-B/16 and ViT-L/14
    python benchmarks/feature_throughput.py --models vit-b16 --rounds 3 --per-round 32
    python benchmarks/feature_throughput.py --json out.json

Models have random weights built from the real configs and saved with
``save_pretrained`` (so loading goes through ``hf:<dir>`` exactly as for real
weights, and the FLOPs are the real ones; nothing is downloaded):

- ViT-B/16: transformers ViT, hidden 768, 12 layers, 12 heads, MLP 3072, patch 16,
  224 px (197 tokens; 86M parameters).
- ViT-L/14: the CLIP ViT-L/14 vision tower (UnivFD's backbone), hidden 1024, 24 layers,
  16 heads, MLP 4096, patch 14, 224 px (257 tokens; 303M parameters).

Inputs are synthetic JPEG textures (320x240 → 224 px). Methods, all in one process:

- ``naive``: what a first script does: AutoImageProcessor + AutoModel (float32), one
  image at a time.
- ``fp32``, ``bf16``, ``int8``: ``extract_features(precision=...)``: batches, decode
  threads overlapping the model, SDPA attention.
- ``bf16+compile``, ``int8+compile``: the same with ``compile=True``; the compilation
  (first batch) is timed separately and excluded from the rate. It is paid once per
  process per backbone; inductor's on-disk cache makes later processes faster.
- ``bf16+tome16``, ``int8+tome12``, ``fp32+tome8``, ...: token merging (ToMe, r tokens
  merged in every block; ``backbones/token_merging.py``) on top of that precision.
  Any precision name of ``backbones/speed.py`` works, optionally ``+compile``.

The ``GFLOP/img`` column is the forward pass's multiply-add work counted from the
token counts per block (x2 per multiply-add; patch embedding, q/k/v/out projections,
attention scores and values, MLP; norms and softmax left out); ``GFLOP/s`` is that
work times the measured rate, to set beside the matrix-multiply ceilings of
``benchmarks/matmul_precision.py``.

Why rounds: the machine is shared, so load changes from second to second. Every
round runs every method once on ``--per-round`` images (the naive loop on
``--naive-per-round``), in turn, and the rate of a method is the median over rounds;
ratios are taken within the run. Peak RSS is the process's while that method ran
(models of the other methods stay loaded, so it is an upper bound). Figures are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import torch
from PIL import Image

MODELS: dict[str, dict[str, Any]] = {
    "vit-b16": dict(kind="vit", image_size=224, patch_size=16, hidden_size=768, num_layers=12, num_heads=12),
    "vit-l14": dict(kind="clip", image_size=224, patch_size=14, hidden_size=1024, num_layers=24, num_heads=16),
}
METHODS = ("naive", "fp32", "bf16", "bf16+compile", "int8", "int8+compile",
           "bf16+tome8", "bf16+tome12", "bf16+tome16", "int8+tome8", "int8+tome12", "int8+tome16")
DEFAULT_METHODS = ("naive", "fp32", "bf16", "bf16+compile", "int8")


def split_method(method: str) -> tuple[str, bool]:
    """``"bf16+tome16+compile"`` → (``"bf16+tome16"``, True)."""
    return (method[: -len("+compile")], True) if method.endswith("+compile") else (method, False)


def forward_gflops(spec: dict[str, Any], method: str) -> float:
    """Forward-pass GFLOP per image (2 per multiply-add) from the tokens each block sees."""
    from synthtrace.backbones.speed import Precision
    from synthtrace.backbones.token_merging import ToMeConfig

    c, layers, p = spec["hidden_size"], spec["num_layers"], spec["patch_size"]
    patches = (spec["image_size"] // p) ** 2
    r = Precision.parse(split_method(method)[0]).tome_r if method != "naive" else None
    counts = ToMeConfig(r=r or 0).token_counts(patches + 1, layers)
    macs = patches * c * 3 * p * p
    for n_in, n_out in zip(counts[:-1], counts[1:]):
        macs += 4 * n_in * c * c + 2 * n_in * n_in * c + 8 * n_out * c * c  # q,k,v,out; QK^T, AV; MLP after merging
    return 2 * macs / 1e9


def write_textures(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """Random smooth textures + noise as JPEG q90, so decode and resize do real work."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:240, 0:320].astype(np.float32)
    paths = []
    for i in range(n):
        fx, fy, phase = rng.uniform(0.01, 0.2, 3)
        base = 127 + 80 * np.sin(fx * xx + phase * 10)[..., None] * np.cos(fy * yy)[..., None]
        rgb = base * rng.uniform(0.5, 1.0, 3) + rng.normal(0, 20, (240, 320, 3))
        p = folder / f"tex{i:04d}.jpg"
        Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(p, quality=90)
        paths.append(p)
    return paths


class PeakRSS:
    """Samples this process's RSS every 10 ms while active (psutil has no peak on Linux)."""

    def __init__(self) -> None:
        self.proc, self.peak, self._stop = psutil.Process(), 0, threading.Event()

    def __enter__(self) -> PeakRSS:
        self.peak = self.proc.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def timed(fn: Callable[[], Any]) -> tuple[Any, float, int]:
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        result = fn()
        dt = time.perf_counter() - t0
    return result, dt, mem.peak


class Naive:
    """AutoImageProcessor + AutoModel, float32, one image at a time, CLS of the last layer."""

    def __init__(self, model_dir: Path, kind: str) -> None:
        import transformers as T

        self.processor = T.AutoImageProcessor.from_pretrained(model_dir)
        cls = T.CLIPVisionModel if kind == "clip" else T.AutoModel
        self.model = cls.from_pretrained(model_dir, dtype=torch.float32).eval()
        self.clip = kind == "clip"

    def __call__(self, paths: list[Path]) -> np.ndarray:
        out = []
        for p in paths:
            inputs = self.processor(images=Image.open(p).convert("RGB"), return_tensors="pt")
            with torch.no_grad():
                o = self.model(**inputs)
                out.append((o.pooler_output if self.clip else o.last_hidden_state[:, 0])[0].numpy())
        return np.stack(out)


def bench_model(name: str, tmp: Path, paths: list[Path], args: argparse.Namespace) -> dict[str, Any]:
    from synthtrace.backbones import create_backbone
    from synthtrace.backbones.speed import Precision, compile_seconds
    from synthtrace.backbones.tiny import save_tiny_model
    from synthtrace.features import extract_features
    from synthtrace.training.fastpath import feature_closeness

    spec = dict(MODELS[name])
    kind = spec.pop("kind")
    t0 = time.perf_counter()
    model_dir = save_tiny_model(kind, tmp / name, **spec)
    t_save = time.perf_counter() - t0
    backbone, t_load, _ = timed(lambda: create_backbone(f"hf:{model_dir}"))
    n_params = sum(p.numel() for p in backbone.model.parameters())
    naive = Naive(model_dir, kind)

    def fast(method: str) -> Callable[[list[Path]], np.ndarray]:
        precision, comp = split_method(method)
        return lambda ps: extract_features(
            ps, backbone, batch_size=args.batch_size, num_workers=args.workers, progress=False,
            precision=Precision.parse(precision), compile=comp,
        )

    runners = {m: (naive if m == "naive" else fast(m)) for m in args.methods}
    # Warm-up outside the timings: allocator, oneDNN kernels, int8 quantisation and
    # compilation (which pads later batches to this batch size).
    warm: dict[str, float] = {}
    for m, run in runners.items():
        _, warm[m], _ = timed(lambda: run(paths[: 1 if m == "naive" else args.batch_size]))
    compiled = compile_seconds(backbone)

    rates: dict[str, list[float]] = {m: [] for m in runners}
    peaks: dict[str, int] = {m: 0 for m in runners}
    feats: dict[str, np.ndarray] = {}
    load_seen = [psutil.getloadavg()[0]]
    for r in range(args.rounds):
        for m, run in runners.items():
            k = args.naive_per_round if m == "naive" else args.per_round
            start = (r * k) % max(1, len(paths) - k + 1)
            chunk = paths[start : start + k]
            out, dt, peak = timed(lambda: run(chunk))
            rates[m].append(len(chunk) / dt)
            peaks[m] = max(peaks[m], peak)
            if r == 0:
                feats[m] = out
        load_seen.append(psutil.getloadavg()[0])
        print(f"  {name} round {r + 1}/{args.rounds} (load {load_seen[-1]:.2f}): "
              + ", ".join(f"{m} {rates[m][-1]:.2f}" for m in runners), flush=True)
    med = {m: statistics.median(v) for m, v in rates.items()}
    ref = med.get("naive")
    closeness = {}
    if "fp32" in feats:
        for m in feats:
            if m not in ("fp32",):
                k = min(len(feats[m]), len(feats["fp32"]))
                closeness[m] = feature_closeness(feats["fp32"][:k], feats[m][:k])
    return {
        "model": name, "params_m": round(n_params / 1e6, 1), "save_s": round(t_save, 1), "load_s": round(t_load, 2),
        "images_per_s": {m: round(v, 2) for m, v in med.items()},
        "images_per_s_rounds": {m: [round(x, 2) for x in v] for m, v in rates.items()},
        "ratio_vs_naive": {m: round(v / ref, 2) for m, v in med.items()} if ref else {},
        "ratio_vs_fp32": {m: round(v / med["fp32"], 2) for m, v in med.items()} if "fp32" in med else {},
        "warmup_s": {m: round(v, 1) for m, v in warm.items()},
        "compile_s": {k: round(v, 1) for k, v in compiled.items()},
        "peak_rss_mib": {m: round(v / 2**20) for m, v in peaks.items()},
        "features_vs_fp32": closeness,
        "gflop_per_image": {m: round(forward_gflops(MODELS[name], m), 2) for m in med},
        "load_avg_1min": [round(x, 2) for x in load_seen],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="vit-b16,vit-l14", help=f"comma-separated, from {list(MODELS)}")
    ap.add_argument("--methods", default=",".join(DEFAULT_METHODS), help=f"comma-separated, e.g. {list(METHODS)}: naive or any precision of backbones/speed.py, "
                         "optionally +compile")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds per model (median taken)")
    ap.add_argument("--per-round", type=int, default=32, help="images per method per round")
    ap.add_argument("--naive-per-round", type=int, default=8, help="images per round for the naive loop")
    ap.add_argument("--l14-scale", type=float, default=0.5,
                    help="ViT-L/14 runs per-round × this many images (it is ~4x slower)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2, help="decode threads for extract_features")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: all cores)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    args = ap.parse_args()
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    from synthtrace.backbones.speed import PRECISIONS

    bad = [m for m in args.methods if m != "naive" and split_method(m)[0] not in PRECISIONS]
    bad += [m for m in args.models.split(",") if m not in MODELS]
    if bad:
        ap.error(f"unknown method/model {bad}; methods {list(METHODS)}, models {list(MODELS)}")

    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    from synthtrace.backbones.speed import configure_threads, cpu_bf16_native

    threads = configure_threads(args.threads)
    results = []
    with tempfile.TemporaryDirectory() as tmp_str:
        tmp = Path(tmp_str)
        (tmp / "images").mkdir()
        paths = write_textures(tmp / "images", max(args.per_round * 2, args.batch_size))
        base = argparse.Namespace(**vars(args))
        for name in args.models.split(","):
            a = argparse.Namespace(**vars(base))
            if name == "vit-l14":
                a.per_round = max(a.batch_size, int(a.per_round * a.l14_scale))
                a.naive_per_round = max(1, int(a.naive_per_round * a.l14_scale))
            results.append(bench_model(name, tmp, paths, a))
            import shutil

            shutil.rmtree(tmp / name, ignore_errors=True)

    print()
    print(f"machine: {psutil.cpu_count()} CPU cores, torch {torch.__version__}, threads {threads}, "
          f"native bf16: {cpu_bf16_native()}; batch {args.batch_size}, {args.workers} decode threads; "
          f"{args.rounds} interleaved rounds, median images/s; JPEG 320x240 → 224 px; random weights")
    for r in results:
        print(f"\n{r['model']} ({r['params_m']}M params; load {r['load_s']} s; 1-min load average during the "
              f"rounds {r['load_avg_1min']})")
        print(f"  {'method':<20}{'images/s':>10}{'× naive':>9}{'× fp32':>8}{'GFLOP/img':>11}{'GFLOP/s':>9}"
              f"{'peak RSS':>10}{'warm-up s':>11}   features vs fp32 (max rel L2, min cos)")
        for m, v in r["images_per_s"].items():
            c = r["features_vs_fp32"].get(m)
            cl = f"{c['max_rel_l2']:.4f}, {c['min_cosine']:.5f}" if c else "—"
            g = r["gflop_per_image"][m]
            print(f"  {m:<20}{v:>10.2f}{r['ratio_vs_naive'].get(m, float('nan')):>9.2f}"
                  f"{r['ratio_vs_fp32'].get(m, float('nan')):>8.2f}{g:>11.1f}{g * v:>9.0f}"
                  f"{r['peak_rss_mib'][m]:>7} MiB{r['warmup_s'][m]:>11.1f}   {cl}")
        if r["compile_s"]:
            print("  compile (first batch, once per process): "
                  + ", ".join(f"{k} {v:.1f} s" for k, v in r["compile_s"].items()))
    if args.json:
        args.json.write_text(json.dumps({"threads": threads, "args": {k: str(v) for k, v in vars(args).items()},
                                         "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
