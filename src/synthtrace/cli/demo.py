"""`synthtrace demo`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from synthtrace.cli.console import err, out
from synthtrace.verdict import LABELS


def demo(
    output: Path = typer.Option(Path("demo-output"), "--out", "-o", help="Folder for the benchmark, bundle, metrics and scan results (replaced)."),
    per_source: int = typer.Option(120, "--per-source", help="Fakes per generator in the demo benchmark."),
    epochs: int = typer.Option(12, help="cnn-small training epochs."),
    seed: int = typer.Option(0, help="Seed for the benchmark and training."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    real_world: Path = typer.Option(Path("..") / "shared" / "real-world-dev", "--real-world",
                                    help="Real-world dev set to scan a few real images of with the shipped detector (skipped when absent)."),
) -> None:
    """Run the whole pipeline on the built-in benchmark: build → train cnn-small →
    evaluate (seen and held-out generators) → scan a few images → demo-output/."""
    from synthtrace.tasks.demo import run_demo  # torch & co. load on use: the CLI imports every command at start-up

    s = run_demo(output, per_source=per_source, epochs=epochs, seed=seed, progress=not as_json,
                 log=(lambda m: None) if as_json else err.print, real_world=real_world)
    if as_json:
        typer.echo(json.dumps(s, indent=2))
        return
    t = Table(title=f"cnn-small on the {s['dataset']}")
    t.add_column("test set")
    t.add_column("ROC AUC")
    t.add_column("95% CI")
    t.add_row("seen generators", f"{s['seen_generators_roc_auc']:.4f}", "[{:.4f}, {:.4f}]".format(*s["seen_generators_roc_auc_ci"]))
    t.add_row("held-out generators", f"{s['held_out_generators_roc_auc']:.4f}", "[{:.4f}, {:.4f}]".format(*s["held_out_generators_roc_auc_ci"]))
    for name, auc in sorted(s["per_source_roc_auc"].items()):
        t.add_row(f"  {name}", "—" if auc is None else f"{auc:.3f}", "")
    out.print(t)
    scan = Table("scanned file", "truth", "source", "P(generated)", "decision", title="scan of a few test images")
    for r in s["scan"]:
        scan.add_row(r["path"], r["truth"], r["source"], f"{r['probability']:.3f}", r["decision"])
    out.print(scan)
    if s["real_world_scan"]:
        real = Table("real image (validation set)", "truth", "family", "P(generated)", "verdict",
                     title="real images, shipped detector (the numbers above are the built-in benchmark's)")
        for r in s["real_world_scan"]:
            p = "—" if r["probability"] is None else f"{r['probability']:.3f}"
            real.add_row(Path(r["path"]).name, r["truth"], r["family"], p, LABELS.get(r["verdict"], r["verdict"]))
        out.print(real)
        out.print("Real-world accuracy of the shipped detector, measured: docs/real-world.md")
    band = s["difficulty_band"]
    verdict = "[green]holds[/]" if band["holds"] else "[red]does not hold[/]"
    out.print(f"difficulty band (seen AUC in {band['seen_auc_band']}, held-out lower): {verdict}")
    out.print(f"timings (s): {s['timings']}; outputs in {output}/ (summary.json, metrics.json, detector/, scan.json, scan.csv)")
