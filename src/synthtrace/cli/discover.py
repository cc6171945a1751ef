"""`synthtrace discover`: open-world discovery of generators in a collection."""

from __future__ import annotations

from pathlib import Path

import typer

from synthtrace.cli.console import err


def _list(images: Path) -> list[Path]:
    from synthtrace.cli.attribute import _images
    from synthtrace.io.manifest import read_manifest

    if images.is_file() and images.suffix.lower() == ".csv":
        m = read_manifest(images)
        return [m.path_of(r) for r in m]
    return _images([images])


def discover(
    images: Path = typer.Option(..., "--images", help="Folder of images or a manifest.csv (the discovery set)."),
    known: Path = typer.Option(..., "--known", help="manifest.csv of labelled images of known sources (column `source`)."),
    out: Path = typer.Option(..., "--out", help="Run folder: clusters.json/.csv, iterations.json, index.html, state/."),
    features: str = typer.Option("fingerprint", "--features", help="fingerprint (handcrafted grid-aligned residual "
                                 "statistics, no model needed), a learned fingerprint folder (`synthtrace fingerprint "
                                 "train`: trained on your known sources; better than the handcrafted one on the built-in "
                                 "benchmark), or a cnn-small bundle folder whose backbone gives the features."),
    iterations: int = typer.Option(4, help="Iterations of the loop (an interrupted run resumes from --out)."),
    n_clusters: int = typer.Option(500, help="k of the k-means step (paper: 500)."),
    min_cluster_size: int = typer.Option(100, help="Discovered clusters smaller than this go back (paper: 100)."),
    merge: str = typer.Option("strong", help="strong or weak connectivity of the 1-NN merge graph."),
    percentile: float = typer.Option(0.9, help="beta of the WTA out-of-distribution test (paper: 0.9; 0.5 was chosen "
                                     "for the learned fingerprint on the built-in benchmark)."),
    merge_space: str = typer.Option("embedding", help="embedding (the paper: the loop's network f) or input (the "
                                    "features themselves; better for a learned fingerprint on the built-in benchmark)."),
    kmeans_n_init: int = typer.Option(1, help="k-means++ starts kept best of (10 for a learned fingerprint on the "
                                      "built-in benchmark)."),
    seed: int = typer.Option(0, help="Random seed."),
) -> None:
    """Group images by generator, attributing known sources and discovering new ones."""
    from synthtrace.backbones.cnn import CNNSmallBackbone
    from synthtrace.discovery.openworld import OpenWorldDiscovery
    from synthtrace.discovery.run import write_run
    from synthtrace.features.extract import extract_features
    from synthtrace.features.learned_fingerprint import LearnedFingerprint, is_learned_fingerprint
    from synthtrace.io.manifest import read_manifest

    km = read_manifest(known)
    rows = [r for r in km if r.source]
    files = _list(images)
    if features == "fingerprint":
        from synthtrace.features.fingerprint import fingerprint_files

        Xk = fingerprint_files([km.path_of(r) for r in rows], progress=True)
        Xd = fingerprint_files(files, progress=True)
    elif is_learned_fingerprint(features):
        fp = LearnedFingerprint.from_pretrained(features)
        Xk = fp.transform_files([km.path_of(r) for r in rows], progress=True)
        Xd = fp.transform_files(files, progress=True)
    else:
        bb = CNNSmallBackbone(weights=features)
        Xk = extract_features([km.path_of(r) for r in rows], bb, pooling="mean", progress=False)
        Xd = extract_features(files, bb, pooling="mean", progress=False)
    err.print(f"{len(rows)} known images, {len(files)} to discover")
    d = OpenWorldDiscovery(
        n_iterations=iterations, n_clusters=n_clusters, min_cluster_size=min_cluster_size, merge=merge,
        percentile=percentile, merge_space=merge_space, kmeans_n_init=kmeans_n_init, random_state=seed, run_dir=out,
        verbose=True,
    ).fit(Xk, [r.source for r in rows], Xd)
    write_run(out, d, [str(f) for f in files])
    err.print(f"wrote {out}/clusters.json, clusters.csv, iterations.json, index.html")
