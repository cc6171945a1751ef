"""The case store: scans, evidence, verdicts, file hashes, notes, jobs (SQLAlchemy 2.0).

SQLite (WAL mode) in the data directory by default, PostgreSQL for a shared
store. Writes are atomic: a completed scan (its row, evidence, verdict, file
hash and the job item's state) is one transaction, so a crash leaves either the
whole scan or nothing. A scan is unique per (job, item): a job restarted after a
crash skips the items already stored and never writes one twice.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker

from synthtrace.records import ScanResult

SCHEMA_VERSION = 1
JOB_STATES = ("queued", "running", "done", "failed")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _id() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    pass


class Job(Base):
    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=_id)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    options: Mapped[dict] = mapped_column(JSON, default=dict)  # ScanOptions fields + detector name
    error: Mapped[str | None] = mapped_column(Text)
    items: Mapped[list[JobItem]] = relationship(back_populates="job", cascade="all, delete-orphan",
                                                order_by="JobItem.position")


class JobItem(Base):
    __tablename__ = "job_items"
    __table_args__ = (UniqueConstraint("job_id", "position", name="uq_job_item"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(Text)  # upload file name or server-side path, as given
    source_path: Mapped[str] = mapped_column(Text)  # where the bytes are read from
    spooled: Mapped[bool] = mapped_column(default=False)  # source_path is a spool copy to delete when done
    kept: Mapped[bool] = mapped_column(default=False)  # source_path is a kept upload (--keep-files), the service's own copy
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | done
    job: Mapped[Job] = relationship(back_populates="items")


class StoredFile(Base):
    """A file seen by the service, by content hash; the bytes only with --keep-files."""

    __tablename__ = "files"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    format: Mapped[str | None] = mapped_column(String(16))
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    stored_path: Mapped[str | None] = mapped_column(Text)


class Scan(Base):
    __tablename__ = "scans"
    __table_args__ = (UniqueConstraint("job_id", "item_position", name="uq_scan_job_item"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=_id)
    job_id: Mapped[str | None] = mapped_column(String(32), index=True)  # kept when the job row is gone
    item_position: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    name: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(ForeignKey("files.sha256"), index=True)
    ok: Mapped[bool] = mapped_column(default=True)
    error: Mapped[str | None] = mapped_column(Text)
    verdict_label: Mapped[str | None] = mapped_column(String(32), index=True)
    detector: Mapped[str | None] = mapped_column(String(200), index=True)
    probability: Mapped[float | None] = mapped_column(Float)
    result: Mapped[dict] = mapped_column(JSON)  # ScanResult.to_dict(), the exact scan output
    note: Mapped[str] = mapped_column(Text, default="")
    note_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    evidence: Mapped[list[EvidenceRow]] = relationship(back_populates="scan", cascade="all, delete-orphan",
                                                       order_by="EvidenceRow.position", passive_deletes=True)
    verdict: Mapped[VerdictRow | None] = relationship(back_populates="scan", cascade="all, delete-orphan",
                                                      passive_deletes=True)
    artifacts: Mapped[list[Artifact]] = relationship(cascade="all, delete-orphan", passive_deletes=True)


class EvidenceRow(Base):
    __tablename__ = "evidence"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scan_id: Mapped[str] = mapped_column(ForeignKey("scans.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    direction: Mapped[str] = mapped_column(String(16))
    strength: Mapped[float] = mapped_column(Float)
    reliability: Mapped[float] = mapped_column(Float)
    explanation: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    scan: Mapped[Scan] = relationship(back_populates="evidence")


class VerdictRow(Base):
    __tablename__ = "verdicts"
    scan_id: Mapped[str] = mapped_column(ForeignKey("scans.id", ondelete="CASCADE"), primary_key=True)
    label: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column(Float)
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    contradictions: Mapped[list] = mapped_column(JSON, default=list)
    scan: Mapped[Scan] = relationship(back_populates="verdict")


class Artifact(Base):
    """Small derived pictures (thumbnail, spectrum figure) so the UI needs no second decode."""

    __tablename__ = "artifacts"
    scan_id: Mapped[str] = mapped_column(ForeignKey("scans.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Meta(Base):
    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


@dataclass(frozen=True)
class NewItem:
    name: str
    source_path: str
    spooled: bool = False
    kept: bool = False  # never true for a server-side path: deleting a scan must not delete the user's file


@dataclass(frozen=True)
class ScanFilter:
    verdict: str | None = None
    detector: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None  # substring of the name, sha256 or note
    job_id: str | None = None


def normalize_url(url: str) -> str:
    """postgresql://… uses psycopg 3 (the 'postgres' extra), not SQLAlchemy's default psycopg2."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cur.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoint, never corrupt
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class Store:
    """Repository over the database; every public method is one transaction."""

    def __init__(self, url: str, *, create: bool = True, engine_kwargs: dict[str, Any] | None = None) -> None:
        self.url = normalize_url(url)
        kwargs = dict(engine_kwargs or {})
        if self.url.startswith("sqlite"):
            kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        if create:
            Base.metadata.create_all(self.engine)
            with self._session.begin() as s:
                if s.get(Meta, "schema_version") is None:
                    s.add(Meta(key="schema_version", value=str(SCHEMA_VERSION)))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    # ---------------------------------------------------------------- jobs
    def create_job(self, items: Sequence[NewItem], options: dict[str, Any]) -> str:
        with self._session.begin() as s:
            job = Job(options=options, status="queued")
            job.items = [JobItem(position=i, name=it.name, source_path=it.source_path, spooled=it.spooled, kept=it.kept)
                         for i, it in enumerate(items)]
            s.add(job)
            s.flush()
            return job.id

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        with self._session() as s:
            job = s.get(Job, job_id)
            if job is None:
                return None
            total = len(job.items)
            done = sum(1 for it in job.items if it.status == "done")
            scans = s.execute(select(Scan.id, Scan.item_position, Scan.ok).where(Scan.job_id == job_id)
                              .order_by(Scan.item_position)).all()
            return {
                "id": job.id, "status": job.status, "created_at": _utc(job.created_at), "finished_at": _utc(job.finished_at),
                "total": total, "done": done, "failed": sum(1 for r in scans if not r.ok),
                "progress": (done / total) if total else 1.0, "error": job.error,
                "options": job.options, "scan_ids": [r.id for r in scans],
            }

    def pending_items(self, job_id: str) -> list[tuple[int, str, str, bool, bool]]:
        """(position, name, source_path, spooled, kept) of the items without a stored scan."""
        with self._session() as s:
            return [tuple(r) for r in s.execute(_pending(job_id)).all()]

    def start_job(self, job_id: str) -> tuple[dict[str, Any], list[tuple[int, str, str, bool, bool]]]:
        """Mark the job running and return (options, pending items) in one transaction:
        a synchronous scan request pays for every round trip to the store."""
        with self._session.begin() as s:
            job = s.get(Job, job_id)
            if job is None:
                return {}, []
            job.status, job.error = "running", None
            return dict(job.options), [tuple(r) for r in s.execute(_pending(job_id)).all()]

    def set_job_status(self, job_id: str, status: str, error: str | None = None) -> None:
        if status not in JOB_STATES:
            raise ValueError(f"job status {status!r} is not one of {JOB_STATES}")
        with self._session.begin() as s:
            values: dict[str, Any] = {"status": status, "error": error}
            if status in ("done", "failed"):
                values["finished_at"] = _now()
            s.execute(update(Job).where(Job.id == job_id).values(**values))

    def unfinished_jobs(self) -> list[str]:
        with self._session() as s:
            return list(s.scalars(select(Job.id).where(Job.status.in_(("queued", "running")))
                                  .order_by(Job.created_at)))

    # --------------------------------------------------------------- scans
    def record_scan(
        self,
        job_id: str | None,
        position: int | None,
        name: str,
        result: ScanResult,
        *,
        stored_path: str | None = None,
        artifacts: dict[str, tuple[str, bytes]] | None = None,
        detector: str | None = None,
    ) -> str:
        """Store one completed scan in one transaction; returns its id.

        Idempotent per (job, position): if that item is already stored, the
        existing scan's id is returned and nothing is written.
        """
        if job_id is not None:
            existing = self._scan_for_item(job_id, position)
            if existing:
                return existing
        data = _jsonable(result.to_dict())
        data["path"] = name  # never the spool path: the name the user gave
        if data.get("record"):
            data["record"]["path"] = name
        rec = result.record
        verdict = result.verdict
        try:
            with self._session.begin() as s:
                if rec is not None:
                    f = s.get(StoredFile, rec.sha256)
                    if f is None:
                        s.add(StoredFile(sha256=rec.sha256, size=rec.file_size, format=rec.format, stored_path=stored_path))
                    elif stored_path and not f.stored_path:
                        f.stored_path = stored_path
                    s.flush()
                scan = Scan(
                    job_id=job_id, item_position=position, name=_text(name), sha256=rec.sha256 if rec else None,
                    ok=result.ok, error=_text(result.error), verdict_label=verdict.label if verdict is not None else None,
                    detector=(detector or result.detection.detector or None) if result.detection else None,
                    probability=float(result.detection.probability) if result.detection else None,
                    result=data,
                )
                scan.evidence = [
                    EvidenceRow(position=i, source=e.source, name=e.name, direction=e.direction,
                                strength=float(e.strength), reliability=float(e.reliability),
                                explanation=_text(e.explanation) or "", details=_jsonable(e.details), error=_text(e.error))
                    for i, e in enumerate(result.evidence)
                ]
                if verdict is not None:
                    vd = data.get("verdict") or {}
                    scan.verdict = VerdictRow(label=verdict.label, summary=_text(verdict.summary), score=vd.get("score"),
                                              reasons=vd.get("reasons", []), contradictions=vd.get("contradictions", []))
                scan.artifacts = [Artifact(kind=k, content_type=ct, data=b) for k, (ct, b) in (artifacts or {}).items()]
                s.add(scan)
                if job_id is not None:
                    s.execute(update(JobItem).where(JobItem.job_id == job_id, JobItem.position == position)
                              .values(status="done"))
                s.flush()
                return scan.id
        except IntegrityError:
            # Two writers raced on the same (job, item) or file hash: the item is stored once.
            if job_id is not None:
                existing = self._scan_for_item(job_id, position)
                if existing:
                    return existing
            raise

    def _scan_for_item(self, job_id: str, position: int | None) -> str | None:
        with self._session() as s:
            return s.scalar(select(Scan.id).where(Scan.job_id == job_id, Scan.item_position == position))

    def get_scan(self, scan_id: str) -> dict[str, Any] | None:
        with self._session() as s:
            scan = s.get(Scan, scan_id)
            if scan is None:
                return None
            f = s.get(StoredFile, scan.sha256) if scan.sha256 else None
            return {**_summary(scan), "result": scan.result,
                    "artifacts": sorted(a.kind for a in scan.artifacts),
                    "stored_path": f.stored_path if f else None}

    def list_scans(self, flt: ScanFilter = ScanFilter(), *, limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        with self._session() as s:
            q = select(Scan)
            if flt.verdict:
                q = q.where(Scan.verdict_label == flt.verdict)
            if flt.detector:
                q = q.where(Scan.detector == flt.detector)
            if flt.since:
                q = q.where(Scan.created_at >= self._db_time(flt.since))
            if flt.until:
                q = q.where(Scan.created_at < self._db_time(flt.until))
            if flt.job_id:
                q = q.where(Scan.job_id == flt.job_id)
            if flt.q:
                like = "%" + flt.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                q = q.where(or_(Scan.name.ilike(like, escape="\\"), Scan.sha256.ilike(like, escape="\\"),
                                Scan.note.ilike(like, escape="\\")))
            total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
            rows = s.scalars(q.order_by(Scan.created_at.desc(), Scan.id).limit(limit).offset(offset)).all()
            return [_summary(r) for r in rows], int(total)

    def _db_time(self, dt: datetime) -> datetime:
        """UTC; naive for SQLite, which stores times as text without a zone."""
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        try:
            dt = dt.astimezone(timezone.utc)
        except OverflowError:  # year 1 or 9999 with an offset
            dt = (datetime.min if dt.year < 2 else datetime.max).replace(tzinfo=timezone.utc)
        return dt.replace(tzinfo=None) if self.dialect == "sqlite" else dt

    def set_note(self, scan_id: str, note: str) -> bool:
        with self._session.begin() as s:
            res = s.execute(update(Scan).where(Scan.id == scan_id).values(note=note, note_updated_at=_now()))
            return res.rowcount > 0

    def get_artifact(self, scan_id: str, kind: str) -> tuple[str, bytes] | None:
        with self._session() as s:
            a = s.get(Artifact, (scan_id, kind))
            return (a.content_type, a.data) if a else None

    def delete_scan(self, scan_id: str) -> tuple[bool, str | None]:
        """Delete a scan with its evidence, verdict and pictures.

        Returns (deleted, kept file path that no scan refers to any more), so the
        caller can remove the file; the file-hash row goes with it.
        """
        with self._session.begin() as s:
            scan = s.get(Scan, scan_id)
            if scan is None:
                return False, None
            sha = scan.sha256
            s.delete(scan)
            s.flush()
            orphan = None
            if sha and not s.scalar(select(func.count()).select_from(Scan).where(Scan.sha256 == sha)):
                f = s.get(StoredFile, sha)
                if f is not None:
                    orphan = f.stored_path
                    s.delete(f)
            return True, orphan

    def counts(self) -> dict[str, int]:
        with self._session() as s:
            return {
                "scans": s.scalar(select(func.count()).select_from(Scan)) or 0,
                "evidence": s.scalar(select(func.count()).select_from(EvidenceRow)) or 0,
                "verdicts": s.scalar(select(func.count()).select_from(VerdictRow)) or 0,
                "jobs": s.scalar(select(func.count()).select_from(Job)) or 0,
                "files": s.scalar(select(func.count()).select_from(StoredFile)) or 0,
            }

    def integrity_problems(self) -> list[str]:
        """Problems a crash could have left: scans whose evidence or verdict is missing."""
        problems = []
        with self._session() as s:
            for scan in s.scalars(select(Scan)):
                n_ev = len(scan.result.get("evidence") or [])
                if len(scan.evidence) != n_ev:
                    problems.append(f"scan {scan.id}: {len(scan.evidence)} evidence rows, result lists {n_ev}")
                if (scan.result.get("verdict") is not None) != (scan.verdict is not None):
                    problems.append(f"scan {scan.id}: verdict row does not match the result")
        return problems


def _utc(dt: datetime | None) -> datetime | None:
    return dt.replace(tzinfo=timezone.utc) if dt is not None and dt.tzinfo is None else dt


def _summary(scan: Scan) -> dict[str, Any]:
    v = scan.verdict
    return {
        "id": scan.id, "job_id": scan.job_id, "created_at": _utc(scan.created_at), "name": scan.name,
        "sha256": scan.sha256, "ok": scan.ok, "error": scan.error,
        "verdict": {"label": v.label, "summary": v.summary, "score": v.score,
                    "reasons": list(v.reasons), "contradictions": list(v.contradictions)} if v else None,
        "detector": scan.detector, "probability": scan.probability, "note": scan.note or "",
    }


def _pending(job_id: str):
    """(position, name, source_path, spooled, kept) of a job's items without a stored scan, in order."""
    return (select(JobItem.position, JobItem.name, JobItem.source_path, JobItem.spooled, JobItem.kept)
            .where(JobItem.job_id == job_id, JobItem.status != "done").order_by(JobItem.position))


def _jsonable(x: Any) -> Any:
    """Plain JSON values: numpy scalars and tuples converted, NaN/inf as None and
    NUL characters dropped (PostgreSQL's JSON and text types reject both)."""
    return _clean(json.loads(json.dumps(x, default=_default)))


def _clean(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, str):
        return _text(x)
    if isinstance(x, list):
        return [_clean(v) for v in x]
    if isinstance(x, dict):
        return {_text(str(k)): _clean(v) for k, v in x.items()}
    return x


def _text(s: str | None) -> str | None:
    return s.replace("\x00", "") if s else s


def _default(o: Any) -> Any:
    try:
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(o, (bytes, bytearray)):
        return o.hex()
    if isinstance(o, (set, frozenset)):
        return sorted(o, key=str)
    if isinstance(o, Iterable):
        return list(o)
    return str(o)
