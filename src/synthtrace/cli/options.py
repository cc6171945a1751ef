"""Options shared by several commands (one definition, one help text)."""

from __future__ import annotations

import typer

PRECISION = typer.Option(
    "fp32", "--precision",
    help="CPU fast path for linear-probe bundles on hf: backbones: fp32, bf16 (AVX512-BF16/AMX CPUs; falls back "
         "to fp32) or int8 (dynamic quantisation), optionally +tome<r> token merging (e.g. bf16+tome18). "
         "See docs/cpu-speed.md.",
)
COMPILE = typer.Option(False, "--compile", help="torch.compile the backbone (paid once per process; pays off on long runs).")
