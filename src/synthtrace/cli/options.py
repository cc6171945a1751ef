"""Options shared by several commands (one definition, one help text)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from synthtrace.detector import RunOptions

PRECISION = typer.Option(
    "fp32", "--precision",
    help="CPU fast path for linear-probe bundles on hf: backbones: fp32, bf16 (AVX512-BF16/AMX CPUs; falls back "
         "to fp32) or int8 (dynamic quantisation), optionally +tome<r> token merging (e.g. bf16+tome18). "
         "See docs/cpu-speed.md.",
)
COMPILE = typer.Option(False, "--compile", help="torch.compile the backbone (paid once per process; pays off on long runs).")


def run_options(precision: str, compile_: bool) -> RunOptions:
    """--precision/--compile parsed once, here at the edge; the library takes the typed value."""
    # torch: every command module is imported at start-up, so heavy modules load on use.
    from synthtrace.backbones.speed import Precision  # torch & co. load on use: the CLI imports every command at start-up
    from synthtrace.detector import RunOptions

    return RunOptions(Precision.parse(precision), compile_)
