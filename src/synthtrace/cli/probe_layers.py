"""`synthtrace probe-layers`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from synthtrace.cli.console import err, out


def _fmt(v: float) -> str:
    return "—" if v != v else f"{v:.3f}"


def _auc(auc: float, ci: tuple[float, float]) -> str:
    return f"{_fmt(auc)} [{_fmt(ci[0])}, {_fmt(ci[1])}]"


def probe_layers(
    backbone: str = typer.Option(..., "--backbone", "-b", help="hf:<hub id or local dir>: the frozen tower to sweep."),
    manifest: Path = typer.Option(..., "--manifest", "-m", help="manifest.csv with train, val (and test) splits."),
    poolings: str = typer.Option("cls,mean", help="Comma-separated poolings: cls, mean (embeds adds CLIP's projection)."),
    out_json: Path = typer.Option(None, "--out", "-o", help="Write the per-layer table as JSON here."),
    n_boot: int = typer.Option(1000, help="Bootstrap resamples for the 95 % intervals."),
    batch_size: int = typer.Option(32, help="Images per forward pass (all layers come from the same pass)."),
    cache_dir: Path = typer.Option(None, "--cache", help="Feature cache folder (shared with `synthtrace train --cache`)."),
    seed: int = typer.Option(0, help="Seed for probe balancing and the bootstrap."),
    as_json: bool = typer.Option(False, "--json", help="Print the table as JSON to stdout."),
    precision: str = typer.Option("fp32", "--precision", help="fp32, or bf16 (faster on AVX512-BF16 CPUs; "
                                  "falls back to fp32 elsewhere). See docs/cpu-speed.md."),
) -> None:
    """Fit a linear probe on every layer (CLS and mean-pooled) and report val/test ROC AUC with
    95 % intervals; pick the best layer on val (never test) and print the train command that uses it."""
    from synthtrace.backbones.speed import Precision  # torch & co. load on use: the CLI imports every command at start-up
    from synthtrace.evaluation.layer_sweep import sweep_layers

    names = [p.strip() for p in poolings.split(",") if p.strip()]
    sweep = sweep_layers(manifest, backbone, poolings=names, n_boot=n_boot, seed=seed, batch_size=batch_size,
                         cache_dir=cache_dir, progress=not as_json, log=lambda msg: err.print(msg),
                         precision=Precision.parse(precision))
    result = sweep.to_dict()
    if out_json:
        out_json.parent.mkdir(parents=True, exist_ok=True)
        out_json.write_text(json.dumps(result, indent=2, allow_nan=False) + "\n")
        err.print(f"per-layer table written to {out_json}")
    if as_json:
        typer.echo(json.dumps(result, indent=2, allow_nan=False))
        return
    table = Table(title=f"linear probe per layer: {sweep.backbone} on {sweep.dataset}")
    for col in ("layer", "pooling", "val ROC AUC [95% CI]", "test ROC AUC [95% CI]", ""):
        table.add_column(col)
    for r in sweep.rows:
        mark = "← best on val" if r == sweep.best else ""
        table.add_row(r.layer, r.pooling, _auc(r.val_auc, r.val_ci), _auc(r.test_auc, r.test_ci), mark)
    out.print(table)
    out.print(f"train {sweep.n_train}, val {sweep.n_val}, test {sweep.n_test} images; {sweep.seconds} s")
    if sweep.best is None:
        out.print("no layer could be scored on val (it needs real and fake images).")
        return
    out.print(f"best on val: layer {sweep.best.layer}, pooling {sweep.best.pooling} (test is reported, not used to choose)")
    out.print("train with it:")
    out.print(sweep.train_command(str(manifest)), markup=False, soft_wrap=True)
