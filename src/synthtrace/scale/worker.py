"""One shard at a time: fetch, hash, skip what is done, ``scan_file``, write.

The same class runs in a Ray Data actor (``map_batches``; the detector is loaded
once in ``__init__``, not per batch) and in-process for ``engine="local"``, so
both engines produce the same rows. Writes go to the database first and Parquet
last: a Parquet file is what a rerun takes as "done", so it must never exist
before the rows it stands for are in the database.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from synthtrace.errors import SynthtraceError
from synthtrace.records import ScanResult
from synthtrace.scale.inputs import fetch_bytes
from synthtrace.scale.journal import POISON_DEATHS, SHARD_DEATHS, UNREADABLE_DEATHS, ShardJournal
from synthtrace.scale.parquet_sink import ParquetSink
from synthtrace.scale.schema import (
    NO_DETECTOR,
    EncodedResult,
    failure_row,
    failure_stage,
    result_key,
    scan_row,
    utcnow,
)
from synthtrace.scale.store_sink import StoreSink
from synthtrace.tasks.scan import ScanOptions, scan_file

if TYPE_CHECKING:
    from synthtrace.detector import DetectorBundle


@dataclass(frozen=True)
class ShardPlan:
    """What every worker needs to know; picklable, sent once per actor."""

    out: str
    partition: str
    detector_id: str
    settings: str
    options: ScanOptions = field(default_factory=ScanOptions)
    detector: Any = None  # bundle folder (str) or a loaded DetectorBundle
    db: str | None = None
    version: str = ""
    threads: int | None = 1  # torch threads per worker: one core each, workers are the parallelism
    journal: str | None = None  # folder of the shard logs that name a file killing its worker (Ray only)


def encode_shard(items: list[tuple[str, list[str]]]) -> str:
    """A shard row's payload: (path, keys already written for it) pairs as JSON."""
    return json.dumps(items, separators=(",", ":"))


class ShardScanner:
    def __init__(self, plan: ShardPlan) -> None:
        self.plan = plan
        self.detector = _load_detector(plan.detector)
        if plan.threads and self.detector is not None:  # without a detector torch is not even imported
            import torch

            torch.set_num_threads(plan.threads)
        self.parquet = ParquetSink(plan.out)
        self.db = None
        if plan.db:
            self.db = StoreSink(plan.db)
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        """Ray Data batch of shard rows → one summary row per shard."""
        summaries = [self.scan_shard(json.loads(str(payload))) for payload in batch["items"]]
        return {k: [s[k] for s in summaries] for k in SUMMARY_FIELDS}

    def scan_shard(self, items: list[list]) -> dict[str, Any]:
        journal = ShardJournal(self.plan.journal, self.plan.partition, [path for path, _ in items])
        try:
            return self._scan_shard(items, journal)
        finally:
            journal.close()  # an exception (the output not writable) must not leak a descriptor per shard

    def _scan_shard(self, items: list[list], journal: ShardJournal) -> dict[str, Any]:
        p = self.plan
        scans, failures, db_items = [], [], []
        skipped = 0
        t_read = t_scan = 0.0
        cpu0 = time.process_time()
        past = journal.past()
        give_up = len(past.elsewhere) >= SHARD_DEATHS
        journal.begin()
        for i, (path, done_keys) in enumerate(items):
            at = utcnow()
            t0 = time.perf_counter()
            died = past.died_at(i)
            journal.file(i)
            reason = None
            if give_up or len(died) >= UNREADABLE_DEATHS:
                if done_keys:  # a row is there already; without the bytes there is no new key to write
                    skipped += 1
                    continue
                data, stage, reason = None, "worker", _death_reason(past, died, read=False)
            else:
                try:
                    data = fetch_bytes(path)
                except SynthtraceError as exc:
                    data, stage, reason = None, "read", f"{type(exc).__name__}: {exc}"
            sha = hashlib.sha256(data).hexdigest() if data is not None else None
            key = result_key(sha, p.detector_id, p.settings)
            t1 = time.perf_counter()
            t_read += t1 - t0
            if key in done_keys:
                skipped += 1
                continue
            if data is not None and len(died) >= POISON_DEATHS:
                # Read and hashed, so the row has the file's real key: a rerun skips it unless its bytes change.
                stage, reason = "worker", _death_reason(past, died, read=True)
            common = dict(key=key, detector_id=p.detector_id, settings=p.settings, version=p.version,
                          worker=self.worker, at=at)
            if reason is not None:
                failures.append(failure_row(path, sha256=sha, stage=stage, reason=reason, evidence_json=None,
                                            read_s=t1 - t0, scan_s=0.0, **common))
                failed = ScanResult(path=path, error=reason)
                db_items.append((key, failed, EncodedResult.of(failed)))
                continue
            try:
                result = scan_file(path, self.detector, p.options, data=data)
            except Exception as exc:  # a bug in one reader must not stop a million-image run; the row says what broke
                result = ScanResult(path=path, error=f"scan failed: {type(exc).__name__}: {exc}")
            t2 = time.perf_counter()
            t_scan += t2 - t1
            enc = EncodedResult.of(result)
            if result.ok:
                scans.append(scan_row(result, sha256=sha, read_s=t1 - t0, scan_s=t2 - t1, encoded=enc, **common))
            else:
                stage = "scan" if result.error.startswith("scan failed") else failure_stage(result)
                failures.append(failure_row(path, sha256=sha, stage=stage, reason=result.error,
                                            evidence_json=enc.evidence_json, read_s=t1 - t0, scan_s=t2 - t1, **common))
            db_items.append((key, result, enc))
        t3 = time.perf_counter()
        journal.writing()
        if self.db is not None:
            self.db.write(db_items, p.detector_id)
        files = [f for f in (self.parquet.write("failures", p.partition, failures),
                             self.parquet.write("scans", p.partition, scans)) if f]
        journal.finish()
        return {
            "n": len(items), "scanned": len(scans), "failed": len(failures), "skipped": skipped,
            "read_s": t_read, "scan_s": t_scan, "write_s": time.perf_counter() - t3,
            # CPU seconds of this process for the shard: against the wall seconds above, what other
            # processes on the same cores took from this worker.
            "cpu_s": time.process_time() - cpu0,
            "files": json.dumps(files), "worker": self.worker,
        }

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


def _death_reason(past, died: list[int], *, read: bool) -> str:
    if died:
        attempts = ", ".join(map(str, died))
        return (f"worker died while scanning this file (attempts {attempts} of its shard; a crash in a decoder, or "
                f"out of memory); {'it was not scanned again' if read else 'it was not read again'}. "
                "Scan the file alone (synthtrace scan FILE) to see why")
    attempts = ", ".join(map(str, past.elsewhere))
    return (f"worker died {len(past.elsewhere)} times while starting or writing this file's shard (attempts "
            f"{attempts}); its files were not scanned again. Rerun to retry them")


SUMMARY_FIELDS = ("n", "scanned", "failed", "skipped", "read_s", "scan_s", "write_s", "cpu_s", "files", "worker")


def _load_detector(detector: Any):
    """The bundle (with its attribution head, if any), loaded once per actor as ``scan_paths`` loads it."""
    if not isinstance(detector, (str, os.PathLike)):  # None or a loaded bundle
        return detector
    from synthtrace.detector import DetectorBundle

    return DetectorBundle.from_pretrained(detector)


def detector_id(detector: Any) -> str:
    """A stable id of a detector: its name and a hash of what it computes with.

    A folder is hashed file by file (config, weights, an attribution head), so a
    re-trained bundle in the same place gets a new id and its results a new key.
    """
    if detector is None:
        return NO_DETECTOR

    h = hashlib.sha256()
    if not isinstance(detector, (str, os.PathLike)):  # a loaded bundle
        h.update(json.dumps(detector.config(), sort_keys=True, default=str).encode())
        state = detector.model.state_dict() if detector.model is not None else {}
        for k in sorted(state):
            v = state[k]
            h.update(k.encode())
            h.update(v.detach().cpu().numpy().tobytes() if hasattr(v, "detach") else _np_bytes(v))
        return f"{detector.name}@{h.hexdigest()[:12]}"
    d = bundle_dir(detector)
    if not (d / "config.json").is_file():
        raise SynthtraceError(f"{d}: not a detector bundle (no config.json). Train one with `synthtrace train` or check the path.")
    for f in sorted(p for p in d.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(d)).encode())
        h.update(f.read_bytes())
    name = json.loads((d / "config.json").read_text()).get("training", {}).get("name") or d.name
    return f"{name}@{h.hexdigest()[:12]}"


def normalize_detector(detector: Any) -> Any:
    """None for no detector (``None`` or ``"none"``, as the CLI spells it); else as given."""
    if isinstance(detector, (str, os.PathLike)) and os.fspath(detector).lower() == "none":
        return None
    return detector


def bundle_dir(detector: str | os.PathLike[str]) -> Path:
    """The folder a detector name stands for: ``"builtin"`` is the bundle shipped in the package."""
    from synthtrace.detector import BUILTIN, BUILTIN_DIR

    return BUILTIN_DIR if os.fspath(detector) == BUILTIN else Path(detector)


def _np_bytes(v: Any) -> bytes:
    return np.asarray(v).tobytes()
