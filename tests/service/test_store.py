"""The case store on SQLite and PostgreSQL: atomic, idempotent per (job, item), filters, notes, deletes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from synthtrace.records import Detection, Evidence, ImageRecord, ScanResult, Verdict
from synthtrace.store import NewItem, ScanFilter, Store


def _result(i: int, label: str = "uncertain", *, detector: bool = False, prompt: str = "x") -> ScanResult:
    rec = ImageRecord(path=f"/spool/{i}", sha256=f"{i:064x}", format="PNG", width=8, height=8, mode="RGB", file_size=100 + i)
    ev = (
        Evidence(source="params", name="a1111_parameters", direction="generated", strength=0.9, reliability=0.5,
                 explanation="prompt found", details={"prompt": prompt, "nan": float("nan"), "tuple": (1, 2)}),
        Evidence(source="spectrum", name="periodic_peaks", strength=0.1, reliability=0.2, explanation="flat\x00"),
    )
    det = Detection(score=1.5, probability=0.8, decision="fake", threshold=0.0, detector="cnn") if detector else None
    return ScanResult(path=rec.path, record=rec, evidence=ev, detection=det,
                      verdict=Verdict(label=label, summary="s", reasons=("r1",), contradictions=(), score=0.4))


def test_sqlite_is_in_wal_mode(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_record_and_read_back(db_url):
    store = Store(db_url)
    job = store.create_job([NewItem("a.png", "/spool/0", spooled=True), NewItem("b.png", "/spool/1")], {"signals": True})
    assert [p[0] for p in store.pending_items(job)] == [0, 1]
    sid = store.record_scan(job, 0, "a.png", _result(0, prompt="<b>bold</b>"), artifacts={"thumbnail": ("image/jpeg", b"\xff\xd8")})
    d = store.get_scan(sid)
    assert d["name"] == "a.png" and d["result"]["path"] == "a.png" and d["result"]["record"]["path"] == "a.png"
    assert d["verdict"]["label"] == "uncertain" and d["verdict"]["reasons"] == ["r1"]
    ev = d["result"]["evidence"]
    assert ev[0]["details"]["prompt"] == "<b>bold</b>" and ev[0]["details"]["nan"] is None and ev[0]["details"]["tuple"] == [1, 2]
    assert ev[1]["explanation"] == "flat"  # NUL removed: PostgreSQL text refuses it
    assert d["artifacts"] == ["thumbnail"] and store.get_artifact(sid, "thumbnail") == ("image/jpeg", b"\xff\xd8")
    assert [p[0] for p in store.pending_items(job)] == [1]
    assert store.integrity_problems() == []
    counts = store.counts()
    assert counts["scans"] == 1 and counts["evidence"] == 2 and counts["verdicts"] == 1 and counts["files"] == 1


def test_record_is_idempotent_per_job_item(db_url):
    store = Store(db_url)
    job = store.create_job([NewItem("a.png", "/x")], {})
    first = store.record_scan(job, 0, "a.png", _result(0))
    again = store.record_scan(job, 0, "a.png", _result(0))
    assert first == again
    assert store.counts()["scans"] == 1 and store.counts()["evidence"] == 2
    # A second store on the same database (a restarted server) sees the same.
    other = Store(db_url)
    assert other.record_scan(job, 0, "a.png", _result(0)) == first
    assert other.counts()["scans"] == 1


def test_failed_transaction_leaves_nothing(db_url):
    store = Store(db_url)
    job = store.create_job([NewItem("a.png", "/x")], {})
    # The last row of the transaction violates NOT NULL: the scan, its evidence,
    # verdict and file hash written before it in the same transaction must all go.
    with pytest.raises(Exception):
        store.record_scan(job, 0, "a.png", _result(0), artifacts={"spectrum": (None, b"x")})
    assert store.counts() == {"scans": 0, "evidence": 0, "verdicts": 0, "jobs": 1, "files": 0}
    assert [p[0] for p in store.pending_items(job)] == [0]
    assert store.record_scan(job, 0, "a.png", _result(0))  # and the item can still be stored


def test_list_filters_and_search(db_url):
    store = Store(db_url)
    job = store.create_job([NewItem(f"f{i}.png", "/x") for i in range(4)], {})
    ids = [store.record_scan(job, i, f"f{i}.png", _result(i, "likely_generated" if i % 2 else "uncertain", detector=i == 3),
                             detector="cnn" if i == 3 else None) for i in range(4)]
    rows, total = store.list_scans(limit=2)
    assert total == 4 and len(rows) == 2
    rows, total = store.list_scans(ScanFilter(verdict="likely_generated"))
    assert total == 2 and {r["name"] for r in rows} == {"f1.png", "f3.png"}
    rows, total = store.list_scans(ScanFilter(detector="cnn"))
    assert [r["id"] for r in rows] == [ids[3]] and rows[0]["probability"] == pytest.approx(0.8)
    assert store.list_scans(ScanFilter(q="f2"))[1] == 1
    assert store.list_scans(ScanFilter(q="%"))[1] == 0  # LIKE wildcards are literal
    now = datetime.now(timezone.utc)
    assert store.list_scans(ScanFilter(since=now - timedelta(hours=1)))[1] == 4
    assert store.list_scans(ScanFilter(until=now - timedelta(hours=1)))[1] == 0
    assert store.list_scans(ScanFilter(since=datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5)))))[1] == 0
    assert store.set_note(ids[0], "seen on social media, 3 March")
    assert store.list_scans(ScanFilter(q="social"))[1] == 1
    assert not store.set_note("nope", "x")


def test_delete_removes_rows_and_reports_orphan_file(db_url):
    store = Store(db_url)
    job = store.create_job([NewItem("a.png", "/x"), NewItem("b.png", "/y")], {})
    r = _result(0)
    a = store.record_scan(job, 0, "a.png", r, stored_path="/kept/aa", artifacts={"spectrum": ("image/png", b"p")})
    b = store.record_scan(job, 1, "b.png", r, stored_path="/kept/aa")  # same file content twice
    assert store.delete_scan(a) == (True, None)  # the file is still used by b
    assert store.delete_scan(b) == (True, "/kept/aa")
    assert store.delete_scan(b) == (False, None)
    assert store.counts() == {"scans": 0, "evidence": 0, "verdicts": 0, "jobs": 1, "files": 0}


def test_jobs_lifecycle(db_url):
    store = Store(db_url)
    job = store.create_job([NewItem("a", "/a"), NewItem("b", "/b")], {"figures": False})
    assert store.unfinished_jobs() == [job]
    store.set_job_status(job, "running")
    store.record_scan(job, 1, "b", _result(1))
    j = store.get_job(job)
    assert (j["status"], j["total"], j["done"], j["progress"]) == ("running", 2, 1, 0.5)
    store.set_job_status(job, "done")
    assert store.unfinished_jobs() == [] and store.get_job(job)["finished_at"] is not None
    assert store.get_job("missing") is None
