"""``synthtrace.scan``: one entry for an in-memory scan and a scaled-out one."""

from __future__ import annotations

import os
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import fields
from typing import Any

from synthtrace.errors import ConfigError
from synthtrace.scan import ScanOptions


def scan(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    detector: Any = None,
    *,
    engine: str = "local",
    out: str | os.PathLike[str] | None = None,
    db: str | None = None,
    address: str | None = None,
    workers: int | None = None,
    shard_size: int | None = None,
    options: ScanOptions | None = None,
    progress: bool = False,
    recursive: bool = True,
    **option_fields: Any,
):
    """Scan images: ``list[ScanResult]`` in memory, or a resumable run into ``out``.

    Without ``out``: ``scan_paths`` in this process (``engine="local"`` only). With
    ``out``: results go to partitioned Parquet (and, with ``db``, the case store),
    files already scanned with the same detector and options are skipped, and a
    ``RunSummary`` is returned; ``engine="ray"`` spreads the work over a Ray cluster
    (``address``, ``workers``). ``options`` or ScanOptions fields as keywords
    (``operating_point="fpr_0.05"``, ``watermarks=False``) choose what is computed;
    ``progress=True`` draws a bar with images/s on stderr.
    """
    from synthtrace.scale.run import DEFAULT_SHARD_SIZE, ENGINES, _import_ray, scan_to_parquet

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
    from synthtrace.scale.worker import normalize_detector

    detector = normalize_detector(detector)
    if out is None:
        if engine != "local" or db is not None:
            raise ConfigError(f"engine={engine!r}{' with db=' if db else ''} writes its results to a folder: pass out= "
                              "(read them back with synthtrace.scale.read_results)")
        from synthtrace.scan import scan_paths

        return scan_paths(paths, detector, options, recursive=recursive)
    if engine == "ray":
        _import_ray()  # say how to install it before anything is listed or drawn
    with rate_progress(enabled=progress) as (start, advance):
        return scan_to_parquet(paths, out, detector, options, engine=engine, address=address, workers=workers,
                               shard_size=shard_size or DEFAULT_SHARD_SIZE, db=db, recursive=recursive,
                               on_start=start, on_shard=lambda s: advance(int(s["n"])))


@contextmanager
def rate_progress(*, enabled: bool = True, label: str = "scanning"):
    """Yield (start(total), advance(n)): a bar on stderr with images/s, or no-ops."""
    if not enabled:
        yield (lambda total: None), (lambda n: None)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task) -> Text:
            return Text(f"{task.speed:.0f} images/s" if task.speed else "… images/s")

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), Rate(), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=None)
        yield (lambda total: bar.update(task, total=total)), (lambda n: bar.update(task, advance=n))
