"""Results into the case store (``synthtrace serve``'s database) in batched transactions.

One transaction per shard: file hashes, scans, evidence and verdicts inserted with
multi-row statements. A scan's id is derived from its path and result key, and
every insert skips rows that exist (``ON CONFLICT DO NOTHING``), so a retried shard
or a rerun writes nothing twice; evidence and verdicts are inserted only for the
scans this transaction created. The service's own writer stores one scan per
transaction, too slow for millions a day.

This module reaches up into ``synthtrace.service.store`` for the table definitions
(the store's schema belongs to the service); it is imported only when a database
URL is given.
"""

from __future__ import annotations

import hashlib
from typing import Any

from synthtrace.records import ScanResult


def scan_id(path: str, key: str) -> str:
    return hashlib.sha256(f"{path}\t{key}".encode()).hexdigest()[:32]


class StoreSink:
    def __init__(self, url: str) -> None:
        from synthtrace.service.store import Store

        # Store(...) creates the tables and the schema-version row if they are missing.
        self.store = Store(url)
        self.engine = self.store.engine

    def close(self) -> None:
        self.store.close()

    def write(self, items: list[tuple[str, ScanResult, str]], detector: str | None) -> int:
        """Store (key, result, path) items in one transaction; returns how many scans were new."""
        if not items:
            return 0
        from synthtrace.service.store import EvidenceRow, Scan, StoredFile, VerdictRow, _jsonable, _now, _text

        files: dict[str, dict[str, Any]] = {}
        scans, evidence, verdicts = [], {}, {}
        now = _now()
        for key, result, path in items:
            sid = scan_id(path, key)
            rec, det, v = result.record, result.detection, result.verdict
            data = _jsonable(result.to_dict())
            if rec is not None:
                files.setdefault(rec.sha256, {"sha256": rec.sha256, "size": rec.file_size, "format": rec.format,
                                              "first_seen": now, "stored_path": None})
            scans.append({
                "id": sid, "job_id": None, "item_position": None, "created_at": now, "name": _text(path),
                "sha256": rec.sha256 if rec else None, "ok": result.ok, "error": _text(result.error),
                "verdict_label": v.label if v is not None else None,
                "detector": (detector or det.detector or None) if det else None,
                "probability": float(det.probability) if det else None, "result": data, "note": "",
            })
            evidence[sid] = [
                {"scan_id": sid, "position": i, "source": e.source, "name": e.name, "direction": e.direction,
                 "strength": float(e.strength), "reliability": float(e.reliability),
                 "explanation": _text(e.explanation) or "", "details": _jsonable(e.details), "error": _text(e.error)}
                for i, e in enumerate(result.evidence)
            ]
            if v is not None:
                vd = data.get("verdict") or {}
                verdicts[sid] = {"scan_id": sid, "label": v.label, "summary": _text(v.summary), "score": vd.get("score"),
                                 "reasons": vd.get("reasons", []), "contradictions": vd.get("contradictions", [])}
        with self.engine.begin() as conn:
            if files:
                conn.execute(self._insert(StoredFile.__table__, ["sha256"]), list(files.values()))
            created = conn.execute(self._insert(Scan.__table__, ["id"]).returning(Scan.__table__.c.id), scans).scalars().all()
            new = set(created)
            ev = [row for sid in new for row in evidence[sid]]
            if ev:
                conn.execute(EvidenceRow.__table__.insert(), ev)
            vr = [verdicts[sid] for sid in new if sid in verdicts]
            if vr:
                conn.execute(VerdictRow.__table__.insert(), vr)
        return len(new)

    def _insert(self, table, conflict: list[str]):
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif self.engine.dialect.name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:  # pragma: no cover - the store supports these two
            raise ValueError(f"database {self.engine.dialect.name!r}: the scan sink writes PostgreSQL or SQLite")
        return insert(table).on_conflict_do_nothing(index_elements=conflict)
