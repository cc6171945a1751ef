"""A batch job killed with SIGKILL halfway: no completed scan lost, no half-written row,
and a restart finishes the rest without duplicates (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from synthtrace.service.jobs import JobRunner
from synthtrace.store import NewItem, Store

from .conftest import jpeg_bytes

N_ITEMS = 8
KILL_AT = N_ITEMS // 2

# The worker pauses right after the scan rows of an item are flushed but before
# the commit, and says so: the parent kills it at exactly that point, so the kill
# lands inside an open transaction holding a half-written scan.
WORKER = textwrap.dedent("""
    import sys, time
    from sqlalchemy import event
    from sqlalchemy.orm import Session
    from synthtrace.service.jobs import JobRunner
    from synthtrace.store import Scan, Store

    url, job_id, pause = sys.argv[1], sys.argv[2], float(sys.argv[3])

    @event.listens_for(Session, "after_flush")
    def _pause(session, ctx):
        for obj in session.new:
            if isinstance(obj, Scan):
                print(f"flushed {obj.item_position}", flush=True)
                time.sleep(pause)

    def on_item(job, position, scan_id):
        print(f"committed {position} {scan_id}", flush=True)

    JobRunner(Store(url), on_item=on_item).run_job(job_id)
    print("finished", flush=True)
""")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_mid_batch_then_resume(db_url, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    items = []
    for i in range(N_ITEMS):
        p = images / f"img{i}.jpg"
        p.write_bytes(jpeg_bytes(size=64, seed=i))
        items.append(NewItem(p.name, str(p)))
    store = Store(db_url)
    job = store.create_job(items, {"provenance": True, "signals": True, "watermarks": False})
    script = tmp_path / "worker.py"
    script.write_text(WORKER)

    proc = subprocess.Popen([sys.executable, str(script), db_url, job, "0.3"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    committed: dict[int, str] = {}
    killed_in = None
    try:
        for line in proc.stdout:
            word, *rest = line.split()
            if word == "committed":
                committed[int(rest[0])] = rest[1]
            elif word == "flushed" and int(rest[0]) == KILL_AT:
                os.kill(proc.pid, signal.SIGKILL)  # inside the open transaction of item KILL_AT
                killed_in = KILL_AT
                break
            elif word == "finished":
                break
    finally:
        proc.kill()
        proc.wait(30)
        stderr = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
    assert killed_in == KILL_AT, f"worker ended before the kill point; stderr:\n{stderr}"
    assert proc.returncode == -signal.SIGKILL
    assert sorted(committed) == list(range(KILL_AT))

    after_kill = Store(db_url)
    # Every scan committed before the kill is there; the one being written is not, not even in part.
    counts = after_kill.counts()
    assert counts["scans"] == KILL_AT and counts["verdicts"] == KILL_AT
    for scan_id in committed.values():
        assert after_kill.get_scan(scan_id) is not None
    assert after_kill.integrity_problems() == []
    assert [p[0] for p in after_kill.pending_items(job)] == list(range(KILL_AT, N_ITEMS))
    assert after_kill.unfinished_jobs() == [job]  # left "running": picked up at the next start

    # Restart: the runner resumes unfinished jobs and scans only what is missing.
    runner = JobRunner(after_kill)
    assert runner.resume_unfinished() == [job]
    runner.run_job(job)
    j = after_kill.get_job(job)
    assert j["status"] == "done" and j["done"] == N_ITEMS and j["failed"] == 0
    scans, total = after_kill.list_scans(limit=100)
    assert total == N_ITEMS
    assert sorted(s["name"] for s in scans) == sorted(f"img{i}.jpg" for i in range(N_ITEMS))  # no duplicates
    assert {s["id"] for s in scans} >= set(committed.values())
    assert after_kill.integrity_problems() == []
    runner.run_job(job)  # running it again writes nothing
    assert after_kill.counts()["scans"] == N_ITEMS
