"""The web UI: server-rendered jinja2 pages and fragments plus a little vanilla JS.

Everything from a file or its metadata is escaped by jinja2's autoescape; the
JS only inserts fragments the server rendered, and sets text with textContent.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

import synthtrace
from synthtrace.service import auth
from synthtrace.service.limits import ApiError
from synthtrace.store import ScanFilter
from synthtrace.verdict import LABELS

PROVENANCE_SOURCES = ("c2pa", "iptc", "xmp", "exif", "params", "watermark", "metadata", "provenance")
SIGNAL_SOURCES = ("spectrum", "jpeg", "residual", "signals", "pixels")
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


def _templates() -> Jinja2Templates:
    directory = str(resources.files("synthtrace.service").joinpath("templates"))
    t = Jinja2Templates(directory=directory)
    t.env.autoescape = True  # every template, whatever its extension
    t.env.filters["fmt"] = _fmt
    t.env.filters["label_text"] = lambda k: LABELS.get(str(k), str(k or "no verdict"))
    t.env.filters["css"] = lambda k: "v-" + str(k or "none").replace("_", "-")
    return t


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None:
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    if isinstance(x, (dict, list)):
        text = json.dumps(x, ensure_ascii=False, default=str)
        return text if len(text) <= 600 else text[:600] + "…"
    return str(x)


def mount_ui(app: FastAPI) -> None:
    templates = _templates()
    static_dir = str(resources.files("synthtrace.service").joinpath("static"))
    app.mount("/static", StaticFiles(directory=static_dir), name="static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index(request: Request) -> Response:
        ctx = request.app.state.ctx
        local = auth.client_is_local(request)
        resp = templates.TemplateResponse(request, "index.html", {
            "version": synthtrace.__version__, "local": local, "labels": LABELS,
            "detectors": sorted(ctx.detectors), "default_detector": ctx.default_detector,
            "max_upload_mb": ctx.settings.max_upload_bytes // (1024 * 1024),
        })
        if local:
            resp.set_cookie(auth.SESSION_COOKIE, ctx.sessions.new(), httponly=True, samesite="strict", path="/")
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.get("/ui/scans/{scan_id}", response_class=HTMLResponse, include_in_schema=False)
    def panel(request: Request, scan_id: str) -> Response:
        d = request.app.state.ctx.store.get_scan(scan_id)
        if d is None:
            raise ApiError(404, "scan_not_found", f"no scan with id {scan_id!r}")
        return templates.TemplateResponse(request, "panel.html", panel_context(d))

    @app.get("/ui/history", response_class=HTMLResponse, include_in_schema=False)
    def history(request: Request, q: str | None = Query(default=None, max_length=200),
                verdict: str | None = Query(default=None, max_length=40)) -> Response:
        flt = ScanFilter(q=(q or "").replace("\x00", "") or None, verdict=verdict if verdict in LABELS else None)
        rows, total = request.app.state.ctx.store.list_scans(flt, limit=100)
        return templates.TemplateResponse(request, "history.html", {"rows": rows, "total": total, "q": q or ""})


def panel_context(d: dict[str, Any]) -> dict[str, Any]:
    """Group the stored scan's evidence for the evidence panel."""
    result = d["result"]
    groups: dict[str, list[dict[str, Any]]] = {"provenance": [], "signals": [], "detector": [], "other": []}
    for e in result.get("evidence") or []:
        src = str(e.get("source", ""))
        key = ("provenance" if src in PROVENANCE_SOURCES else "signals" if src in SIGNAL_SOURCES
               else "detector" if src == "detector" else "other")
        groups[key].append(e)
    known = {"path", "ok", "error", "record", "detection", "verdict", "evidence"}
    extras = {k: v for k, v in result.items() if k not in known}
    attribution = extras.pop("attribution", None)
    localization = extras.pop("localization", None)
    if isinstance(localization, dict):
        localization = {k: v for k, v in localization.items() if k != "maps"}
    return {"scan": d, "result": result, "record": result.get("record"), "detection": result.get("detection"),
            "groups": groups, "attribution": attribution, "localization": localization, "extras": extras,
            "has_thumbnail": "thumbnail" in d.get("artifacts", []), "has_spectrum": "spectrum" in d.get("artifacts", [])}
