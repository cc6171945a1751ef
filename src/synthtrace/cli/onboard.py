"""`synthtrace onboard`: N-shot onboarding of a new generator (linear probe vs LoRA vs full fine-tuning)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from synthtrace.cli.console import err
from synthtrace.cli.console import out as console
from synthtrace.errors import InputError


def onboard(
    detector: Path = typer.Option(..., "--detector", "-d", help="Detector bundle on an hf: backbone (its backbone, layer and pooling are used)."),
    real: Path = typer.Option(None, "--real", help="Folder of real images (with --fake; pairs are then random, not content-matched)."),
    fake: Path = typer.Option(None, "--fake", help="Folder of the new generator's images."),
    manifest: Path = typer.Option(None, "--manifest", "-m", help="Manifest instead of folders; scene_id gives content-matched pairs."),
    source: list[str] = typer.Option([], "--source", help="Manifest: the new generator's source value(s)."),
    family: list[str] = typer.Option([], "--family", help="Manifest: the new generator's family value(s), e.g. ldm on the built-in benchmark."),
    shots: list[int] = typer.Option([50], "--shots", "-n", help="N training pairs; repeat for a few-shot curve (--shots 20 --shots 50)."),
    seeds: int = typer.Option(5, help="Seeds per N (each draws its own train/val/test pairs)."),
    methods: str = typer.Option("linear_probe,lora,full_ft", help="Comma-separated: linear_probe, lora, full_ft."),
    rank: int = typer.Option(16, help="LoRA rank r."),
    alpha: float = typer.Option(32.0, help="LoRA alpha (spec: alpha/r = 2)."),
    target_modules: str = typer.Option("", "--target-modules", help="Comma-separated linear layer names for LoRA (default: every linear layer in the blocks)."),
    lr: float = typer.Option(1e-3, help="SGD learning rate (LoRA and full fine-tuning)."),
    max_epochs: int = typer.Option(150, "--max-epochs", help="Epoch limit; training also stops when the plateau schedule takes the lr below 1e-7."),
    patience: int = typer.Option(10, help="Epochs without a lower validation loss before lr x 0.1."),
    save: Path = typer.Option(None, "--save", help="Also save the seed-0 LoRA model at the largest N as a detector bundle (adapters merged)."),
    out: Path = typer.Option(None, "--out", "-o", help="Write results JSON here ({protocol, results, runs}; see docs/onboarding.md)."),
    as_json: bool = typer.Option(False, "--json", help="Print the results JSON instead of the table."),
) -> None:
    """Onboard a new generator from N real/fake pairs: mean ± std test ROC AUC over seeds
    for a linear probe, LoRA and full fine-tuning, side by side."""
    from synthtrace.heads.lora import FineTuneConfig  # torch & co. load on use: the CLI imports every command at start-up
    from synthtrace.tasks.onboard import OnboardProtocol, manifest_from_dirs, run_onboarding

    if (manifest is None) == (real is None and fake is None) or (manifest is None and (real is None or fake is None)):
        raise InputError("pass either --manifest M, or both --real DIR and --fake DIR")
    data = manifest if manifest is not None else manifest_from_dirs(real, fake)
    targets = tuple(t.strip() for t in target_modules.split(",") if t.strip()) or None
    common = dict(rank=rank, alpha=alpha, target_modules=targets, lr=lr, max_epochs=max_epochs, patience=patience)
    protocol = OnboardProtocol(
        shots=tuple(shots), seeds=seeds, methods=tuple(m.strip() for m in methods.split(",") if m.strip()),
        lora=FineTuneConfig(mode="lora", **common), full_ft=FineTuneConfig(mode="full", **common),
    )
    result = run_onboarding(
        detector, data, protocol, sources=source, families=family, save_dir=save,
        progress=not as_json, log=(lambda m: None) if as_json else err.print,
    )
    payload = result.to_dict()
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(payload, indent=2) + "\n")
    if as_json:
        typer.echo(json.dumps(payload, indent=2))
        return
    summary = result.summary()
    table = Table(title=f"test ROC AUC, mean ± std over {seeds} seeds ({'content-matched' if payload['protocol']['content_matched'] else 'unmatched'} pairs)")
    table.add_column("method")
    for n in protocol.shots:
        table.add_column(f"N = {n}", justify="right")
    for meth, by_n in summary.items():
        table.add_row(meth, *(f"{by_n[str(n)]['mean']:.4f} ± {by_n[str(n)]['std']:.4f}" for n in protocol.shots))
    console.print(table)
    if out is not None:
        err.print(f"results written to {out}")
