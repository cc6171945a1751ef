"""Results into the case store (``synthtrace serve``'s database) in batched transactions.

One transaction per shard: file hashes, scans, evidence and verdicts. A scan's id is
derived from its path and result key and every insert skips rows that exist, so a
retried shard or a rerun writes nothing twice; evidence and verdicts are inserted
only for the scans the same transaction created. The rows are the service's own
(``Store.record_scan`` writes the same columns), so the web UI and the API show
them; the service's writer stores one scan per transaction, too slow for millions
a day.

PostgreSQL: the shard is streamed with COPY straight into the tables. If any of its
scans is stored already (a retried shard), that transaction fails as a whole and
the shard goes through temporary staging tables instead, moved with ``INSERT ...
SELECT ... ON CONFLICT DO NOTHING`` (the evidence and verdict inserts join the scans
that statement created). JSON is
encoded once per result (``EncodedResult``), the text the Parquet rows carry.
SQLite: the same rows with multi-row inserts.

This module reaches up into ``synthtrace.store`` for the table definitions
and value cleaning (the store's schema belongs to the service); it is imported only
when a database URL is given.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from synthtrace.records import ScanResult
from synthtrace.scale.schema import EncodedResult

_SCAN_COLS = ("id", "job_id", "item_position", "created_at", "name", "sha256", "ok", "error", "verdict_label",
              "detector", "probability", "result", "note")
_EVIDENCE_COLS = ("scan_id", "position", "source", "name", "direction", "strength", "reliability", "explanation",
                  "details", "error")
_VERDICT_COLS = ("scan_id", "label", "summary", "score", "reasons", "contradictions")
_FILE_COLS = ("sha256", "size", "format", "first_seen", "stored_path")


def scan_id(path: str, key: str) -> str:
    return hashlib.sha256(f"{path}\t{key}".encode()).hexdigest()[:32]


def _text(s: str | None) -> str | None:
    # PostgreSQL text rejects NUL characters (as the service's store does, drop them).
    return s.replace("\x00", "") if s and "\x00" in s else s


def _json_text(text: str, obj_of: Any) -> str:
    """JSON for a PostgreSQL json column: NaN/Infinity are not JSON there, so the rare
    text that has them is cleaned the service's way (None)."""
    if "NaN" in text or "Infinity" in text:
        from synthtrace.store import _jsonable  # optional extra 'service'

        return json.dumps(_jsonable(obj_of()), separators=(",", ":"))
    return text


class StoreSink:
    def __init__(self, url: str) -> None:
        from synthtrace.store import Store  # optional extra 'service'

        # Store(...) creates the tables and the schema-version row if they are missing.
        self.store = Store(url)
        self.engine = self.store.engine
        self.postgres = self.engine.dialect.name == "postgresql"

    def close(self) -> None:
        self.store.close()

    def write(self, items: list[tuple[str, ScanResult, EncodedResult]], detector: str | None) -> int:
        """Store (key, result, encoded result) items in one transaction; returns how many scans were new."""
        if not items:
            return 0
        from synthtrace.store import _now  # optional extra 'service'

        now = _now()
        files: dict[str, tuple] = {}
        scans, evidence, verdicts = [], [], []
        for key, result, enc in items:
            sid = scan_id(result.path, key)
            rec, det, v = result.record, result.detection, result.verdict
            if rec is not None:
                files.setdefault(rec.sha256, (rec.sha256, rec.file_size, rec.format, now, None))
            result_json = _json_text(enc.result_json(), lambda: json.loads(enc.result_json(), parse_constant=lambda c: None))
            scans.append((sid, None, None, now, _text(result.path), rec.sha256 if rec else None, result.ok,
                          _text(result.error), v.label if v is not None else None,
                          (detector or det.detector or None) if det else None,
                          float(det.probability) if det else None, result_json, ""))
            for i, (e, details) in enumerate(zip(result.evidence, enc.details)):
                evidence.append((sid, i, e.source, e.name, e.direction, float(e.strength), float(e.reliability),
                                 _text(e.explanation) or "", _json_text(details, lambda e=e: e.details), _text(e.error)))
            if v is not None:
                score = v.score if v.score is None or v.score == v.score else None  # NaN → None, as the service
                verdicts.append((sid, v.label, _text(v.summary), score,
                                 json.dumps([_text(r) for r in v.reasons]), json.dumps([_text(c) for c in v.contradictions])))
        if self.postgres:
            return self._write_postgres(list(files.values()), scans, evidence, verdicts)
        return self._write_rows(list(files.values()), scans, evidence, verdicts)

    # ------------------------------------------------------------ PostgreSQL
    def _write_postgres(self, files, scans, evidence, verdicts) -> int:
        import psycopg  # optional extra 'postgres'

        try:
            return self._copy_direct(files, scans, evidence, verdicts)
        except psycopg.errors.UniqueViolation:
            # Some of these scans are stored already (a retried shard, a rerun without the
            # Parquet index): stage them and keep only the new ones.
            return self._copy_staged(files, scans, evidence, verdicts)

    def _copy_direct(self, files, scans, evidence, verdicts) -> int:
        """The common case, no scan stored yet: COPY straight into the tables."""
        with self.engine.begin() as conn:
            cur = conn.connection.driver_connection.cursor()  # the psycopg connection of this transaction
            cur.execute("SET LOCAL default_toast_compression = lz4")  # JSON is toasted; lz4 is several times faster than pglz
            if files:
                cur.executemany(f"INSERT INTO files ({', '.join(_FILE_COLS)}) VALUES ({', '.join(['%s'] * len(_FILE_COLS))}) "
                                "ON CONFLICT DO NOTHING", files)
            for table, cols, rows in (("scans", _SCAN_COLS, scans), ("evidence", _EVIDENCE_COLS, evidence),
                                      ("verdicts", _VERDICT_COLS, verdicts)):
                if rows:
                    with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as cp:
                        for row in rows:
                            cp.write_row(row)
            cur.close()
        return len(scans)

    def _copy_staged(self, files, scans, evidence, verdicts) -> int:
        from sqlalchemy import text  # optional extra 'service'

        with self.engine.begin() as conn:
            cur = conn.connection.driver_connection.cursor()
            cur.execute("SET LOCAL default_toast_compression = lz4")
            for table, stage, cols in (("files", "st_stage_files", _FILE_COLS), ("scans", "st_stage_scans", _SCAN_COLS),
                                       ("evidence", "st_stage_evidence", _EVIDENCE_COLS),
                                       ("verdicts", "st_stage_verdicts", _VERDICT_COLS)):
                cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "
                            f"SELECT {', '.join(cols)} FROM {table} WITH NO DATA")
            for stage, cols, rows in (("st_stage_files", _FILE_COLS, files), ("st_stage_scans", _SCAN_COLS, scans),
                                      ("st_stage_evidence", _EVIDENCE_COLS, evidence),
                                      ("st_stage_verdicts", _VERDICT_COLS, verdicts)):
                if rows:
                    with cur.copy(f"COPY {stage} ({', '.join(cols)}) FROM STDIN") as cp:
                        for row in rows:
                            cp.write_row(row)
            cur.close()
            fc, sc, ec, vc = (", ".join(c) for c in (_FILE_COLS, _SCAN_COLS, _EVIDENCE_COLS, _VERDICT_COLS))
            conn.execute(text(f"INSERT INTO files ({fc}) SELECT {fc} FROM st_stage_files ON CONFLICT DO NOTHING"))
            return int(conn.execute(text(
                f"WITH new AS (INSERT INTO scans ({sc}) SELECT {sc} FROM st_stage_scans ON CONFLICT DO NOTHING RETURNING id), "
                f"ev AS (INSERT INTO evidence ({ec}) SELECT {', '.join('e.' + c for c in _EVIDENCE_COLS)} "
                f"FROM st_stage_evidence e JOIN new ON e.scan_id = new.id), "
                f"vd AS (INSERT INTO verdicts ({vc}) SELECT {', '.join('v.' + c for c in _VERDICT_COLS)} "
                f"FROM st_stage_verdicts v JOIN new ON v.scan_id = new.id) "
                "SELECT count(*) FROM new")).scalar())

    # ---------------------------------------------------------------- SQLite
    def _write_rows(self, files, scans, evidence, verdicts) -> int:
        from sqlalchemy.dialects.sqlite import insert  # optional extra 'service'

        from synthtrace.store import EvidenceRow, Scan, StoredFile, VerdictRow  # optional extra 'service'

        def dicts(cols, rows, json_cols=()):
            return [{c: (json.loads(v) if c in json_cols else v) for c, v in zip(cols, r)} for r in rows]

        with self.engine.begin() as conn:
            if files:
                conn.execute(insert(StoredFile.__table__).on_conflict_do_nothing(), dicts(_FILE_COLS, files))
            fresh = set(conn.execute(insert(Scan.__table__).on_conflict_do_nothing().returning(Scan.__table__.c.id),
                                     dicts(_SCAN_COLS, scans, ("result",))).scalars())
            if not fresh:
                return 0
            ev = [r for r in evidence if r[0] in fresh]
            if ev:
                conn.execute(insert(EvidenceRow.__table__), dicts(_EVIDENCE_COLS, ev, ("details",)))
            vd = [r for r in verdicts if r[0] in fresh]
            if vd:
                conn.execute(insert(VerdictRow.__table__).on_conflict_do_nothing(),
                             dicts(_VERDICT_COLS, vd, ("reasons", "contradictions")))
            return len(fresh)
