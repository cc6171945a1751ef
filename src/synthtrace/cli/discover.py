"""`synthtrace discover`: open-world discovery of generators in a collection."""

from __future__ import annotations

from pathlib import Path

import typer

from synthtrace.cli.console import err


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
    merge_test: bool = typer.Option(True, "--merge-test/--no-merge-test", help="Guarded merge: an edge of the 1-NN "
                                    "graph counts only when the centroid passes the other cluster's percentile test, "
                                    "repeated until nothing merges. --no-merge-test: the paper's single unguarded round "
                                    "(fewer clusters, higher NMI; with --self-train on the built-in benchmark, 6 seeds: "
                                    "purity 0.901 / NMI 0.791 against 0.906 / 0.719 guarded)."),
    percentile: float = typer.Option(0.9, help="beta of the WTA out-of-distribution test (paper: 0.9; 0.5 was chosen "
                                     "for the learned fingerprint on the built-in benchmark)."),
    merge_space: str = typer.Option("embedding", help="embedding (the paper: the loop's network f) or input (the "
                                    "features themselves; better for a learned fingerprint on the built-in benchmark)."),
    kmeans_n_init: int = typer.Option(1, help="k-means++ starts kept best of (10 for a learned fingerprint on the "
                                      "built-in benchmark)."),
    self_train: int = typer.Option(0, "--self-train", help="Rounds of self-training (needs a learned fingerprint in "
                                   "--features): after the loop, the fingerprint is fine-tuned on the known images plus "
                                   "the core of every cluster found, and the loop runs again on the new features. "
                                   "Rounds are kept in OUT/rounds/ (the adapted fingerprint: OUT/rounds/fingerprint1)."),
    self_train_epochs: int = typer.Option(30, help="Fine-tuning epochs per self-training round."),
    self_train_augment: float = typer.Option(None, help="Share of fine-tuning draws given the fingerprint's processing "
                                             "augmentation (a resize or a blur); default: the share it was trained with."),
    self_train_core: str = typer.Option("centre", help="What each cluster contributes to the fine-tuning: centre (the "
                                        "half nearest its mean) or stable (the members that keep their cluster-mates "
                                        "when the loop re-runs with 4 other seeds; seconds per re-run)."),
    consensus: int = typer.Option(16, "--consensus", help="Runs of the loop (the seed, then seeds derived from it) "
                                  "joined into one clustering: images most runs put together stay together (average "
                                  "linkage on the share of runs), cut at the runs' median number of clusters. Every "
                                  "image gets a cluster; clusters.csv says how often the runs agreed (support). On the "
                                  "built-in benchmark (standard preset, test half, 6 seeds), 16 runs: purity 0.924, NMI "
                                  "0.777; their first run alone: 0.891, 0.734. 1: a single run. Up to 10 000 images "
                                  "(an N x N matrix); above that, one run."),
    seed: int = typer.Option(0, help="Random seed: same seed, same clusters (with --self-train, on the same machine "
                             "and thread count: the fine-tuning's float rounding depends on the threads)."),
) -> None:
    """Group images by generator, attributing known sources and discovering new ones.

    Example, with a learned fingerprint trained on the known sources (`synthtrace fingerprint train`):

        synthtrace discover --images new/ --known known.csv --out run/ --features fp/ --n-clusters 45
        --min-cluster-size 5 --percentile 0.5 --merge-space input --kmeans-n-init 10

    Open run/index.html to look at the clusters; run/clusters.csv lists every image's cluster.
    """
    # torch & co. load on use: the CLI imports every command at start-up
    from synthtrace.tasks.discover import DiscoverySettings, SelfTraining, discover as run_discovery

    settings = DiscoverySettings(iterations=iterations, n_clusters=n_clusters, min_cluster_size=min_cluster_size,
                                 merge=merge, merge_test=merge_test, percentile=percentile, merge_space=merge_space,
                                 kmeans_n_init=kmeans_n_init, consensus=consensus, seed=seed)
    self_training = SelfTraining(rounds=self_train, epochs=self_train_epochs, augment=self_train_augment,
                                 core=self_train_core)
    run_discovery(images, known, out, features=str(features), settings=settings, self_training=self_training,
                  log=err.print, progress=True)
