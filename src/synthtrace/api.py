"""The public Python API, ``import synthtrace as st``: the use cases, typed, in one place.

The command line and the service are thin over these functions. Every function takes
typed settings (frozen dataclasses) and paths; see the README's Python section.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields
from typing import Any

from synthtrace.backbones.speed import Precision
from synthtrace.detector import DetectorBundle, RunOptions
from synthtrace.discovery.settings import DiscoverySettings
from synthtrace.errors import ConfigError
from synthtrace.evaluation.evaluate import evaluate_detector
from synthtrace.io.manifest import Manifest
from synthtrace.progress import rate_progress
from synthtrace.records import ScanResult
from synthtrace.scale.run import DEFAULT_SHARD_SIZE, ENGINES, _import_ray, scan_to_parquet
from synthtrace.tasks.attribute import attribute, fit_attribution
from synthtrace.tasks.discover import discover as _discover
from synthtrace.tasks.localize import Localization, LocalizeSettings, localize
from synthtrace.tasks.scan import ScanOptions, scan_paths
from synthtrace.training.train import train_detector

Detector = DetectorBundle
PathLike = str | os.PathLike[str]


def scan(
    paths: PathLike | Iterable[PathLike],
    detector: DetectorBundle | PathLike | None = None,
    *,
    options: ScanOptions | None = None,
    run: RunOptions = RunOptions(),
    engine: str = "local",
    out: PathLike | None = None,
    db: str | None = None,
    address: str | None = None,
    workers: int | None = None,
    shard_size: int | None = None,
    progress: bool = False,
    recursive: bool = True,
    **option_fields: Any,
) -> list[ScanResult] | Any:
    """Scan images: ``list[ScanResult]`` in memory, or a resumable run into ``out``.

    ``detector``: a bundle folder, a loaded ``Detector``, ``"builtin"`` (the real-image
    detector shipped in the package, what ``synthtrace scan`` uses) or None (provenance and
    pixel signals only). Without ``out``: every file scanned in this process (``engine="local"`` only).
    With ``out``: results go to partitioned Parquet (and, with ``db``, the case store),
    files already scanned with the same detector and options are skipped, and a
    ``RunSummary`` is returned; ``engine="ray"`` spreads the work over a Ray cluster
    (``address``, ``workers``; docs/scale.md). ``options`` or ScanOptions fields as
    keywords (``operating_point="fpr_0.05"``, ``watermarks=False``) choose what is computed.
    """
    if engine not in ENGINES:
        raise ConfigError(f"engine {engine!r}: expected one of {', '.join(ENGINES)}")
    if options is not None and option_fields:
        raise ConfigError(f"pass either options= or option keywords, not both (got {sorted(option_fields)})")
    if options is None:
        valid = [f.name for f in fields(ScanOptions)]
        unknown = sorted(set(option_fields) - set(valid))
        if unknown:
            raise ConfigError(f"unknown scan option(s) {unknown}; valid ones: {valid}")
        options = ScanOptions(**option_fields)
    if isinstance(detector, (str, os.PathLike)) and os.fspath(detector).lower() == "none":
        detector = None
    if out is None:
        if engine != "local" or db is not None:
            raise ConfigError(f"engine={engine!r}{' with db=' if db else ''} writes its results to a folder: pass out= "
                              "(read them back with synthtrace.scale.read_results)")
        return scan_paths(paths, detector, options, recursive=recursive, run=run)
    # pyarrow and (for engine="ray") Ray: the optional 'ray' extra, imported when a run writes Parquet.

    if engine == "ray":
        _import_ray()  # say how to install it before anything is listed or drawn
    with rate_progress(enabled=progress) as (start, advance):
        return scan_to_parquet(paths, out, detector, options, engine=engine, address=address, workers=workers,
                               shard_size=shard_size or DEFAULT_SHARD_SIZE, db=db, recursive=recursive,
                               on_start=start, on_shard=lambda s: advance(int(s["n"])))


def train(manifest: PathLike | Manifest, out: PathLike, *, backbone: str = "cnn-small", progress: bool = False,
          log: Callable[[str], None] | None = None, **settings: Any) -> DetectorBundle:
    """Train a detector on a manifest's train split, calibrate it on its val split, save the
    bundle to ``out`` and return it (``settings``: see ``synthtrace.training.train.train_detector``)."""
    return train_detector(manifest, out, backbone=backbone, progress=progress, log=log, **settings)


def evaluate(detector: DetectorBundle | PathLike, manifest: PathLike | Manifest, *, split: str | None = "test",
             operating_point: str = "0.5", n_boot: int = 1000, seed: int = 0, progress: bool = False) -> dict[str, Any]:
    """Detection metrics (ROC AUC with bootstrap CIs, TPR at FPR, ECE, per source) of ``detector`` on ``split``."""
    return evaluate_detector(detector, manifest, split=split, operating_point=operating_point, n_boot=n_boot, seed=seed,
                             progress=progress)


def discover(images: PathLike | Sequence[PathLike], known: PathLike, out: PathLike, *,
             features: PathLike = "fingerprint", settings: DiscoverySettings = DiscoverySettings(),
             progress: bool = False) -> Any:
    """Group ``images`` by generator against the ``known`` manifest; writes the run folder ``out``
    (clusters.json/.csv, index.html) and returns the fitted discovery. The default settings
    scale k and the minimum cluster size with the collection (docs/discovery.md)."""
    return _discover(images, known, out, features=features, settings=settings, progress=progress)


__all__ = ["Detector", "DiscoverySettings", "Localization", "LocalizeSettings", "Precision", "RunOptions",
           "ScanOptions", "ScanResult", "attribute", "discover", "evaluate", "fit_attribution",
           "localize", "scan", "train"]
