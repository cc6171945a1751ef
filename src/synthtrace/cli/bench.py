"""`synthtrace bench build`: the built-in procedural benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from synthtrace.cli.console import err
from synthtrace.progress import progress_bar

app = typer.Typer(help="The built-in benchmark: offline images whose source is known for every pixel.", no_args_is_help=True)


@app.command("build")
def build(
    out: Path = typer.Option(..., "--out", help="Folder to write images/, masks/, manifest.csv and bench.json into."),
    size: int = typer.Option(128, help="Image side in pixels (multiple of 16)."),
    per_source: int = typer.Option(100, "--per-source", help="Fakes per generator (each with its content-matched real twin)."),
    seed: int = typer.Option(0, help="Build seed: the same seed gives byte-identical files."),
    encode: str = typer.Option(
        "jpeg:85-98", help="Final encoder shared by every class: jpeg:LO-HI, png (lossless), or confounded (PNG fakes / JPEG reals: the known trap, on purpose)."
    ),
    difficulty: str = typer.Option(
        "standard", help="Preset: easy, standard or hard. File sizes are calibrated for standard only: easy lets file size hint at the label."
    ),
    clusters: int = typer.Option(0, "--clusters", help="Semantic clusters (spec §5): each scene's real plus fakes from this many generators share a cluster_id (e.g. 5; 0 = one fake per scene)."),
    workers: int = typer.Option(0, help="Worker processes (0 = one per core). Output does not depend on it."),
    check: bool = typer.Option(False, "--check", help="Also train the reference cnn-small and report the difficulty band (about a minute)."),
    as_json: bool = typer.Option(False, "--json", help="Print the build summary as JSON."),
) -> None:
    """Build the benchmark: 15 generators (5 up-sampling families x 3 seeds), 4 cameras,
    content-matched real/fake twins, splices with masks, scene-disjoint splits.

    Seen generators (train/val/test): tconv, nearest, bilinear, pixelshuffle seeds 0-1.
    Held out (test only): seed 2 of each, and the whole ldm family; camera cam3.
    """
    from synthtrace.bench.build import BenchConfig, build_benchmark  # imports torch: not at CLI start-up

    cfg = BenchConfig(size=size, per_source=per_source, seed=seed, encode=encode, difficulty=difficulty, clusters=clusters)
    n_scenes = -(-per_source * 15 // clusters) if clusters else per_source * 15
    with progress_bar(n_scenes, "rendering scenes", enabled=not as_json) as advance:
        done = [0]

        def on_progress(n: int, total: int) -> None:
            advance(n - done[0])
            done[0] = n

        summary = build_benchmark(out, cfg, workers=workers or None, progress=on_progress)
    result = summary.to_dict()
    if check:
        from synthtrace.tasks.demo import check_band  # torch & co. load on use: the CLI imports every command at start-up

        result["difficulty_band"] = check_band(out, seed=seed, progress=not as_json,
                                               log=(lambda m: None) if as_json else err.print)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    c = summary.counts
    err.print(
        f"[bold]{summary.n_images}[/] images in {summary.seconds:.1f} s ({summary.images_per_second:.0f} images/s) → {summary.manifest}\n"
        f"splits {c['by_split']}, labels {c['by_label']}, splices {c['splices']}\n"
        f"held-out generators: {', '.join(c['held_out_generators'])}; held-out camera: {', '.join(c['held_out_cameras'])}\n"
    )
    band = result.get("difficulty_band")
    if band is None:
        err.print("Difficulty band (standard preset): the reference cnn-small should reach seen-generator ROC AUC in "
                  "[0.95, 0.995] with held-out generators lower; add --check to measure it on this build.")
    else:
        status = "[green]holds[/]" if band["holds"] else "[red]does not hold[/]"
        err.print(f"Difficulty band: seen-generator ROC AUC {band['seen_auc']:.4f} (band {band['seen_auc_band']}), "
                  f"held-out {band['held_out_auc']:.4f}: {status} (measured on this build; reference-metrics.json)")
