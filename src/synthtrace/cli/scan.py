"""`synthtrace scan`."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Column, Table

from synthtrace.cli.options import COMPILE, PRECISION
from synthtrace.cli.console import err, out
from synthtrace.io.images import DEFAULT_MAX_PIXELS, iter_image_files
from synthtrace.progress import progress_bar
from synthtrace.records import ScanResult

CSV_COLUMNS = ("path", "ok", "error", "verdict", "format", "width", "height", "sha256", "score", "probability", "decision", "threshold")


def _flat(r: ScanResult) -> dict:
    rec, det = r.record, r.detection
    return {
        "path": r.path, "ok": r.ok, "error": r.error or "", "verdict": r.verdict.label if r.verdict else "",
        "format": rec.format if rec else "", "width": rec.width if rec else "", "height": rec.height if rec else "",
        "sha256": rec.sha256 if rec else "",
        "score": f"{det.score:.6g}" if det else "", "probability": f"{det.probability:.4f}" if det else "",
        "decision": det.decision if det else "", "threshold": f"{det.threshold:.6g}" if det else "",
    }


def scan(
    paths: list[Path] = typer.Argument(..., help="Image files and/or folders (searched recursively)."),
    detector: Path = typer.Option(None, "--detector", "-d", help="Detector bundle folder (from `synthtrace train` or the demo)."),
    operating_point: str = typer.Option("0.5", help="Detector threshold: 0.5 (calibrated probability), fpr_0.05 or fpr_0.01."),
    trust_anchors: Path = typer.Option(None, "--trust-anchors", help="PEM file of C2PA root certificates you trust."),
    provenance: bool = typer.Option(True, "--provenance/--no-provenance", help="Read C2PA, IPTC/XMP, EXIF, generator parameters."),
    watermarks: bool = typer.Option(True, "--watermarks/--no-watermarks", help="Decode Stable Diffusion invisible watermarks."),
    signals: bool = typer.Option(True, "--signals/--no-signals", help="Measure pixel signals (residual spectrum, JPEG history)."),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", help="Refuse images with more pixels (decompression-bomb guard)."),
    report: Path = typer.Option(None, "--report", help="Write a self-contained HTML report of the scan here."),
    as_json: bool = typer.Option(False, "--json", help="Print every result with its full evidence as JSON."),
    as_csv: bool = typer.Option(False, "--csv", help="Print one CSV row per file."),
    localize: bool = typer.Option(False, "--localize", help="Add a heatmap summary (max, mean, top window) to each result's JSON."),
    precision: str = PRECISION,
    compile_: bool = COMPILE,
) -> None:
    """Scan images: provenance, pixel signals and (with --detector) a learned detector,
    fused into a verdict that can say "uncertain", with the reasons.

    Every file gets a row; bad files are named with the reason and the scan goes on.
    Exit code 1 if any file failed (all other results are still written).
    """
    from synthtrace.scan import ScanOptions, scan_paths
    from synthtrace.verdict import LABELS

    options = ScanOptions(operating_point=operating_point, max_pixels=max_pixels, provenance=provenance,
                          signals=signals, watermarks=watermarks, trust_anchors=str(trust_anchors) if trust_anchors else None,
                          localize=localize)
    files = iter_image_files(paths)
    with progress_bar(len(files), "scanning", enabled=len(files) > 1) as advance:  # stderr: stdout stays clean
        results = scan_paths(files, detector, options, on_result=lambda _: advance(1), precision=precision, compile=compile_)
    if report:
        from synthtrace.evaluation.scan_report import write_scan_report

        params = {"detector": str(detector) if detector else None, **{k: getattr(options, k) for k in options.__dataclass_fields__}}
        write_scan_report(results, report, parameters=params)
        err.print(f"report written to {report}")
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in results], indent=2))
    elif as_csv:
        w = csv.DictWriter(sys.stdout, fieldnames=CSV_COLUMNS)
        w.writeheader()
        for r in results:
            w.writerow(_flat(r))
    else:
        table = Table(Column("path", overflow="fold"), "verdict", "P(generated)", "why")
        for r in results:
            if r.error:
                table.add_row(r.path, "[red]failed[/]", "—", f"[red]{escape(r.error)}[/]")
                continue
            f = _flat(r)
            label = LABELS.get(r.verdict.label, r.verdict.label) if r.verdict else "—"
            why = r.verdict.summary if r.verdict else ""
            if (att := r.extras.get("attribution")) and "answer" in att:
                top = ", ".join(f"{t['source']} {t['probability']:.2f}" for t in att["top_k"])
                why += f" Generator: {'unknown generator' if att['unknown'] else att['answer']} [{top}]."
            table.add_row(r.path, label, f["probability"] or "—", escape(why))
        out.print(table)
        if detector is None:
            err.print("No --detector given: provenance and pixel signals only. Train one with `synthtrace train` or run `synthtrace demo`.")
    failed = [r for r in results if not r.ok]
    if failed:
        err.print(f"[red]{len(failed)} of {len(results)} files failed[/]")
        raise typer.Exit(1)
