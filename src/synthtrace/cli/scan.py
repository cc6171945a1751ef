"""`synthtrace scan`."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Column, Table

from synthtrace.cli.console import err, out
from synthtrace.cli.options import COMPILE, PRECISION, run_options
from synthtrace.errors import SynthtraceError
from synthtrace.io.images import DEFAULT_MAX_PIXELS, list_image_files
from synthtrace.progress import progress_bar
from synthtrace.records import ScanResult
from synthtrace.verdict import LABELS

CSV_COLUMNS = ("path", "ok", "status", "skipped", "error", "verdict", "format", "width", "height", "sha256", "score", "probability", "decision", "threshold")


def _flat(r: ScanResult) -> dict:
    rec, det = r.record, r.detection
    return {
        "path": r.path, "ok": r.ok, "status": r.status, "skipped": r.skipped or "", "error": r.error or "",
        "verdict": r.verdict.label if r.verdict else "",
        "format": rec.format if rec else "", "width": rec.width if rec else "", "height": rec.height if rec else "",
        "sha256": rec.sha256 if rec else "",
        "score": f"{det.score:.6g}" if det else "", "probability": f"{det.probability:.4f}" if det else "",
        "decision": det.decision if det else "", "threshold": f"{det.threshold:.6g}" if det else "",
    }


def scan(
    paths: list[str] = typer.Argument(..., help="Image files and/or folders (searched recursively); with --out also manifest CSVs and fsspec URLs (s3://...)."),
    detector: str = typer.Option("builtin", "--detector", "-d", help="Detector bundle folder (from `synthtrace train` or the demo), 'builtin' (the real-image detector shipped in the package; docs/real-world.md) or 'none' (provenance and pixel signals only)."),
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
    engine: str = typer.Option("local", "--engine", help="local (this process) or ray (Ray Data actors; pip install 'synthtrace[ray]'). ray needs --out."),
    address: str = typer.Option(None, "--address", help="Ray cluster to join: auto, or ray://HOST:10001 (default: start a local one)."),
    out_dir: str = typer.Option(None, "--out", help="Write results as partitioned Parquet here (folder or fsspec URL); reruns skip what is done. See docs/scale.md."),
    db: str = typer.Option(None, "--db", help="Also store results in this case store (postgresql://... or sqlite:///...); needs --out."),
    workers: int = typer.Option(None, "--workers", help="Ray workers (default: one per CPU of the cluster)."),
    shard_size: int = typer.Option(256, "--shard-size", help="Images per shard: the unit of work, retry and output file."),
) -> None:
    """Scan images: provenance, pixel signals and a learned detector (the real-image
    detector shipped in the package unless --detector says otherwise), fused into a
    verdict that can say "uncertain", with the reasons.

    Every file gets a row; bad files are named with the reason and the scan goes on.
    Exit code 1 if any file failed (all other results are still written).
    """
    # torch & co. load on use: the CLI imports every command at start-up
    from synthtrace.tasks.scan import ScanOptions, scan_paths, with_skipped
    detector = None if detector.lower() == "none" else detector

    options = ScanOptions(operating_point=operating_point, max_pixels=max_pixels, provenance=provenance,
                          signals=signals, watermarks=watermarks, trust_anchors=str(trust_anchors) if trust_anchors else None,
                          localize=localize)
    if engine != "local" or out_dir is not None or db is not None:
        return _scan_scaled(paths, detector, options, engine=engine, address=address, out_dir=out_dir, db=db,
                            workers=workers, shard_size=shard_size)
    listing = list_image_files(paths)  # folders: non-images are listed as skipped, with the reason
    files = listing.images
    with progress_bar(len(files), "scanning", enabled=len(files) > 1) as advance:  # stderr: stdout stays clean
        results = scan_paths(files, detector, options, on_result=lambda _: advance(1),
                             run=run_options(precision, compile_))
    results = with_skipped(results, listing.skipped)
    if report:
        from synthtrace.evaluation.scan_report import write_scan_report

        params = {"detector": str(detector) if detector else None, **{k: getattr(options, k) for k in options.__dataclass_fields__}}
        write_scan_report([r for r in results if r.skipped is None], report, parameters=params)
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
            if r.skipped is not None:
                table.add_row(escape(r.path), "[dim]skipped[/]", "—", f"[dim]{escape(r.skipped)}[/]")
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
            err.print("--detector none: provenance and pixel signals only.")
    if listing.skipped:
        err.print(f"{len(listing.skipped)} file(s) skipped (not images); each is listed with the reason")
    failed = [r for r in results if not r.ok]
    if failed:
        err.print(f"[red]{len(failed)} of {len(results)} files failed[/]")
        raise typer.Exit(1)


def _scan_scaled(paths: list[str], detector: str | None, options, *, engine: str, address: str | None,
                 out_dir: str | None, db: str | None, workers: int | None, shard_size: int) -> None:
    """--out/--engine ray: a resumable run into Parquet (and --db), summarised on stderr."""
    from synthtrace.api import scan as scale_scan  # torch & co. load on use: the CLI imports every command at start-up

    if out_dir is None:
        err.print(f"[red]--engine {engine}{' with --db' if db else ''} writes its results to a folder: add --out DIR[/]")
        raise typer.Exit(2)
    try:
        s = scale_scan(paths, str(detector) if detector else None, engine=engine, out=out_dir, db=db, address=address,
                       workers=workers, shard_size=shard_size, options=options, progress=True)
    except SynthtraceError as exc:
        err.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(2) from None
    err.print(f"{s.inputs} inputs: {s.scanned} scanned, {s.failed} failed, {s.skipped} already done; "
              f"{s.images_per_second:.1f} images/s on {s.workers} {engine} worker(s); results in {s.out}/scans and {s.out}/failures "
              f"({s.partition})")
    if s.failed:
        raise typer.Exit(1)
