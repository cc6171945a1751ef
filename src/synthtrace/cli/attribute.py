"""`synthtrace attribute`: top-k sources with probabilities, or "unknown generator"."""

from __future__ import annotations

from pathlib import Path

import typer

from synthtrace.cli.console import out


def _images(paths: list[Path]) -> list[Path]:
    exts = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
    files: list[Path] = []
    for p in paths:
        files += sorted(q for q in p.rglob("*") if q.suffix.lower() in exts) if p.is_dir() else [p]
    return files


def attribute(
    paths: list[Path] = typer.Argument(..., help="Image files and/or folders."),
    detector: Path = typer.Option(..., "--detector", "-d", help="cnn-small bundle folder holding an attribution head."),
    top_k: int = typer.Option(3, "--top-k", "-k", help="How many sources to list per image."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines instead of a table."),
) -> None:
    """Which known generator made each image, or "unknown generator"."""
    import json

    from synthtrace.backbones.cnn import CNNSmallBackbone
    from synthtrace.features.extract import extract_features
    from synthtrace.heads.attribution import UNKNOWN, load_attribution_head

    head = load_attribution_head(detector)
    files = _images(paths)
    X = extract_features(files, CNNSmallBackbone(weights=detector), pooling="mean", progress=False)
    unknown = head.is_unknown(X)
    tops = head.top_k(X, k=top_k)
    for f, unk, top in zip(files, unknown.tolist(), tops):
        answer = "unknown generator" if unk else top[0][0]
        if as_json:
            out.print_json(json.dumps({"path": str(f), "answer": UNKNOWN if unk else top[0][0],
                                       "top_k": [{"source": s, "probability": p} for s, p in top]}))
        else:
            listing = ", ".join(f"{s} {p:.2f}" for s, p in top)
            out.print(f"{f}\t{answer}\t[{listing}]", markup=False, highlight=False)
