"""`synthtrace scan`."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import typer
from rich.table import Column, Table

from synthtrace.cli.console import err, out
from synthtrace.io.images import DEFAULT_MAX_PIXELS
from synthtrace.records import ScanResult

CSV_COLUMNS = ("path", "ok", "error", "format", "width", "height", "sha256", "score", "probability", "decision", "threshold")


def _flat(r: ScanResult) -> dict:
    rec, det = r.record, r.detection
    return {
        "path": r.path, "ok": r.ok, "error": r.error or "",
        "format": rec.format if rec else "", "width": rec.width if rec else "", "height": rec.height if rec else "",
        "sha256": rec.sha256 if rec else "",
        "score": f"{det.score:.6g}" if det else "", "probability": f"{det.probability:.4f}" if det else "",
        "decision": det.decision if det else "", "threshold": f"{det.threshold:.6g}" if det else "",
    }


def scan(
    paths: list[Path] = typer.Argument(..., help="Image files and/or folders (searched recursively)."),
    detector: Path = typer.Option(None, "--detector", "-d", help="Detector bundle folder (from `synthtrace train` or the demo)."),
    operating_point: str = typer.Option("0.5", help="Decision threshold: 0.5 (calibrated probability), fpr_0.05 or fpr_0.01."),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", help="Refuse images with more pixels (decompression-bomb guard)."),
    as_json: bool = typer.Option(False, "--json", help="Print results as JSON."),
    as_csv: bool = typer.Option(False, "--csv", help="Print results as CSV."),
) -> None:
    """Scan images: decode safely, score with a detector, report per file.

    Every file gets a row; bad files are named with the reason and the scan goes on.
    Exit code 1 if any file failed (all other results are still printed).
    """
    from synthtrace.scan import scan_paths

    results = scan_paths(paths, detector, operating_point=operating_point, max_pixels=max_pixels)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in results], indent=2))
    elif as_csv:
        w = csv.DictWriter(sys.stdout, fieldnames=CSV_COLUMNS)
        w.writeheader()
        for r in results:
            w.writerow(_flat(r))
    else:
        table = Table(Column("path", overflow="fold"), "score", "P(generated)", "decision", "note")
        for r in results:
            f = _flat(r)
            note = f"[red]{r.error}[/]" if r.error else ", ".join(r.record.notes) if r.record else ""
            table.add_row(r.path, f["score"] or "—", f["probability"] or "—", f["decision"] or ("failed" if r.error else "—"), note)
        out.print(table)
        if detector is None:
            err.print("No --detector given: decoded and hashed only. Train one with `synthtrace train` or run `synthtrace demo`.")
    failed = [r for r in results if not r.ok]
    if failed:
        err.print(f"[red]{len(failed)} of {len(results)} files failed[/]")
        raise typer.Exit(1)
