"""`synthtrace features extract` and `synthtrace features agreement` (the CPU fast path)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import typer

from synthtrace.cli.console import err, out
from synthtrace.io.manifest import read_manifest

app = typer.Typer(help="Backbone features: extract them (fp32, bf16, int8, compiled) and check fast-path agreement.",
                  no_args_is_help=True)

_PRECISION_HELP = ("fp32 (reference), bf16 (bfloat16 autocast; fp32 on CPUs without native bfloat16) or int8 "
                   "(dynamic quantisation of the linear layers); add +tome18 (or +tome<r>) for token merging, "
                   "e.g. bf16+tome18: about 2x faster again, an approximation; check it with `features agreement`. "
                   "Cached separately per precision.")


@app.command("extract")
def extract(
    backbone: str = typer.Option(..., "--backbone", "-b", help="hf:<hub id or local dir> or cnn-small."),
    manifest: Path = typer.Option(..., "--manifest", "-m", help="manifest.csv whose images to embed."),
    out_file: Path = typer.Option(None, "--out", "-o", help="Write features, paths and labels to this .npz."),
    split: str = typer.Option(None, help="Only rows of this split (train, val, test)."),
    layer: str = typer.Option("last", help="Backbone layer."),
    pooling: str = typer.Option("cls", help="cls, mean or embeds (CLIP projection)."),
    precision: str = typer.Option("fp32", help=_PRECISION_HELP),
    compile_: bool = typer.Option(False, "--compile", help="torch.compile the forward pass (compiled once; slow first batch)."),
    threads: int = typer.Option(None, help="torch intra-op threads (default: all available cores)."),
    batch_size: int = typer.Option(32, help="Images per forward pass."),
    workers: int = typer.Option(2, help="Image-decoding threads, overlapping the model."),
    cache_dir: Path = typer.Option(None, "--cache", help="Feature cache folder (shared with train/probe-layers)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary to stdout."),
) -> None:
    """Embed every image of a manifest (e.g. to fill the feature cache before `train --cache`)."""
    from synthtrace.backbones.registry import create_backbone  # torch & co. load on use: the CLI imports every command at start-up
    from synthtrace.backbones.speed import Precision, compile_seconds, configure_threads
    from synthtrace.features.extract import extract_features
    settings = configure_threads(threads)
    m = read_manifest(manifest)
    if split:
        m = m.where(split=split)
    paths = [m.path_of(r) for r in m]
    bb = create_backbone(backbone)
    t0 = time.perf_counter()
    X = extract_features(paths, bb, layer=layer, pooling=pooling, precision=Precision.parse(precision), compile=compile_,
                         batch_size=batch_size, num_workers=workers, cache_dir=cache_dir, progress=not as_json)
    seconds = time.perf_counter() - t0
    if out_file:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        np.savez(out_file, features=X, paths=np.array([str(p) for p in paths]), labels=m.labels())
    summary = {
        "backbone": bb.id, "layer": layer, "pooling": pooling, "precision": precision, "compile": compile_,
        "images": len(paths), "dim": int(X.shape[1]) if X.ndim == 2 else 0, "seconds": round(seconds, 2),
        "images_per_s": round(len(paths) / seconds, 2) if seconds > 0 else None,
        "compile_seconds": compile_seconds(bb), **settings, "out": str(out_file) if out_file else None,
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    out.print(f"{summary['images']} images → {summary['dim']}-d features in {summary['seconds']} s "
              f"({summary['images_per_s']} images/s, {precision}{' + compile' if compile_ else ''}, "
              f"{settings['num_threads']} threads)")
    if summary["compile_seconds"]:
        err.print(f"compile (first batch): {summary['compile_seconds']}")
    if out_file:
        err.print(f"features written to {out_file}")


@app.command("agreement")
def agreement(
    backbone: str = typer.Option(..., "--backbone", "-b", help="hf:<hub id or local dir>."),
    manifest: Path = typer.Option(..., "--manifest", "-m", help="manifest.csv with train, val and test splits."),
    precision: str = typer.Option("bf16", help="The fast path to check against fp32: bf16, int8, or either with +tome<r> (e.g. bf16+tome18)."),
    compile_: bool = typer.Option(False, "--compile", help="Check the torch.compile'd fast path."),
    layer: str = typer.Option("last", help="Backbone layer."),
    pooling: str = typer.Option("cls", help="cls, mean or embeds."),
    batch_size: int = typer.Option(32, help="Images per forward pass."),
    cache_dir: Path = typer.Option(None, "--cache", help="Feature cache folder (fp32 features are reused)."),
    seed: int = typer.Option(0, help="Seed for the probe's class balancing."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Do fast-path features decide like fp32? Probe fitted on fp32 train features, thresholds
    from fp32 val, test decisions compared (target: >= 99.5 % at every operating point)."""
    # torch & co. load on use: the CLI imports every command at start-up
    from synthtrace.backbones.speed import Precision, configure_threads
    from synthtrace.training.fastpath import fastpath_agreement

    configure_threads()
    rep = fastpath_agreement(manifest, backbone, precision=Precision.parse(precision), compile=compile_, layer=layer, pooling=pooling,
                             batch_size=batch_size, cache_dir=cache_dir, seed=seed, progress=not as_json)
    if as_json:
        typer.echo(json.dumps(rep.to_dict(), indent=2, allow_nan=False))
        return
    out.print(f"{rep.precision}{' + compile' if rep.compile else ''} vs fp32, {rep.backbone} [{rep.layer}/{rep.pooling}], "
              f"{rep.n_test} test images (probe: {rep.n_train} train, thresholds: {rep.n_val} val)")
    for k, v in rep.agreement.items():
        out.print(f"  {k:<9} agreement {v:.2%} ({rep.disagreements[k]} decisions differ)")
    out.print(f"  features: max relative L2 {rep.features['max_rel_l2']:.4f}, min cosine {rep.features['min_cosine']:.5f}; "
              f"test ROC AUC fp32 {rep.test_auc_fp32:.3f}, fast {rep.test_auc_fast:.3f}")
    verdict = "meets" if rep.min_agreement >= 0.995 else "does NOT meet"
    out.print(f"  minimum {rep.min_agreement:.2%}: {verdict} the 99.5 % target")
