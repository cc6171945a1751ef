"""Scan jobs: every request's files become a job; small ones run inside the request,
larger ones on a background thread with progress in the store.

A job is resumable: its items are in the store before any scanning starts, each
finished item is committed with its scan (one transaction), and a restarted
service picks up every job still "queued" or "running" and scans only the items
without a stored scan.
"""

from __future__ import annotations

import io
import logging
import os
import queue
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from PIL import Image

from synthtrace.detector import DetectorBundle
from synthtrace.io.images import load_image
from synthtrace.records import ScanResult
from synthtrace.signals.figures import spectrum_figure
from synthtrace.store import Store
from synthtrace.tasks.scan import ScanOptions, scan_file

log = logging.getLogger("synthtrace.service")

_FIGURE_LOCK = threading.Lock()  # matplotlib's pyplot state is not thread-safe
OPTION_FIELDS = ("operating_point", "max_pixels", "provenance", "signals", "watermarks")


def options_from_dict(d: Mapping[str, Any]) -> ScanOptions:
    return ScanOptions(**{k: d[k] for k in OPTION_FIELDS if k in d})


class JobRunner:
    """Runs jobs from the store: inline (``run_job``) or on worker threads (``submit``)."""

    def __init__(
        self,
        store: Store,
        detectors: Mapping[str, DetectorBundle] | None = None,
        *,
        workers: int = 1,
        on_item: Callable[[str, int, str], None] | None = None,
    ) -> None:
        self.store = store
        self.detectors = dict(detectors or {})
        self.on_item = on_item  # (job_id, position, scan_id) after each commit
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._workers = max(1, workers)
        self._active: set[str] = set()
        self._lock = threading.Lock()
        self._detector_lock = threading.Lock()  # torch modules are not re-entrant across threads

    # -------------------------------------------------------------- threads
    def start(self) -> None:
        for i in range(self._workers):
            t = threading.Thread(target=self._loop, name=f"synthtrace-job-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()

    def submit(self, job_id: str) -> None:
        self._queue.put(job_id)

    def resume_unfinished(self) -> list[str]:
        """Queue every job a previous run left unfinished; returns their ids."""
        ids = self.store.unfinished_jobs()
        for job_id in ids:
            self.submit(job_id)
        return ids

    def _loop(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            try:
                self.run_job(job_id)
            except Exception:  # noqa: BLE001 - a worker must survive any one job
                log.exception("job %s failed", job_id)

    # ------------------------------------------------------------------ run
    def run_job(self, job_id: str) -> None:
        """Scan every item of the job that has no stored scan yet; safe to call again."""
        with self._lock:
            if job_id in self._active:
                return  # already running on another thread
            self._active.add(job_id)
        try:
            opts, pending = self.store.start_job(job_id)
            options = options_from_dict(opts)
            det_name = opts.get("detector")
            detector = self.detectors.get(det_name) if det_name else None
            if det_name and detector is None:
                self.store.set_job_status(job_id, "failed", error=f"detector {det_name!r} is not loaded by this server")
                return
            for position, name, source, spooled, kept in pending:
                result = self._scan_one(source, name, detector, options)
                artifacts = _figures(source, result, options) if opts.get("figures") else None
                stored = source if kept else None  # only the service's own copies, never a server-side path
                scan_id = self.store.record_scan(job_id, position, name, result, stored_path=stored, artifacts=artifacts,
                                                 detector=det_name)
                if spooled and not opts.get("keep_files"):
                    _unlink(source)
                if self.on_item:
                    self.on_item(job_id, position, scan_id)
            self.store.set_job_status(job_id, "done")
        except Exception as exc:
            self.store.set_job_status(job_id, "failed", error=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            with self._lock:
                self._active.discard(job_id)

    def _scan_one(self, source: str, name: str, detector: DetectorBundle | None, options: ScanOptions) -> ScanResult:
        if not Path(source).exists():
            return ScanResult(path=name, error="the file is gone (a spooled upload removed before its scan); upload it again")
        if detector is None:
            return scan_file(source, None, options)
        with self._detector_lock:
            return scan_file(source, detector, options)


def _figures(source: str, result: ScanResult, options: ScanOptions) -> dict[str, tuple[str, bytes]]:
    """Thumbnail and spectrum figure, from the bytes just scanned (hash checked)."""
    if not result.ok or result.record is None:
        return {}
    out: dict[str, tuple[str, bytes]] = {}
    try:
        loaded = load_image(source, max_pixels=options.max_pixels)
    except Exception:  # noqa: BLE001 - pictures are optional
        return out
    if loaded.record.sha256 != result.record.sha256:
        return out
    im = Image.fromarray(loaded.rgb)
    im.thumbnail((512, 512), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=85)
    out["thumbnail"] = ("image/jpeg", buf.getvalue())
    try:
        with _FIGURE_LOCK, tempfile.TemporaryDirectory(prefix="synthtrace-fig-") as tmp:
            out["spectrum"] = ("image/png", spectrum_figure(loaded.rgb, Path(tmp) / "s.png").read_bytes())
    except Exception as exc:  # noqa: BLE001 - e.g. matplotlib missing, image too small
        log.info("spectrum figure skipped for %s: %s", source, exc)
    return out


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
