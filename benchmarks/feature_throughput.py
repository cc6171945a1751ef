"""Feature-extraction throughput: ``extract_features`` vs a naive per-image loop.

Run::

    python benchmarks/feature_throughput.py            # 64 images
    python benchmarks/feature_throughput.py --n 128 --batch-size 32 --workers 2

A randomly initialised ViT-B/16-sized model (hidden 768, 12 layers, 12 heads,
patch 16, 224 px, MLP 3072) is saved with ``save_pretrained`` to a temp dir and
loaded through ``hf:<dir>``, so the real loading path is measured with no
download. Inputs are synthetic JPEG textures (320x240); the naive loop runs on the
first ``--naive-n`` of them (it is slow; its rate is per image). Both methods run
float32 on CPU in the same process with ``torch.set_num_threads(cpu count)``.
Figures are printed, never asserted: they depend on the machine.
"""

from __future__ import annotations

import argparse
import os
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


def naive_loop(model_dir: Path, paths: list[Path]) -> np.ndarray:
    """What a first script usually does: one image at a time through the HF processor."""
    from transformers import AutoImageProcessor, AutoModel

    processor = AutoImageProcessor.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir, dtype=torch.float32).eval()
    out = []
    for p in paths:
        inputs = processor(images=Image.open(p).convert("RGB"), return_tensors="pt")
        with torch.no_grad():
            out.append(model(**inputs).last_hidden_state[0, 0].numpy())
    return np.stack(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=64, help="number of images (default 64)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2, help="decode threads for extract_features")
    ap.add_argument("--naive-n", type=int, default=16,
                    help="images for the naive loop (default 16; it is slow, and its rate is per image)")
    args = ap.parse_args()

    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    from synthtrace.backbones import create_backbone
    from synthtrace.backbones.tiny import save_tiny_model
    from synthtrace.features import extract_features

    cores = os.cpu_count() or 1
    torch.set_num_threads(cores)
    mib = 1 / 2**20
    with tempfile.TemporaryDirectory() as tmp_str:
        tmp = Path(tmp_str)
        t0 = time.perf_counter()
        model_dir = save_tiny_model(
            "vit", tmp / "vit-b16", image_size=224, patch_size=16, hidden_size=768, num_layers=12, num_heads=12
        )
        (tmp / "images").mkdir()
        paths = write_textures(tmp / "images", args.n)
        setup = time.perf_counter() - t0
        backbone, t_load, _ = timed(lambda: create_backbone(f"hf:{model_dir}"))
        _, t_hash, _ = timed(backbone.weights_hash)
        # Warm both code paths (allocator, SDPA kernels) on one image, outside the timings.
        extract_features(paths[:1], backbone, progress=False)
        naive_loop(model_dir, paths[:1])

        rss0 = psutil.Process().memory_info().rss
        fast, t_fast, peak_fast = timed(lambda: extract_features(
            paths, backbone, batch_size=args.batch_size, num_workers=args.workers,
            cache_dir=tmp / "cache", progress=False,
        ))
        cached, t_hit, _ = timed(lambda: extract_features(paths, backbone, cache_dir=tmp / "cache", progress=False))
        naive_paths = paths[: max(1, min(args.naive_n, len(paths)))]
        slow, t_slow, peak_slow = timed(lambda: naive_loop(model_dir, naive_paths))

    n = len(paths)
    print(f"machine: {cores} CPU cores, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"model: random ViT-B/16 (86M params), float32, saved+loaded via hf:<dir>; {n} JPEG 320x240 → 224 px")
    print(f"setup (save model, write images): {setup:.1f} s; load backbone: {t_load:.2f} s; weights hash: {t_hash:.2f} s")
    print(f"extract_features  (batch {args.batch_size}, {args.workers} decode threads): "
          f"{n / t_fast:6.2f} images/s  ({t_fast:.1f} s, peak RSS {peak_fast * mib:.0f} MiB, before {rss0 * mib:.0f} MiB)")
    n_slow = len(naive_paths)
    print(f"naive loop        (AutoImageProcessor + model per image, first {n_slow}): "
          f"{n_slow / t_slow:6.2f} images/s  ({t_slow:.1f} s, peak RSS {peak_slow * mib:.0f} MiB)")
    print(f"ratio extract_features / naive (images/s): {(n / t_fast) / (n_slow / t_slow):.2f}x")
    print(f"cache hits (same {n} files, hash + .npy read): {n / t_hit:.0f} images/s ({t_hit * 1000:.0f} ms)")
    print(f"max |extract_features - naive| on last/cls features: {np.abs(fast[:n_slow] - slow).max():.2e}; "
          f"cached == computed: {np.array_equal(fast, cached)}")


if __name__ == "__main__":
    main()
