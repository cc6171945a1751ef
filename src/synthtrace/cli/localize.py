"""`synthtrace eval-masks` and `synthtrace localize`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from synthtrace.cli.console import err, out


def _pct(v) -> str:
    return "—" if v is None else f"{100 * v:.1f}"


def eval_masks(
    pred: Path = typer.Option(..., "--pred", help="Folder of predicted masks / score maps / label images."),
    gt: Path = typer.Option(..., "--gt", help="Folder of ground-truth masks (paired by file stem)."),
    classes: int = typer.Option(None, "--classes", help="Number of classes of label maps; omit for binary masks."),
    ignore: int = typer.Option(255, "--ignore", help="Ignore label of the ground truth (label maps)."),
    d_frac: float = typer.Option(0.01, "--d-frac", help="Boundary distance d as a fraction of the image diagonal."),
    d: int = typer.Option(None, "--d", help="Boundary distance d in pixels (overrides --d-frac)."),
    report: Path = typer.Option(None, "--report", help="Write a self-contained HTML report with error maps here."),
    out_json: Path = typer.Option(None, "--out", "-o", help="Write the JSON result here."),
    as_json: bool = typer.Option(False, "--json", help="Print the JSON result to stdout instead of a table."),
) -> None:
    """Fine-grained error analysis of predicted masks: IoU split into boundary, extent and
    segment errors (FP and FN), re-normalised ratios; pixel/image AUC and F1 for binary masks."""
    # optional extra 'watermark'
    from synthtrace.evaluation.masks import evaluate_mask_dirs, to_json, write_masks_report

    result = evaluate_mask_dirs(pred, gt, num_classes=classes, ignore_index=ignore, d=d, d_frac=d_frac)
    text = to_json(result)
    if out_json:
        Path(out_json).write_text(text, encoding="utf-8")
        err.print(f"result written to {out_json}")
    if report:
        write_masks_report(result, report)
        err.print(f"report written to {report}")
    if as_json:
        typer.echo(text)
        return
    ea = result["error_analysis"]
    table = Table(title=f"{result['n_images']} image(s), {result['mode']} masks (values in %)")
    keys = ("IoU", "E_bnd_oU", "E_ext_oU", "E_seg_oU", "E_bnd_renorm", "E_ext_renorm", "E_seg_renorm")
    table.add_column("class")
    for k in keys:
        table.add_column(k)
    for r in ea["per_class"]:
        table.add_row(str(r["class"]), *(_pct(r[k]) for k in keys))
    table.add_row("mean", *(_pct(ea["mean"][k]) for k in keys))
    out.print(table)
    if "mask_metrics" in result:
        mm = result["mask_metrics"]
        out.print(f"pixel AUC {mm['pixel_auc'] if mm['pixel_auc'] is None else round(mm['pixel_auc'], 4)}, "
                  f"image AUC (map max) {mm['image_auc_from_max']}, "
                  f"F1@0.5 (edited) {mm['edited']['f1_at_threshold']}")
    for name in result["unpaired_predictions"][:5] + result["unpaired_ground_truth"][:5]:
        err.print(f"[yellow]unpaired file skipped: {name}[/yellow]")


def localize(
    paths: list[Path] = typer.Argument(..., help="Image files or folders."),
    detector: Path = typer.Option(..., "--detector", "-d", help="Detector bundle folder."),
    out_dir: Path = typer.Option(Path("localize-out"), "--out", "-o", help="Folder for PNG overlays and .npz arrays."),
    window: int = typer.Option(64, help="Sliding-window side in pixels."),
    stride: int = typer.Option(32, help="Sliding-window stride in pixels."),
    batch_size: int = typer.Option(64, help="Windows scored per batch."),
    average: str = typer.Option("logit", help="Average window scores as calibrated logits (logit) or probabilities "
                                "(probability); logits keep the order between windows that are all confidently fake."),
    normalize: str = typer.Option("none", help="Per-image map normalisation: none, rank or minmax. rank gave the best "
                                  "pixel AUC on the built-in benchmark's splices (docs/localization.md) but makes every "
                                  "map span [0, 1], authentic images included: use the map's ranks for where, not whether."),
    cache: Path = typer.Option(None, "--cache", help="Folder caching raw window scores (keyed by file sha256, detector, "
                               "window, stride): localising the same file again does not run the model."),
) -> None:
    """Heatmaps of where an image was edited: sliding-window detector map and noise-inconsistency
    map, each with a confidence map; writes <name>.overlay.png and <name>.heatmap.npz."""
    from synthtrace.signals.heatmap import WindowScoreCache  # torch & co. load on use: the CLI imports every command at start-up
    from synthtrace.tasks.localize import LocalizeSettings, localize as localize_files

    settings = LocalizeSettings(window=window, stride=stride, batch_size=batch_size, average=average, normalize=normalize)
    score_cache = WindowScoreCache(cache) if cache else None
    for r in localize_files(paths, detector, settings=settings, out_dir=out_dir, cache=score_cache):
        sw = r.detector_map
        out.print(f"{r.path}: max {float(sw.score.max()):.3f}, mean {float(sw.score.mean()):.3f} "
                  f"({sw.params['n_windows']} windows) → {out_dir}")
    if score_cache is not None:
        err.print(f"window-score cache {cache}: {score_cache.hits} hit(s), {score_cache.misses} miss(es)")
