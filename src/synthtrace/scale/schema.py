"""The versioned result schema of a scaled-out scan, and the key that makes it idempotent.

Two tables, each Hive-partitioned by detector and settings so one output folder
can hold the results of several detectors or option sets side by side::

    OUT/scans/detector=<slug>/settings=<hash12>/part-<hash>.parquet     one row per scanned image
    OUT/failures/detector=<slug>/settings=<hash12>/part-<hash>.parquet  one row per file that failed

A row is identified by its ``key``: the content hash of the file, the detector id
and the settings hash (``result_key``). The same bytes scanned with the same
detector and options get the same key wherever and whenever they are scanned, so a
rerun can tell what is already done, and a retried shard rewrites the same file
instead of adding one. ``docs/scale.md`` lists every column.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, fields, is_dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from synthtrace.errors import ConfigError
from synthtrace.records import plain

if TYPE_CHECKING:
    import pyarrow as pa

    from synthtrace.records import ScanResult
    from synthtrace.tasks.scan import ScanOptions

# Bump when a column is added, removed or changes meaning; readers check it.
SCHEMA_VERSION = 1
TABLES = ("scans", "failures")
# Stages a failure can come from, in pipeline order.
FAILURE_STAGES = ("read", "decode", "scan", "detector", "worker")
NO_DETECTOR = "none"


def settings_hash(options: ScanOptions) -> str:
    """Hex digest of every option that changes a result.

    A trust-anchor file enters by its content, not its path: the same roots moved
    elsewhere give the same results, edited roots do not.
    """
    d = asdict(options)
    if d.get("trust_anchors"):
        try:
            d["trust_anchors"] = "sha256:" + hashlib.sha256(Path(d["trust_anchors"]).read_bytes()).hexdigest()
        except OSError as exc:
            raise ConfigError(f"{d['trust_anchors']}: cannot read the trust anchors ({exc.strerror or exc}). "
                              "Pass a PEM file of C2PA root certificates.") from None
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


def result_key(sha256: str | None, detector_id: str, settings: str) -> str:
    """The idempotency key of one result. A file that could not be read has no
    content hash; its key is that of the empty content, so a rerun that still cannot
    read it finds it done."""
    return hashlib.sha256(f"{sha256 or ''}|{detector_id}|{settings}".encode()).hexdigest()


def partition(detector_id: str, settings: str) -> str:
    """The Hive partition path of a detector/settings pair (safe in file names and URLs)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", detector_id).strip("_")[:80] or NO_DETECTOR
    return f"detector={slug}/settings={settings[:12]}"


def part_name(keys: list[tuple[str, str]]) -> str:
    """File name of a shard's rows: a hash of their (path, key) pairs, so the same
    rows always land in the same file whichever attempt writes them."""
    h = hashlib.sha256("\n".join(f"{p}\t{k}" for p, k in sorted(keys)).encode()).hexdigest()
    return f"part-{h[:32]}.parquet"


def _identity_fields(pa) -> list[tuple]:
    """Leading columns of both tables: which file, under which detector and settings."""
    return [("schema_version", pa.int16()), ("key", pa.string()), ("path", pa.string()), ("sha256", pa.string()),
            ("detector_id", pa.string()), ("settings_hash", pa.string()), ("synthtrace_version", pa.string())]


def _timing_fields(pa) -> list[tuple]:
    """Trailing columns of both tables: how long it took, where and when."""
    return [("read_s", pa.float64()), ("scan_s", pa.float64()), ("worker", pa.string()),
            ("scanned_at", pa.timestamp("us", tz="UTC"))]


def scans_schema() -> pa.Schema:
    import pyarrow as pa  # optional extra 'ray'

    return pa.schema([
        *_identity_fields(pa),
        ("verdict", pa.string()),
        ("score", pa.float64()),  # the verdict's fused log-odds (None when nothing was weighed)
        ("probability", pa.float64()),  # detector's calibrated P(generated), None without a detector
        ("decision", pa.string()),
        ("format", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("file_size", pa.int64()),
        ("evidence_json", pa.string()),
        ("verdict_json", pa.string()),
        ("record_json", pa.string()),
        ("detection_json", pa.string()),
        ("extras_json", pa.string()),  # the rest of ScanResult.to_dict() (attribution, localization, ...)
        *_timing_fields(pa),
    ])


def failures_schema() -> pa.Schema:
    import pyarrow as pa  # optional extra 'ray'

    return pa.schema([
        *_identity_fields(pa),
        ("stage", pa.string()),
        ("reason", pa.string()),
        ("evidence_json", pa.string()),  # what was read before the failure (detector failures keep the rest)
        *_timing_fields(pa),
    ])


def schema_of(table: str) -> pa.Schema:
    if table not in TABLES:
        raise ValueError(f"table {table!r}: expected one of {', '.join(TABLES)}")
    return scans_schema() if table == "scans" else failures_schema()


_ENCODER = None


def encode(x: Any) -> str:
    """Strict JSON text of records, evidence and their details (NaN and infinities as null,
    so duckdb's and PostgreSQL's JSON functions read every row).

    Dataclasses are expanded one level at a time by ``default``, so the long float
    lists in evidence details are encoded by the C encoder instead of being copied
    into dicts first (``to_dict``), which was most of a row's cost.
    """
    global _ENCODER
    if _ENCODER is None:
        _ENCODER = json.JSONEncoder(default=_default, allow_nan=False, separators=(",", ":"))
    try:
        return _ENCODER.encode(x)
    except ValueError:  # a non-finite float somewhere: the slow path, once for this value
        return _ENCODER.encode(_finite(x))


def _finite(x: Any) -> Any:

    x = plain(x)
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if type(x).__module__ == "numpy":
        return _finite(_default(x))
    return x


def _default(o: Any) -> Any:
    if is_dataclass(o) and not isinstance(o, type):
        return {f.name: getattr(o, f.name) for f in fields(o)}
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (bytes, bytearray)):
        return o.hex()
    if isinstance(o, (set, frozenset)):
        return sorted(o, key=str)
    return str(o)


_OWN_COLUMNS = ("path", "ok", "error", "record", "detection", "verdict", "evidence")


@dataclass(frozen=True)
class EncodedResult:
    """A ScanResult as JSON text, encoded once for every sink.

    ``top`` is ``to_dict()`` without the evidence (cheap: the evidence is the bulk);
    ``details`` holds each evidence item's details as JSON, and ``evidence_json`` is
    assembled from them, so the details are encoded once.
    """

    top: dict[str, Any]
    details: tuple[str, ...]
    evidence_json: str

    @classmethod
    def of(cls, result: ScanResult) -> EncodedResult:
        top = replace(result, evidence=()).to_dict()
        del top["evidence"]
        details, parts = [], []
        for e in result.evidence:
            d = encode(e.details)
            head = encode({f.name: getattr(e, f.name) for f in fields(e) if f.name != "details"})
            details.append(d)
            parts.append(head[:-1] + ',"details":' + d + "}")
        return cls(top=top, details=tuple(details), evidence_json="[" + ",".join(parts) + "]")

    def part(self, key: str) -> str:
        return encode(self.top.get(key))

    def extras_json(self) -> str | None:
        """Every other key of to_dict() (extras such as attribution, fields added later)."""
        extras = {k: v for k, v in self.top.items() if k not in _OWN_COLUMNS}
        return encode(extras) if extras else None

    def result_json(self) -> str:
        """The whole ``to_dict()`` as JSON (evidence last)."""
        return encode(self.top)[:-1] + ',"evidence":' + self.evidence_json + "}"


def failure_stage(result: ScanResult) -> str:
    """Where a failed ScanResult stopped: before a decoded image, in the detector, or elsewhere."""
    if result.record is None:
        return "decode"
    if result.error and result.error.startswith("detector failed"):
        return "detector"
    return "scan"


def scan_row(result: ScanResult, *, key: str, sha256: str, detector_id: str, settings: str, version: str,
             read_s: float, scan_s: float, worker: str, at: datetime, encoded: EncodedResult | None = None) -> dict[str, Any]:
    rec, det, v = result.record, result.detection, result.verdict
    enc = encoded or EncodedResult.of(result)
    return {
        "schema_version": SCHEMA_VERSION, "key": key, "path": result.path, "sha256": sha256,
        "detector_id": detector_id, "settings_hash": settings, "synthtrace_version": version,
        "verdict": v.label if v is not None else None,
        "score": float(v.score) if v is not None and v.score is not None else None,
        "probability": float(det.probability) if det else None, "decision": det.decision if det else None,
        "format": rec.format if rec else None, "width": rec.width if rec else None,
        "height": rec.height if rec else None, "file_size": rec.file_size if rec else None,
        "evidence_json": enc.evidence_json, "verdict_json": enc.part("verdict"),
        "record_json": enc.part("record"), "detection_json": enc.part("detection"),
        "extras_json": enc.extras_json(),
        "read_s": read_s, "scan_s": scan_s, "worker": worker, "scanned_at": at,
    }


def failure_row(path: str, *, key: str, sha256: str | None, stage: str, reason: str, evidence_json: str | None,
                detector_id: str, settings: str, version: str, read_s: float, scan_s: float, worker: str,
                at: datetime) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION, "key": key, "path": path, "sha256": sha256,
        "detector_id": detector_id, "settings_hash": settings, "synthtrace_version": version,
        "stage": stage, "reason": reason, "evidence_json": evidence_json or "[]",
        "read_s": read_s, "scan_s": scan_s, "worker": worker, "scanned_at": at,
    }


def result_from_row(row: dict[str, Any]) -> dict[str, Any]:
    """The ``ScanResult.to_dict()`` a scans row was written from (for comparison and export)."""
    return {
        "path": row["path"], "ok": True, "error": None,
        "record": json.loads(row["record_json"]), "detection": json.loads(row["detection_json"]),
        "verdict": json.loads(row["verdict_json"]), "evidence": json.loads(row["evidence_json"]),
        **(json.loads(row["extras_json"]) if row.get("extras_json") else {}),
    }


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
