"""Discover: group a collection by generator, attributing known sources and finding new ones.

Features of the known images (a manifest with a ``source`` column) and of the
collection come from the handcrafted fingerprint, a learned fingerprint folder or a
cnn-small bundle; the open-world loop (``synthtrace.discovery``) clusters them,
optionally joined over many runs (consensus) and with rounds of self-training of a
learned fingerprint. The run folder gets clusters.json/.csv, iterations.json and
index.html. Settings and their defaults (k and τ scale with the collection):
``DiscoverySettings`` and docs/discovery.md, section "Defaults".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from synthtrace.detector import DetectorBundle
from synthtrace.discovery.consensus import MAX_SAMPLES, ConsensusDiscovery
from synthtrace.discovery.openworld import OpenWorldDiscovery
from synthtrace.discovery.run import write_run
from synthtrace.discovery.selftrain import self_train as fine_tune
from synthtrace.discovery.selftrain import stable_core
from synthtrace.discovery.settings import DiscoverySettings
from synthtrace.errors import ConfigError
from synthtrace.features.extract import extract_features
from synthtrace.features.fingerprint import fingerprint_files
from synthtrace.heads.learned_fingerprint import LearnedFingerprint, is_learned_fingerprint
from synthtrace.io.images import list_image_files, load_images
from synthtrace.io.manifest import read_manifest

FINGERPRINT = "fingerprint"


def collection_files(images: str | Path) -> list[Path]:
    """The discovery set: a manifest.csv's files, or the images under a folder."""
    p = Path(images)
    if p.is_file() and p.suffix.lower() == ".csv":
        m = read_manifest(p)
        return [m.path_of(r) for r in m]
    return list_image_files([p]).images


def discover(
    images: str | Path | Sequence[str | Path],
    known: str | Path,
    out: str | Path,
    *,
    features: str | Path = FINGERPRINT,
    settings: DiscoverySettings = DiscoverySettings(),
    log: Callable[[str], None] = lambda msg: None,
    progress: bool = False,
) -> OpenWorldDiscovery | ConsensusDiscovery:
    """Run discovery on ``images`` (a folder, a manifest.csv or a list of files) against the
    ``known`` manifest; write the run folder ``out`` and return the fitted discovery.
    ``settings`` left at None for k and τ scale them with the collection."""
    out = Path(out)
    files = collection_files(images) if isinstance(images, (str, Path)) else [Path(p) for p in images]
    km = read_manifest(known)
    rows = [r for r in km if r.source]
    known_files = [km.path_of(r) for r in rows]
    fp = LearnedFingerprint.from_pretrained(features) if is_learned_fingerprint(features) else None
    if settings.self_train and fp is None:
        raise ConfigError(f"self-training fine-tunes a learned fingerprint, but features is {str(features)!r}; train one "
                          "with `synthtrace fingerprint train KNOWN.csv --out fp/` and pass it as the features.")
    known_imgs = disc_imgs = None
    if settings.self_train:  # decoded once: every round trains on them and recomputes their features
        known_imgs = [im.rgb for im in load_images(known_files, progress=progress, label="decoding known")]
        disc_imgs = [im.rgb for im in load_images(files, progress=progress, label="decoding discovery set")]
        Xk, Xd = fp.transform(known_imgs), fp.transform(disc_imgs)
    elif str(features) == FINGERPRINT:
        Xk = fingerprint_files(known_files, progress=progress)
        Xd = fingerprint_files(files, progress=progress)
    elif fp is not None:
        Xk = fp.transform_files(known_files, progress=progress)
        Xd = fp.transform_files(files, progress=progress)
    else:
        bb = DetectorBundle.from_pretrained(features).cnn_backbone()
        Xk = extract_features(known_files, bb, pooling="mean", progress=False)
        Xd = extract_features(files, bb, pooling="mean", progress=False)
    yk = [r.source for r in rows]
    s = settings.resolve(len(files))
    log(f"{len(rows)} known images, {len(files)} to discover; k {s.n_clusters}, minimum cluster size "
        f"{s.min_cluster_size}")
    consensus = s.consensus
    if consensus > 1 and len(files) > MAX_SAMPLES:
        log(f"consensus of {consensus} runs: {len(files)} images are more than a consensus handles ({MAX_SAMPLES}, an "
            "N x N matrix); running the loop once (pass consensus 1 to skip this note).")
        consensus = 1
    for rnd in range(settings.self_train + 1):
        last = rnd == settings.self_train
        d = OpenWorldDiscovery(**s.loop_params(), run_dir=out if last else out / "rounds" / f"round{rnd}",
                               verbose=progress)
        if last and consensus > 1:
            d = ConsensusDiscovery(d, runs=consensus, progress=progress).fit(Xk, yk, Xd)
            c = d.history_[-1]
            log(f"consensus of {consensus} runs: {c['n_clusters']} clusters, pairs of cluster-mates together in "
                f"{c['mean_support']:.0%} of the runs on average (runs' pairwise ARI {c['mean_pairwise_ari']:.2f}); "
                f"runs kept in {out}/consensus/")
            break
        d = d.fit(Xk, yk, Xd)
        if last:
            break
        adapted = out / "rounds" / f"fingerprint{rnd + 1}"
        if is_learned_fingerprint(adapted):  # an interrupted run: this round's fine-tuning is done
            fp = LearnedFingerprint.from_pretrained(adapted)
            log(f"self-training round {rnd + 1}: reusing {adapted}")
        else:
            core = None
            if settings.self_train_core == "stable":
                core = stable_core(d, Xk, yk, Xd, progress=progress)
                log(f"self-training round {rnd + 1}: {int(core.sum())} of {int((d.labels_ >= 0).sum())} clustered "
                    "images keep their cluster-mates over 4 re-runs of the loop")
            fp, core = fine_tune(fp, known_imgs, yk, disc_imgs, d, Xd, epochs=settings.self_train_epochs,
                                 augment=settings.self_train_augment, core=core)
            fp.save_pretrained(adapted)
            log(f"self-training round {rnd + 1}: fine-tuned on {len(rows)} known + {int(core.sum())} clustered images "
                f"({fp.classes_.size} classes), saved {adapted}")
        Xk, Xd = fp.transform(known_imgs), fp.transform(disc_imgs)
    write_run(out, d, [str(f) for f in files])
    log(f"wrote {out}/clusters.json, clusters.csv, iterations.json, index.html")
    return d


__all__ = ["DiscoverySettings", "collection_files", "discover"]
