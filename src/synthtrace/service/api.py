"""The /v1 REST API (see docs/service.md)."""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, Security, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field

import synthtrace
from synthtrace.detector import OPERATING_POINTS
from synthtrace.evaluation.scan_report import write_scan_report
from synthtrace.records import Detection, Evidence, ImageRecord, ScanResult, Verdict
from synthtrace.service.limits import ApiError, check_image_bytes, resolve_allowed_paths
from synthtrace.store import NewItem, ScanFilter
from synthtrace.verdict import LABELS

API_VERSION = "v1"


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable error code, e.g. upload_too_large")
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorBody} for s in (400, 401, 403, 404, 413, 415, 422, 429)
}
# Routes whose success is not JSON (HTML, images): FastAPI would document their
# errors under the success media type, so name the JSON error body explicitly.
JSON_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
    for s in ERRORS
}


class VerdictOut(BaseModel):
    label: str
    summary: str
    score: float | None = None
    reasons: list[str] = []
    contradictions: list[str] = []


class ScanSummary(BaseModel):
    id: str
    job_id: str | None
    created_at: datetime
    name: str
    sha256: str | None
    ok: bool
    error: str | None
    verdict: VerdictOut | None
    detector: str | None
    probability: float | None
    note: str


class ScanDetail(ScanSummary):
    result: dict[str, Any] = Field(description="the full scan output, as `synthtrace scan --json` prints it")
    artifacts: list[str] = Field(description="pictures available under /v1/scans/{id}/figures/{kind}")


class ScanPage(BaseModel):
    items: list[ScanSummary]
    total: int
    limit: int
    offset: int


class JobOut(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed"]
    created_at: datetime
    finished_at: datetime | None
    total: int
    done: int
    failed: int
    progress: float
    error: str | None
    scan_ids: list[str]


class ScanBatch(BaseModel):
    job: JobOut
    scans: list[ScanSummary] = Field(description="the stored scans; empty while a background job runs")


class DetectorOut(BaseModel):
    name: str
    kind: str
    backbone: str
    labels: list[str]
    operating_points: list[str]
    default: bool


class Health(BaseModel):
    status: str
    version: str
    api: str


class NoteIn(BaseModel):
    note: str = Field(max_length=20000)


# Documents the token in the OpenAPI document; the auth middleware (app.py) enforces it,
# and also accepts the web UI's session cookie.
bearer = HTTPBearer(auto_error=False, description="the API token from the file 'token' in the server's data directory")
router = APIRouter(prefix="/v1", responses=ERRORS, dependencies=[Security(bearer)])
health_router = APIRouter()


def _ctx(request: Request):
    return request.app.state.ctx


@health_router.get("/healthz", response_model=Health, tags=["service"])
def healthz() -> Health:
    """Liveness: no data, no auth."""
    return Health(status="ok", version=synthtrace.__version__, api=API_VERSION)


@router.get("/detectors", response_model=list[DetectorOut], tags=["detectors"])
def list_detectors(request: Request) -> list[DetectorOut]:
    """Detector bundles loaded at start-up from --models."""
    ctx = _ctx(request)
    return [
        DetectorOut(name=name, kind=b.kind, backbone=str(b.backbone.get("id", "")), labels=list(b.labels),
                    operating_points=list(OPERATING_POINTS), default=(name == ctx.default_detector))
        for name, b in sorted(ctx.detectors.items())
    ]


@router.post("/scans", response_model=ScanBatch, status_code=201, tags=["scans"],
             responses={202: {"model": ScanBatch, "description": "queued as a background job; poll /v1/jobs/{id}"}})
async def create_scans(
    request: Request,
    files: list[UploadFile] = File(default=[], description="image files (type judged by content)"),
    paths: list[str] = Form(default=[], description="server-side files or folders under an --allow-dir"),
    detector: str | None = Form(default=None, description="a name from /v1/detectors; 'none' for no detector; "
                                "default: the server's default detector, if any"),
    operating_point: Literal["0.5", "fpr_0.05", "fpr_0.01"] = Form(default="0.5"),
    provenance: bool = Form(default=True),
    signals: bool = Form(default=True),
    watermarks: bool = Form(default=True),
    figures: bool = Form(default=False, description="store a thumbnail and the spectrum figure (the web UI shows them)"),
    background: bool = Form(default=False, description="always answer 202 with a job, even for a few files"),
):
    """Scan uploaded images and/or server-side paths.

    Up to the server's sync limit (default 4 files) the scans run inside the
    request and come back with 201; larger batches (or background=true) run as
    a job: 202 with the job, whose progress is at /v1/jobs/{id}.
    """
    ctx = _ctx(request)
    s = ctx.settings
    uploads = [f for f in files if f is not None]
    if len(uploads) + len(paths) == 0:
        raise ApiError(400, "no_files", "send one or more images as multipart 'files', or server-side 'paths'")
    if len(uploads) + len(paths) > s.max_files:
        raise ApiError(413, "too_many_files", f"more than {s.max_files} files in one request; split the batch")
    det_name = ctx.default_detector if detector in (None, "") else (None if detector == "none" else detector)
    if det_name is not None and det_name not in ctx.detectors:
        raise ApiError(400, "unknown_detector",
                       f"detector {detector!r} is not loaded; loaded: {sorted(ctx.detectors) or 'none'} (or 'none')")
    items: list[NewItem] = []
    written: list[str] = []
    try:
        for up in uploads:
            name = _clean_name(up.filename)
            data = await up.read(s.max_upload_bytes + 1)
            await run_in_threadpool(check_image_bytes, data, name, max_bytes=s.max_upload_bytes, max_pixels=s.max_pixels)
            path, spooled = _write_upload(ctx, data)
            if spooled:
                written.append(path)
            items.append(NewItem(name=name, source_path=path, spooled=spooled, kept=not spooled))
        if paths:
            for name, p in resolve_allowed_paths(paths, s.allow_dirs, max_files=s.max_files):
                items.append(NewItem(name=name, source_path=str(p)))
        if len(items) > s.max_files:
            raise ApiError(413, "too_many_files", f"{len(items)} files; the limit is {s.max_files} per request")
    except BaseException:
        for w in written:
            _remove(w)
        raise
    options = {"operating_point": operating_point, "max_pixels": s.max_pixels, "provenance": provenance,
               "signals": signals, "watermarks": watermarks, "detector": det_name, "figures": figures,
               "keep_files": s.keep_files}
    job_id = ctx.store.create_job(items, options)
    if background or len(items) > s.sync_limit:
        ctx.runner.submit(job_id)
        job = ctx.store.get_job(job_id)
        return JSONResponse(status_code=202, headers={"Location": f"/v1/jobs/{job_id}"},
                            content=ScanBatch(job=JobOut(**job), scans=[]).model_dump(mode="json"))
    await run_in_threadpool(ctx.runner.run_job, job_id)
    job = ctx.store.get_job(job_id)
    scans, _ = ctx.store.list_scans(ScanFilter(job_id=job_id), limit=len(items) + 1)
    scans.sort(key=lambda r: job["scan_ids"].index(r["id"]) if r["id"] in job["scan_ids"] else 0)
    return ScanBatch(job=JobOut(**job), scans=[ScanSummary(**r) for r in scans])


@router.get("/scans", response_model=ScanPage, tags=["scans"])
def list_scans(
    request: Request,
    verdict: Literal[tuple(LABELS)] | None = Query(default=None),  # type: ignore[valid-type]
    detector: str | None = Query(default=None, max_length=200),
    since: datetime | None = Query(default=None, description="scans created at or after (ISO 8601)"),
    until: datetime | None = Query(default=None, description="scans created before (ISO 8601)"),
    q: str | None = Query(default=None, max_length=200, description="search the file name, sha256 and note"),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=1_000_000_000),
) -> ScanPage:
    """Stored scans, newest first, paged and filtered."""
    flt = ScanFilter(verdict=verdict, detector=detector, since=since, until=until, q=_strip_nul(q))
    rows, total = _ctx(request).store.list_scans(flt, limit=limit, offset=offset)
    return ScanPage(items=[ScanSummary(**r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/scans/{scan_id}", response_model=ScanDetail, tags=["scans"])
def get_scan(request: Request, scan_id: str) -> ScanDetail:
    return ScanDetail(**_scan_or_404(request, scan_id))


@router.delete("/scans/{scan_id}", status_code=204, tags=["scans"], response_class=Response)
def delete_scan(request: Request, scan_id: str) -> Response:
    """Delete the scan, its evidence and verdict, and the kept file if no other scan uses it."""
    ok, orphan = _ctx(request).store.delete_scan(scan_id)
    if not ok:
        raise ApiError(404, "scan_not_found", f"no scan with id {scan_id!r}")
    if orphan:
        _remove(orphan)
    return Response(status_code=204)


@router.put("/scans/{scan_id}/note", response_model=ScanSummary, tags=["scans"])
def put_note(request: Request, scan_id: str, body: NoteIn) -> ScanSummary:
    """Replace the scan's note."""
    store = _ctx(request).store
    if not store.set_note(scan_id, body.note.replace("\x00", "")):
        raise ApiError(404, "scan_not_found", f"no scan with id {scan_id!r}")
    d = store.get_scan(scan_id)
    return ScanSummary(**{k: v for k, v in d.items() if k in ScanSummary.model_fields})


@router.get("/scans/{scan_id}/report", response_class=HTMLResponse, tags=["scans"],
            responses={**JSON_ERRORS, 200: {"content": {"text/html": {}}, "description": "self-contained HTML report"}})
def scan_report(request: Request, scan_id: str) -> HTMLResponse:
    """The scan's self-contained HTML report (as `synthtrace scan --report` writes it)."""
    d = _scan_or_404(request, scan_id)
    html = render_report(d)
    return HTMLResponse(html, headers={"Content-Security-Policy": "default-src 'none'; img-src data:; style-src 'unsafe-inline'",
                                       "Content-Disposition": f'inline; filename="synthtrace-{scan_id}.html"'})


@router.get("/scans/{scan_id}/figures/{kind}", tags=["scans"], response_class=Response,
            responses={**JSON_ERRORS, 200: {"content": {"image/png": {}, "image/jpeg": {}}, "description": "the picture"}})
def scan_figure(request: Request, scan_id: str, kind: Literal["thumbnail", "spectrum"]) -> Response:
    art = _ctx(request).store.get_artifact(scan_id, kind)
    if art is None:
        raise ApiError(404, "figure_not_found", f"scan {scan_id!r} has no {kind} (scan with figures=true to store one)")
    return Response(content=art[1], media_type=art[0], headers={"Cache-Control": "private, max-age=3600"})


@router.get("/jobs/{job_id}", response_model=JobOut, tags=["jobs"])
def get_job(request: Request, job_id: str) -> JobOut:
    job = _ctx(request).store.get_job(job_id)
    if job is None:
        raise ApiError(404, "job_not_found", f"no job with id {job_id!r}")
    return JobOut(**job)


# ----------------------------------------------------------------------------- helpers


def _scan_or_404(request: Request, scan_id: str) -> dict[str, Any]:
    d = _ctx(request).store.get_scan(scan_id)
    if d is None:
        raise ApiError(404, "scan_not_found", f"no scan with id {scan_id!r}")
    return d


def _strip_nul(s: str | None) -> str | None:
    return s.replace("\x00", "") if s else s


def _clean_name(name: str | None) -> str:
    """The upload's base name, for display only (never used as a path)."""
    base = (name or "upload").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable())[:255]
    return base or "upload"


def _write_upload(ctx, data: bytes) -> tuple[str, bool]:
    """(path, spooled): kept files go under files/ by hash, others to the spool until scanned."""
    root = Path(ctx.settings.data_dir)
    if ctx.settings.keep_files:
        sha = hashlib.sha256(data).hexdigest()
        path = root / "files" / sha[:2] / sha
        if not path.exists():
            _atomic_write(path, data)
        return str(path), False
    path = root / "spool" / uuid.uuid4().hex
    # No fsync for the spool: a killed process leaves written data in the page
    # cache, and after a power cut the job row (SQLite WAL, synchronous=NORMAL) is
    # no more durable than the file, so a sync would buy nothing but latency.
    _atomic_write(path, data, durable=False)
    return str(path), True


def _atomic_write(path: Path, data: bytes, *, durable: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def result_from_dict(d: dict[str, Any], path: str) -> ScanResult:
    """Rebuild the ScanResult a stored scan was made from (for the HTML report)."""
    known = {"path", "ok", "error", "record", "detection", "verdict", "evidence"}
    rec = d.get("record")
    det = d.get("detection")
    ver = d.get("verdict")
    return ScanResult(
        path=path,
        record=ImageRecord(**{**rec, "path": path, "notes": tuple(rec.get("notes") or ())}) if rec else None,
        detection=Detection(**det) if det else None,
        error=d.get("error"),
        evidence=tuple(Evidence(**e) for e in d.get("evidence") or ()),
        verdict=Verdict(**{**ver, "reasons": tuple(ver.get("reasons") or ()),
                           "contradictions": tuple(ver.get("contradictions") or ())}) if ver else None,
        extras={k: v for k, v in d.items() if k not in known},
    )


def render_report(d: dict[str, Any]) -> str:
    """HTML report of one stored scan; pictures only when the file was kept (--keep-files)."""
    from markupsafe import escape  # optional extra 'report'

    name = d["name"]
    with tempfile.TemporaryDirectory(prefix="synthtrace-report-") as tmp:
        stored = d.get("stored_path")
        path = stored if stored and os.path.isfile(stored) else str(Path(tmp) / "file-not-kept")
        result = result_from_dict(d["result"], path)
        opts = d["result"].get("options") or {}
        params = {"scan id": d["id"], "file": name, "scanned at": d["created_at"].isoformat(),
                  "detector": d.get("detector"), "file kept on the server": bool(stored), **opts}
        out = write_scan_report([result], Path(tmp) / "report.html", parameters=params,
                                title=f"synthtrace scan report: {name}")
        html = out.read_text(encoding="utf-8")
    # Show the user's file name, not server paths, in the report.
    html = html.replace(str(escape(path)), str(escape(name)))
    html = html.replace(str(escape(str(Path.cwd()))), "…")
    return html
