"""Run a scan into an output folder, in-process or on Ray, resumably.

The driver lists the inputs, reads which (path, key) pairs the output already
holds, and cuts the sorted list into shards of ``shard_size`` paths (smaller ones
at the end of a run on several workers, see ``cut_shards``). Each shard is
one Ray Data block handled by one ``map_batches`` call of a ``ShardScanner`` actor
(or, for ``engine="local"``, by the same class in this process). Ray restarts a
killed actor and retries its shard; the shard's files have the same names on every
attempt, so nothing is lost and nothing is written twice. After the run, any input
still without a row gets a failure row (stage ``worker``), so every input has
exactly one.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import synthtrace
from synthtrace.errors import ConfigError
from synthtrace.scale.inputs import expand_inputs
from synthtrace.scale.journal import journal_dir, remove_empty, retry_limit
from synthtrace.scale.parquet_sink import ParquetSink
from synthtrace.scale.schema import failure_row, partition, result_key, settings_hash, utcnow
from synthtrace.scale.worker import (
    SUMMARY_FIELDS,
    ShardPlan,
    ShardScanner,
    detector_id,
    encode_shard,
    normalize_detector,
)
from synthtrace.tasks.scan import ScanOptions

ENGINES = ("local", "ray")
DEFAULT_SHARD_SIZE = 256
RAY_MISSING = ("--engine ray needs Ray, which is an optional extra. Install it with: pip install 'synthtrace[ray]' "
               "(Ray Data, pyarrow and fsspec), or use --engine local.")
PYARROW_MISSING = ("Writing Parquet results needs pyarrow. Install it with: pip install 'synthtrace[ray]' "
                   "(or pip install pyarrow).")


@dataclass(frozen=True)
class RunSummary:
    """What one run did. ``images_per_second`` counts the files scanned or failed in
    this run over the time after set-up (listing, index, Ray start)."""

    out: str
    engine: str
    workers: int
    inputs: int
    scanned: int
    failed: int
    skipped: int
    missing: int  # inputs that had no row after the run; each got a 'worker' failure row
    seconds: float
    setup_seconds: float
    detector_id: str
    settings_hash: str
    partition: str
    stage_seconds: dict[str, float] = field(default_factory=dict)  # summed over workers: read, scan, write, cpu

    @property
    def processed(self) -> int:
        return self.scanned + self.failed

    @property
    def images_per_second(self) -> float:
        t = self.seconds - self.setup_seconds
        return self.processed / t if t > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "processed": self.processed, "images_per_second": self.images_per_second}


def scan_to_parquet(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    detector: Any = None,
    options: ScanOptions = ScanOptions(),
    *,
    engine: str = "local",
    address: str | None = None,
    workers: int | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    db: str | None = None,
    recursive: bool = True,
    on_shard: Callable[[dict[str, Any]], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> RunSummary:
    """Scan ``paths`` (folders, manifest CSVs, files, fsspec URLs) into ``out`` as Parquet.

    ``engine="ray"`` runs ``workers`` actors (default: one per CPU of the cluster) on
    the cluster at ``address`` ("auto", "ray://host:10001"; default: the Ray already
    initialised in this process, or a new local one). ``db`` (a case-store URL,
    ``postgresql://...`` or ``sqlite:///...``) also stores every result there.
    ``on_start(total)`` is called once the inputs are listed and ``on_shard(summary)``
    as each shard finishes (for a progress bar).
    """
    if engine not in ENGINES:
        raise ConfigError(f"engine {engine!r}: expected one of {', '.join(ENGINES)}")
    if shard_size < 1:
        raise ConfigError(f"shard_size {shard_size}: expected a positive number of images per shard")
    if workers is not None and workers < 1:
        raise ConfigError(f"workers {workers}: expected at least 1")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ConfigError(PYARROW_MISSING) from None
    if engine == "ray":
        _import_ray()
    t_start = time.perf_counter()
    detector = normalize_detector(detector)
    det_id = detector_id(detector)
    settings = settings_hash(options)
    part = partition(det_id, settings)
    inputs = expand_inputs(paths, recursive=recursive)
    sink = ParquetSink(out)
    done = sink.done_index(part)
    items = [[p, sorted(done.get(p, ()))] for p in inputs]
    plan = ShardPlan(out=os.fspath(out), partition=part, detector_id=det_id, settings=settings, options=options,
                     detector=os.fspath(detector) if isinstance(detector, (str, os.PathLike)) else detector,
                     db=db, version=synthtrace.__version__, threads=1 if engine == "ray" else None,
                     # In this process a crash ends the run anyway; on Ray a retry must learn which file killed its worker.
                     journal=journal_dir(os.fspath(out)) if engine == "ray" else None)
    totals = {k: 0.0 for k in ("scanned", "failed", "skipped", "read_s", "scan_s", "write_s", "cpu_s")}
    if on_start:
        on_start(len(inputs))

    def collect(summary: dict[str, Any]) -> None:
        for k in totals:
            totals[k] += float(summary[k])
        if on_shard:
            on_shard(summary)

    if engine == "local":
        n_workers = 1
        setup = time.perf_counter() - t_start
        scanner = ShardScanner(plan)
        try:
            for a, b in cut_shards(len(items), shard_size, 1):
                collect(scanner.scan_shard(items[a:b]))
        finally:
            scanner.close()
    else:
        n_workers, setup = _run_ray(plan, items, shard_size, address=address, workers=workers, on_shard=collect,
                                    t_start=t_start, retries=retry_limit(shard_size))
        remove_empty(plan.journal)

    missing = _record_missing(sink, plan, inputs)
    sink.remove_partials(part)
    return RunSummary(
        out=os.fspath(out), engine=engine, workers=n_workers, inputs=len(inputs), scanned=int(totals["scanned"]),
        failed=int(totals["failed"]) + missing, skipped=int(totals["skipped"]), missing=missing,
        seconds=time.perf_counter() - t_start, setup_seconds=setup, detector_id=det_id, settings_hash=settings,
        partition=part, stage_seconds={k[:-2]: totals[k] for k in ("read_s", "scan_s", "write_s", "cpu_s")},
    )


def cut_shards(n: int, size: int, workers: int) -> list[tuple[int, int]]:
    """The [start, end) index ranges of the shards of ``n`` inputs for ``workers`` workers.

    Shards hold ``size`` inputs, except near the end of a run on several workers: a
    run ends when its last shard does, and a worker that takes a full shard as the
    others run out of work leaves them idle for up to that shard's time. There each
    shard takes a 1/(2 x workers) share of the inputs left (guided self-scheduling),
    down to ``size // 8``, so the workers finish within a small shard of each other.
    """
    smallest = size if workers <= 1 else max(1, size // 8)
    bounds, start = [], 0
    while start < n:
        k = min(size, max(smallest, -(-(n - start) // (2 * workers))))
        bounds.append((start, min(n, start + k)))
        start += k
    return bounds


def _import_ray():
    try:
        import ray  # optional extra 'ray'
        import ray.data  # noqa: F401
    except ImportError:
        raise ConfigError(RAY_MISSING) from None
    return ray


def _run_ray(plan: ShardPlan, items: list, shard_size: int, *, address: str | None, workers: int | None,
             on_shard: Callable[[dict[str, Any]], None], t_start: float, retries: int) -> tuple[int, float]:
    ray = _import_ray()
    started = False
    if not ray.is_initialized():
        # Ray reports usage statistics over the network by default; the library never calls home.
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(address=address, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
        started = True
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # the driver draws its own, in images/s
        ctx.print_on_execution_start = False
        n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        setup = time.perf_counter() - t_start
        if not items:
            return n, setup
        shards = [items[a:b] for a, b in cut_shards(len(items), shard_size, n)]
        # One block per shard: a retry re-runs exactly that shard, with the same files.
        ds = ray.data.from_items([{"items": encode_shard(s)} for s in shards], override_num_blocks=len(shards))
        with warnings.catch_warnings():
            # Retry limits have no named parameter yet (Ray 2.60); the extra pins Ray below the
            # release that drops these keywords.
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated", category=Warning)
            ds = ds.map_batches(
                ShardScanner, fn_constructor_kwargs={"plan": plan}, batch_size=1, batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=n), num_cpus=1,
                # The shard journal ends every shard before this many deaths (see journal.retry_limit).
                max_restarts=-1, max_task_retries=retries,
            )
        for row in ds.iter_rows():
            on_shard({k: row[k] for k in SUMMARY_FIELDS})
        return n, setup
    finally:
        if started:
            ray.shutdown()


def _record_missing(sink: ParquetSink, plan: ShardPlan, inputs: list[str]) -> int:
    """Give every input left without a row a failure row, so none is silently lost."""
    done = sink.done_index(plan.partition)
    missing = [p for p in inputs if p not in done]
    if not missing:
        return 0
    at = utcnow()
    key = result_key(None, plan.detector_id, plan.settings)
    rows = [failure_row(p, key=key, sha256=None, stage="worker",
                        reason="no result after the run: no attempt of this file's shard wrote its rows (its worker "
                               "died, out of memory or in a decoder); rerun to retry, or scan the file alone to see why",
                        evidence_json=None, detector_id=plan.detector_id, settings=plan.settings, version=plan.version,
                        read_s=0.0, scan_s=0.0, worker="driver", at=at) for p in missing]
    sink.write("failures", plan.partition, rows)
    return len(missing)
