"""GFLOP/s of one ViT-B MLP matrix multiply in float32, bfloat16 and int8 on this CPU.

Run::

    python benchmarks/matmul_precision.py          # 3 interleaved rounds

(16 x 197 tokens, 768) @ (768, 3072), i.e. ViT-B/16's first MLP layer at batch 16:
float32 ``nn.Linear``; the same with bfloat16 weights and input; under
``torch.autocast(bfloat16)``; and ``quantize_dynamic`` int8. The ratios bound what each
precision can give a whole transformer (attention, norms and GELU gain less).
Figures are printed, never asserted.
"""

from __future__ import annotations

import time
import warnings

import torch


def main() -> None:
    from synthtrace.backbones.speed import configure_threads

    configure_threads()
    x = torch.randn(16 * 197, 768)
    lin = torch.nn.Linear(768, 3072).eval()
    lin_bf16 = torch.nn.Linear(768, 3072).eval().bfloat16()
    xb = x.bfloat16()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(lin), {torch.nn.Linear}, dtype=torch.qint8)
    flop = 2 * x.shape[0] * 768 * 3072

    def rate(f, n: int = 5) -> float:
        f()
        t0 = time.perf_counter()
        for _ in range(n):
            f()
        return flop * n / (time.perf_counter() - t0) / 1e9

    def autocast() -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return lin(x)

    with torch.inference_mode():
        for r in range(3):
            a, b, c, d = rate(lambda: lin(x)), rate(lambda: lin_bf16(xb)), rate(autocast), rate(lambda: q(x))
            print(f"round {r + 1}: GFLOP/s fp32 {a:.0f}, bf16 weights {b:.0f}, bf16 autocast {c:.0f}, int8 dynamic {d:.0f}"
                  f"  (bf16/fp32 {b / a:.2f}x, int8/fp32 {d / a:.2f}x)", flush=True)


if __name__ == "__main__":
    main()
