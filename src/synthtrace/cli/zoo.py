"""`synthtrace zoo list | convert | calibrate`: published detectors as synthtrace bundles."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from synthtrace.cli.console import err, out
from synthtrace.zoo import ZOO

app = typer.Typer(
    help="Published detectors: convert a checkpoint you downloaded into a bundle (no code is unpickled).",
    no_args_is_help=True,
)


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts.")) -> None:
    """List the detectors `zoo convert` understands, with paper, source, file layout and licence."""
    if as_json:
        typer.echo(json.dumps([e.to_dict() for e in ZOO], indent=2))
        return
    table = Table("name", "paper", "weights file (source)", "licence", "trained on", show_lines=True)
    for e in ZOO:
        table.add_row(e.name, e.paper, f"{e.weights_file}\n{e.source}", e.licence, e.trained_on)
    out.print(table)


@app.command("convert")
def convert(
    name: str = typer.Argument(..., help="Detector name from `synthtrace zoo list` (case-insensitive)."),
    weights: Path = typer.Option(..., "--weights", "-w", help="The published checkpoint file (.pth) you downloaded."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Bundle folder to write."),
    backbone: str = typer.Option(
        None, help="UniversalFakeDetect only: CLIP tower (default hf:openai/clip-vit-large-patch14; hf:<local dir> works offline)."
    ),
) -> None:
    """Convert a published checkpoint into a bundle (config.json + model.safetensors).

    The file is read with torch.load(weights_only=True); anything that needs unpickling
    code is refused. The bundle is uncalibrated (identity calibration, no FPR thresholds)
    until `synthtrace zoo calibrate`.
    """
    from synthtrace.training.convert import convert as convert_  # torch: loaded on use (see cli/app.py)

    bundle = convert_(name, weights, out_dir, backbone=backbone)
    t = bundle.training
    err.print(f"wrote {bundle.kind} bundle {t['name']} to {out_dir}")
    err.print(f"licence: {t['licence']}")
    err.print(f"note: {t['calibration_note']}")


@app.command("calibrate")
def calibrate(
    bundle: Path = typer.Argument(..., help="Bundle folder (from `zoo convert`)."),
    manifest: Path = typer.Option(..., "--manifest", "-m", help="manifest.csv with labelled images."),
    split: str = typer.Option("val", help="Split to calibrate on; keep it apart from the split you evaluate on."),
    method: str = typer.Option("platt", help="platt or temperature."),
    out_dir: Path = typer.Option(None, "--out", "-o", help="Write the calibrated bundle here (default: in place)."),
) -> None:
    """Fit calibration and the fpr_0.01 / fpr_0.05 thresholds of a bundle on a labelled split."""
    from synthtrace.training.convert import calibrate_bundle  # torch: loaded on use (see cli/app.py)

    det = calibrate_bundle(bundle, manifest, split=split, method=method, out=out_dir, progress=True)
    th = ", ".join(f"{k} = {v:.4g}" for k, v in det.calibration.thresholds.items())
    err.print(f"calibrated {det.name}: {det.calibration.method} {det.calibration.params}; thresholds {th}")
