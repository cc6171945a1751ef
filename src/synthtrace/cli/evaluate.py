"""`synthtrace eval`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from synthtrace.cli.options import COMPILE, PRECISION, run_options
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


def print_robustness(rob: dict) -> None:
    """One row per perturbation: AUC with its interval, the drop from clean, AP and thresholded numbers."""
    table = Table(title=f"robustness of {rob['detector']} on {rob['dataset']} ({rob['split']} split, {rob['n_images']} images)")
    for col in ("perturbation", "ROC AUC [95% CI]", "Δ AUC", "AP", "acc", "bal. acc", "TPR@5%FPR", "FPR@95%TPR"):
        table.add_column(col)
    for name, res in rob["results"].items():
        m = res["overall"]
        ci = f" [{_fmt(m.get('roc_auc_ci_low'))}, {_fmt(m.get('roc_auc_ci_high'))}]" if m.get("roc_auc_ci_low") is not None else ""
        drop = "" if name == "clean" else _fmt(rob["auc_drop"].get(name))
        table.add_row(name, _fmt(m.get("roc_auc")) + ci, drop, _fmt(m.get("average_precision")), _fmt(m.get("accuracy")),
                      _fmt(m.get("balanced_accuracy")), _fmt(m.get("tpr_at_fpr_5")), _fmt(m.get("fpr_at_tpr_95")))
    out.print(table)
    err.print(f"time (s): {rob['seconds']}")


def evaluate(
    detector: Path = typer.Option(..., "--detector", "-d", help="Detector bundle folder."),
    manifest: Path = typer.Option(..., "--manifest", "-m", help="manifest.csv to evaluate on."),
    split: str = typer.Option("test", help="Split to evaluate ('all' for every row)."),
    operating_point: str = typer.Option("0.5", help="Decision threshold: 0.5 (calibrated probability), fpr_0.05 or fpr_0.01."),
    n_boot: int = typer.Option(1000, help="Bootstrap resamples for the 95 % intervals."),
    out_json: Path = typer.Option(None, "--out", "-o", help="Write every metric and per-image score as JSON here."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics JSON to stdout instead of a table."),
    robustness: bool = typer.Option(False, "--robustness", help="Also evaluate after JPEG q95/75/60/30, resize 0.5x/0.25x, blur sigma 1/2/3, noise, centre crop and a social-platform chain (1080 px + JPEG q75): every metric per perturbation."),
    perturbations: str = typer.Option(None, "--perturbations", help="Comma-separated subset of the robustness grid (e.g. jpeg_q60,resize_0.5x); implies --robustness."),
    max_images: int = typer.Option(None, "--max-images", help="Robustness: evaluate a seeded random subset of this many images."),
    robustness_json: Path = typer.Option(None, "--robustness-out", help="Write the robustness results JSON here."),
    report: Path = typer.Option(None, "--report", help="Write a self-contained HTML report (curves, per-source table, calibration, robustness, hashes) here."),
    fewshot: Path = typer.Option(None, "--fewshot", help="Report: add few-shot curves from `synthtrace onboard --out` JSON."),
    attribution: Path = typer.Option(None, "--attribution", help='Report: add a confusion matrix from JSON {"labels": [...], "matrix": [[...]]}.'),
    precision: str = PRECISION,
    compile_: bool = COMPILE,
) -> None:
    """Evaluate a detector: ROC AUC, AP, accuracies, TPR at 1 %/5 % FPR, FPR at 95 % TPR,
    per source and overall, seen vs held-out generators apart, with bootstrap 95 % intervals;
    optionally under perturbations (--robustness) and as an HTML report (--report)."""
    from synthtrace.detector import DetectorBundle  # torch & co. load on use: the CLI imports every command at start-up
    from synthtrace.evaluation.evaluate import evaluate_detector, write_metrics

    bundle = DetectorBundle.from_pretrained(detector, run=run_options(precision, compile_))
    split_arg = None if split == "all" else split
    rob = None
    fewshot_data = attribution_data = None
    if report:  # read the optional inputs first: a bad file should fail before minutes of scoring
        from synthtrace.evaluation.report import check_attribution, load_fewshot

        fewshot_data = load_fewshot(fewshot) if fewshot else None
        if attribution:
            try:
                attribution_data = check_attribution(json.loads(attribution.read_text()), where=str(attribution))
            except (OSError, json.JSONDecodeError) as exc:
                raise typer.BadParameter(f"{attribution}: cannot read attribution JSON ({exc})") from exc
    if robustness or perturbations:
        from synthtrace.evaluation.robustness import DEFAULT_GRID, evaluate_robustness, grid_from_names

        grid = grid_from_names([p.strip() for p in perturbations.split(",") if p.strip()]) if perturbations else DEFAULT_GRID
        rob = evaluate_robustness(bundle, manifest, split=split_arg, grid=grid, operating_point=operating_point,
                                  n_boot=min(n_boot, 200), max_images=max_images, progress=not as_json)
        result = rob["results"]["clean"]
        if robustness_json:
            write_metrics(rob, robustness_json)
            err.print(f"robustness results written to {robustness_json}")
    else:
        result = evaluate_detector(bundle, manifest, split=split_arg, operating_point=operating_point, n_boot=n_boot, progress=not as_json)
    if out_json:
        write_metrics(result, out_json)
        err.print(f"metrics written to {out_json}")
    if report:
        from synthtrace.evaluation.report import report_provenance, write_eval_report

        settings = {"command": "synthtrace eval", "split": split, "operating point": operating_point,
                    "bootstrap resamples": n_boot if rob is None else f"{n_boot} (robustness: {min(n_boot, 200)})",
                    "robustness": bool(rob), "max images": max_images, "few-shot results": str(fewshot) if fewshot else None,
                    "attribution results": str(attribution) if attribution else None,
                    "precision": precision, "compile": compile_}
        write_eval_report(result, report, provenance=report_provenance(detector, manifest), settings=settings,
                          robustness=rob, attribution=attribution_data, fewshot=fewshot_data)
        err.print(f"report written to {report}")
    if as_json:
        payload = {k: v for k, v in result.items() if k != "scores"}
        if rob is not None:
            payload = {**payload, "robustness": {k: v for k, v in rob.items() if k != "results"} | {
                "results": {n: {k: v for k, v in r.items() if k != "scores"} for n, r in rob["results"].items()}}}
        typer.echo(json.dumps(payload, indent=2))
    else:
        print_metrics(result)
        if rob is not None:
            print_robustness(rob)
