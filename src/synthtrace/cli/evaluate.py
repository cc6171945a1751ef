"""`synthtrace eval`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from synthtrace.cli.console import err, out


def _fmt(v) -> str:
    return "—" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def print_metrics(result: dict) -> None:
    """A table of the headline metrics with 95 % intervals, per group and per source."""
    table = Table(title=f"{result['detector']} on {result['dataset']} ({result['split']} split)")
    for col in ("group", "n fake", "ROC AUC [95% CI]", "AP", "acc", "bal. acc", "TPR@1%FPR", "TPR@5%FPR"):
        table.add_column(col)

    def row(name: str, m: dict | None) -> None:
        if not m:
            return
        ci = f" [{_fmt(m.get('roc_auc_ci_low'))}, {_fmt(m.get('roc_auc_ci_high'))}]" if "roc_auc_ci_low" in m else ""
        table.add_row(name, str(m.get("n_fake")), _fmt(m.get("roc_auc")) + ci, _fmt(m.get("average_precision")),
                      _fmt(m.get("accuracy")), _fmt(m.get("balanced_accuracy")), _fmt(m.get("tpr_at_fpr_1")), _fmt(m.get("tpr_at_fpr_5")))

    row("all fakes", result["overall"])
    row("seen generators", result["seen_generators"])
    row("held-out generators", result["held_out_generators"])
    for name, m in sorted(result["per_source"]["fake"].items()):
        row(f"  {name}", m)
    out.print(table)


def evaluate(
    detector: Path = typer.Option(..., "--detector", "-d", help="Detector bundle folder."),
    manifest: Path = typer.Option(..., "--manifest", "-m", help="manifest.csv to evaluate on."),
    split: str = typer.Option("test", help="Split to evaluate ('all' for every row)."),
    operating_point: str = typer.Option("0.5", help="Decision threshold: 0.5 (calibrated probability), fpr_0.05 or fpr_0.01."),
    n_boot: int = typer.Option(1000, help="Bootstrap resamples for the 95 % intervals."),
    out_json: Path = typer.Option(None, "--out", "-o", help="Write every metric and per-image score as JSON here."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics JSON to stdout instead of a table."),
) -> None:
    """Evaluate a detector: ROC AUC, AP, accuracies, TPR at 1 %/5 % FPR, FPR at 95 % TPR,
    per source and overall, seen vs held-out generators apart, with bootstrap 95 % intervals."""
    from synthtrace.evaluation.evaluate import evaluate_detector, write_metrics

    result = evaluate_detector(detector, manifest, split=None if split == "all" else split,
                               operating_point=operating_point, n_boot=n_boot, progress=not as_json)
    if out_json:
        write_metrics(result, out_json)
        err.print(f"metrics written to {out_json}")
    if as_json:
        typer.echo(json.dumps({k: v for k, v in result.items() if k != "scores"}, indent=2))
    else:
        print_metrics(result)
