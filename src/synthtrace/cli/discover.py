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
    if self_train < 0 or self_train_epochs < 1:
        raise typer.BadParameter("--self-train takes a number of rounds >= 0 and --self-train-epochs a number >= 1.")
    if self_train_augment is not None and not 0.0 <= self_train_augment <= 1.0:
        raise typer.BadParameter(f"--self-train-augment {self_train_augment}: a share of draws, in [0, 1].")
    if consensus < 1:
        raise typer.BadParameter(f"--consensus {consensus}: the number of runs of the loop, >= 1 (1: no consensus).")
    if self_train_core not in ("centre", "stable"):
        raise typer.BadParameter(f"--self-train-core {self_train_core!r}: choose centre or stable.")
    from synthtrace.backbones.cnn import CNNSmallBackbone
    from synthtrace.discovery.openworld import OpenWorldDiscovery
    from synthtrace.discovery.run import write_run
    from synthtrace.features.extract import extract_features
    from synthtrace.features.learned_fingerprint import LearnedFingerprint, is_learned_fingerprint
    from synthtrace.io.manifest import read_manifest

    km = read_manifest(known)
    rows = [r for r in km if r.source]
    files = _list(images)
    known_files = [km.path_of(r) for r in rows]
    fp = LearnedFingerprint.from_pretrained(features) if is_learned_fingerprint(features) else None
    if self_train and fp is None:
        raise typer.BadParameter(f"--self-train {self_train} fine-tunes a learned fingerprint, but --features is "
                                 f"{features!r}; train one with `synthtrace fingerprint train KNOWN.csv --out fp/` and "
                                 "pass --features fp/.")
    known_imgs = disc_imgs = None
    if self_train:  # decoded once: every round trains on them and recomputes their features
        from synthtrace.io.images import load_images

        known_imgs = [im.rgb for im in load_images(known_files, progress=True, label="decoding known")]
        disc_imgs = [im.rgb for im in load_images(files, progress=True, label="decoding discovery set")]
        Xk, Xd = fp.transform(known_imgs), fp.transform(disc_imgs)
    elif features == "fingerprint":
        from synthtrace.features.fingerprint import fingerprint_files

        Xk = fingerprint_files(known_files, progress=True)
        Xd = fingerprint_files(files, progress=True)
    elif fp is not None:
        Xk = fp.transform_files(known_files, progress=True)
        Xd = fp.transform_files(files, progress=True)
    else:
        bb = CNNSmallBackbone(weights=features)
        Xk = extract_features(known_files, bb, pooling="mean", progress=False)
        Xd = extract_features(files, bb, pooling="mean", progress=False)
    err.print(f"{len(rows)} known images, {len(files)} to discover")
    from synthtrace.discovery.consensus import MAX_SAMPLES, ConsensusDiscovery

    if consensus > 1 and len(files) > MAX_SAMPLES:
        err.print(f"--consensus {consensus}: {len(files)} images are more than a consensus handles ({MAX_SAMPLES}, "
                  "an N x N matrix); running the loop once (pass --consensus 1 to skip this note).")
        consensus = 1
    yk = [r.source for r in rows]
    for rnd in range(self_train + 1):
        last = rnd == self_train
        d = OpenWorldDiscovery(
            n_iterations=iterations, n_clusters=n_clusters, min_cluster_size=min_cluster_size, merge=merge,
            merge_test=merge_test, percentile=percentile, merge_space=merge_space, kmeans_n_init=kmeans_n_init, random_state=seed,
            run_dir=out if last else out / "rounds" / f"round{rnd}", verbose=True,
        )
        if last and consensus > 1:
            d = ConsensusDiscovery(d, runs=consensus, progress=True).fit(Xk, yk, Xd)
            c = d.history_[-1]
            err.print(f"consensus of {consensus} runs: {c['n_clusters']} clusters, pairs of cluster-mates together in "
                      f"{c['mean_support']:.0%} of the runs on average (runs' pairwise ARI {c['mean_pairwise_ari']:.2f}); "
                      f"runs kept in {out}/consensus/")
            break
        d = d.fit(Xk, yk, Xd)
        if last:
            break
        adapted = out / "rounds" / f"fingerprint{rnd + 1}"
        if is_learned_fingerprint(adapted):  # an interrupted run: this round's fine-tuning is done
            fp = LearnedFingerprint.from_pretrained(adapted)
            err.print(f"self-training round {rnd + 1}: reusing {adapted}")
        else:
            from synthtrace.discovery.selftrain import self_train as fine_tune, stable_core

            core = None
            if self_train_core == "stable":
                core = stable_core(d, Xk, yk, Xd, progress=True)
                err.print(f"self-training round {rnd + 1}: {int(core.sum())} of {int((d.labels_ >= 0).sum())} "
                          "clustered images keep their cluster-mates over 4 re-runs of the loop")
            fp, core = fine_tune(fp, known_imgs, yk, disc_imgs, d, Xd, epochs=self_train_epochs,
                                 augment=self_train_augment, core=core)
            fp.save_pretrained(adapted)
            err.print(f"self-training round {rnd + 1}: fine-tuned on {len(rows)} known + {int(core.sum())} clustered "
                      f"images ({fp.classes_.size} classes), saved {adapted}")
        Xk, Xd = fp.transform(known_imgs), fp.transform(disc_imgs)
    write_run(out, d, [str(f) for f in files])
    err.print(f"wrote {out}/clusters.json, clusters.csv, iterations.json, index.html")
