"""The FastAPI application factory.

``create_app(settings)`` opens the store, loads the detector bundles, starts the
background job threads and resumes unfinished jobs. The library never imports
this module; `synthtrace serve` runs it under uvicorn.
"""

from __future__ import annotations

import logging
import os
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

import synthtrace
from synthtrace.detector import DetectorBundle
from synthtrace.errors import ConfigError, SynthtraceError
from synthtrace.service import auth
from synthtrace.service.api import health_router, router
from synthtrace.service.jobs import JobRunner
from synthtrace.service.limits import ApiError
from synthtrace.service.settings import ServiceSettings, is_loopback, load_or_create_token
from synthtrace.service.web import mount_ui
from synthtrace.store import Store

log = logging.getLogger("synthtrace.service")


@dataclass
class ServiceContext:
    settings: ServiceSettings
    store: Store
    runner: JobRunner
    token: str
    detectors: dict[str, DetectorBundle] = field(default_factory=dict)
    default_detector: str | None = None
    sessions: auth.Sessions | None = None
    resumed_jobs: list[str] = field(default_factory=list)


def bundle_dirs(models_dir: Path | None) -> list[Path]:
    """Every bundle folder under ``models_dir`` (each sub-folder with a config.json, or the folder itself)."""
    if models_dir is None:
        return []
    root = Path(models_dir)
    if not root.is_dir():
        raise ConfigError(f"{root}: --models must be a folder of detector bundles (from `synthtrace train` or the demo)")
    dirs = [root] if (root / "config.json").is_file() else sorted(p for p in root.iterdir() if (p / "config.json").is_file())
    if not dirs:
        raise ConfigError(f"{root}: no detector bundle found (no config.json in it or its sub-folders)")
    return dirs


def load_detectors(models_dir: Path | None) -> dict[str, DetectorBundle]:
    """Every bundle under ``models_dir``, by folder name."""
    return {d.name: DetectorBundle.from_pretrained(d) for d in bundle_dirs(models_dir)}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message}}, headers=headers)


_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                 406: "not_acceptable", 413: "request_too_large", 415: "unsupported_media_type", 429: "too_many_requests"}


def create_app(settings: ServiceSettings | None = None, *, store: Store | None = None) -> FastAPI:
    settings = settings or ServiceSettings()
    if not settings.auth and not is_loopback(settings.host):
        raise ConfigError(
            f"refusing to serve on {settings.host} without an API token: a non-loopback address is reachable "
            "from other machines. Drop --no-auth (clients then send the token) or bind 127.0.0.1."
        )
    data_dir = Path(settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = settings.token or load_or_create_token(data_dir)
    store = store or Store(settings.database_url())
    detectors = load_detectors(settings.models_dir)
    runner = JobRunner(store, detectors, workers=settings.workers)
    ctx = ServiceContext(settings=settings, store=store, runner=runner, token=token, detectors=detectors,
                         default_detector=sorted(detectors)[0] if detectors else None, sessions=auth.Sessions(token))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        runner.start()
        lock = _resume_lock(data_dir) if settings.resume_jobs else None
        if lock is not None:
            ctx.resumed_jobs = runner.resume_unfinished()
            if ctx.resumed_jobs:
                log.warning("resuming %d unfinished job(s): %s", len(ctx.resumed_jobs), ", ".join(ctx.resumed_jobs))
        try:
            yield
        finally:
            runner.stop()
            if lock is not None:
                lock.close()

    app = FastAPI(
        title="synthtrace",
        version=synthtrace.__version__,
        description="Local service: scan images for signs of generative models, keep the cases. API version v1.",
        openapi_url="/v1/openapi.json",
        docs_url=None,  # Swagger UI loads scripts from a CDN; the service makes no outside requests
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ctx = ctx

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        parts = []
        for e in exc.errors()[:5]:
            loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
            parts.append(f"{loc}: {e.get('msg')}" if loc else str(e.get("msg")))
        return error_response(422, "invalid_request", "; ".join(parts) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        code = _STATUS_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return error_response(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(SynthtraceError)
    async def _synthtrace(request: Request, exc: SynthtraceError):
        return error_response(400, "input_error", str(exc))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", f"internal error ({type(exc).__name__}); see the server log")

    @app.middleware("http")
    async def _guard(request: Request, call_next):
        # Body size first: a huge upload is refused before anything reads it.
        if request.method in ("POST", "PUT", "PATCH"):
            length = request.headers.get("content-length")
            if length is not None:
                try:
                    n = int(length)
                except ValueError:
                    return error_response(400, "bad_content_length", "Content-Length is not a number")
                if n > settings.max_request_bytes:
                    return error_response(413, "request_too_large",
                                          f"request body of {n:,} bytes; the limit is {settings.max_request_bytes:,} bytes")
            elif request.headers.get("transfer-encoding", "").lower() == "chunked":
                return error_response(411, "length_required", "send a Content-Length (chunked uploads are not accepted)")
        if settings.auth and not auth.is_public(request.url.path):
            ok, code = auth.check(request, ctx.token, ctx.sessions)
            if not ok:
                messages = {
                    "missing_token": "send the API token as 'Authorization: Bearer <token>'; it is in the "
                                     f"file 'token' in the server's data directory",
                    "invalid_token": "the API token is wrong; it is in the file 'token' in the server's data directory",
                    "session_not_local": "the web UI session is valid only on this machine (loopback); use the API token",
                    "missing_ui_header": "web UI requests that change data must send the X-Synthtrace-UI header",
                }
                return error_response(401, code, messages[code], {"WWW-Authenticate": "Bearer"})
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    app.include_router(health_router)
    app.include_router(router)
    mount_ui(app)
    return app


SETTINGS_ENV = "SYNTHTRACE_SERVICE_SETTINGS"


def app_from_env() -> FastAPI:
    """Factory for uvicorn worker processes (``serve --processes N``): settings come as JSON in the environment."""
    return create_app(ServiceSettings.from_json(os.environ[SETTINGS_ENV]))


def _resume_lock(data_dir: Path):
    """An exclusive lock on data_dir/resume.lock, or None when another process of
    this server holds it: with several worker processes only one resumes jobs."""
    f = open(data_dir / "resume.lock", "a+")  # noqa: SIM115 - held for the server's lifetime
    try:
        import fcntl  # POSIX only: elsewhere the ImportError below leaves resuming to this process

        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:  # pragma: no cover - Windows: one process per data dir is the supported setup
        return f
    except OSError:
        f.close()
        return None
    return f


def app_info(app: FastAPI) -> dict[str, Any]:
    ctx: ServiceContext = app.state.ctx
    return {"data_dir": str(ctx.settings.data_dir), "db": ctx.store.url.split("@")[-1],
            "detectors": sorted(ctx.detectors), "allow_dirs": [str(d) for d in ctx.settings.allow_dirs]}
