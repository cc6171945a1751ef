"""`synthtrace discover`: open-world discovery of generators in a collection."""

from __future__ import annotations

from pathlib import Path

import typer

from synthtrace.cli.console import err
from synthtrace.discovery.settings import DiscoverySettings


_D = DiscoverySettings()  # the defaults (docs/discovery.md, section "Defaults")


def discover(
    images: Path = typer.Option(..., "--images", help="Folder of images or a manifest.csv (the discovery set)."),
    known: Path = typer.Option(..., "--known", help="manifest.csv of labelled images of known sources (column `source`)."),
    out: Path = typer.Option(..., "--out", help="Run folder: clusters.json/.csv, iterations.json, index.html, state/."),
    features: str = typer.Option("fingerprint", "--features", help="fingerprint (handcrafted grid-aligned residual "
                                 "statistics, no model needed), a learned fingerprint folder (`synthtrace fingerprint "
                                 "train`: trained on your known sources), or a cnn-small bundle folder whose backbone "
                                 "gives the features."),
    iterations: int = typer.Option(_D.iterations, help="Iterations of the loop (an interrupted run resumes from --out)."),
    n_clusters: int = typer.Option(_D.n_clusters, help="k of the k-means step; default: grows with the square root of "
                                   "the number of images (the paper's 500 for about 10^5)."),
    min_cluster_size: int = typer.Option(_D.min_cluster_size, help="Discovered clusters smaller than this go back; "
                                         "default: grows with the square root of the number of images."),
    merge: str = typer.Option(_D.merge, help="strong or weak connectivity of the 1-NN merge graph."),
    merge_test: bool = typer.Option(_D.merge_test, "--merge-test/--no-merge-test", help="Guarded merge: an edge of the "
                                    "1-NN graph counts only when the centroid passes the other cluster's percentile "
                                    "test, repeated until nothing merges (purer clusters, more of them). "
                                    "--no-merge-test: the paper's single unguarded round."),
    percentile: float = typer.Option(_D.percentile, help="beta of the WTA out-of-distribution test (the paper: 0.9)."),
    merge_space: str = typer.Option(_D.merge_space, help="input (the features themselves) or embedding (the paper: "
                                    "the loop's network f)."),
    kmeans_n_init: int = typer.Option(_D.kmeans_n_init, help="k-means++ starts kept best of."),
    self_train: int = typer.Option(_D.self_train, "--self-train", help="Rounds of self-training (needs a learned "
                                   "fingerprint in --features): after the loop, the fingerprint is fine-tuned on the "
                                   "known images plus the core of every cluster found, and the loop runs again on the "
                                   "new features. Rounds are kept in OUT/rounds/ (the adapted fingerprint: "
                                   "OUT/rounds/fingerprint1)."),
    self_train_epochs: int = typer.Option(_D.self_train_epochs, help="Fine-tuning epochs per self-training round."),
    self_train_augment: float = typer.Option(_D.self_train_augment, help="Share of fine-tuning draws given the "
                                             "fingerprint's processing augmentation (a resize or a blur); default: the "
                                             "share it was trained with."),
    self_train_core: str = typer.Option(_D.self_train_core, help="What each cluster contributes to the fine-tuning: "
                                        "centre (the half nearest its mean) or stable (the members that keep their "
                                        "cluster-mates when the loop re-runs with 4 other seeds)."),
    consensus: int = typer.Option(_D.consensus, "--consensus", help="Runs of the loop (the seed, then seeds derived "
                                  "from it) joined into one clustering: images most runs put together stay together "
                                  "(average linkage on the share of runs), cut at the runs' median number of clusters. "
                                  "Every image gets a cluster; clusters.csv says how often the runs agreed (support). "
                                  "1: a single run. Up to 10 000 images (an N x N matrix); above that, one run."),
    seed: int = typer.Option(_D.seed, help="Random seed: same seed, same clusters (with --self-train, on the same "
                             "machine and thread count: the fine-tuning's float rounding depends on the threads)."),
) -> None:
    """Group images by generator, attributing known sources and discovering new ones.

    The defaults work without tuning: k and the minimum cluster size scale with the
    collection. What they measure on the built-in benchmark: docs/discovery.md.
    Example, with a learned fingerprint trained on the known sources (`synthtrace fingerprint train`):

        synthtrace discover --images new/ --known known.csv --out run/ --features fp/

    Open run/index.html to look at the clusters; run/clusters.csv lists every image's cluster.
    """
    # torch & co. load on use: the CLI imports every command at start-up
    from synthtrace.tasks.discover import discover as run_discovery

    settings = DiscoverySettings(
        iterations=iterations, n_clusters=n_clusters, min_cluster_size=min_cluster_size, merge=merge,
        merge_test=merge_test, percentile=percentile, merge_space=merge_space, kmeans_n_init=kmeans_n_init,
        consensus=consensus, seed=seed, self_train=self_train, self_train_epochs=self_train_epochs,
        self_train_augment=self_train_augment, self_train_core=self_train_core,
    )
    run_discovery(images, known, out, features=str(features), settings=settings, log=err.print, progress=True)
