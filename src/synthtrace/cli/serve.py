"""`synthtrace serve`: the REST API and web UI on this machine."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from synthtrace.cli.console import err
from synthtrace.service.settings import ServiceSettings, default_data_dir, is_loopback, load_or_create_token


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind. From any address but loopback every request needs the API token."),
    port: int = typer.Option(8750, "--port", help="TCP port."),
    models: Path = typer.Option(None, "--models", help="Folder of detector bundles (each sub-folder with config.json), loaded at start-up."),
    allow_dir: list[Path] = typer.Option([], "--allow-dir", help="Folder whose files clients may scan by server-side path (repeatable)."),
    db: str = typer.Option(None, "--db", help="Database URL, e.g. postgresql://user@host/db. Default: SQLite in the data directory."),
    data_dir: Path = typer.Option(None, "--data-dir", help="Where the store, token and kept files live (default: SYNTHTRACE_DATA_DIR or the user data folder)."),
    keep_files: bool = typer.Option(False, "--keep-files", help="Keep uploaded files (by sha256) so reports can show them."),
    max_upload_mb: int = typer.Option(50, "--max-upload-mb", help="Largest accepted upload, per file (MB)."),
    max_pixels: int = typer.Option(50_000_000, "--max-pixels", help="Refuse images with more pixels (decompression-bomb guard)."),
    workers: int = typer.Option(1, "--workers", help="Background job threads per process."),
    processes: int = typer.Option(1, "--processes", help="Server processes (uvicorn workers) to use more CPU cores."),
    no_auth: bool = typer.Option(False, "--no-auth", help="No token needed (loopback binds only; refused for any other address)."),
    print_token: bool = typer.Option(False, "--print-token", help="Print the API token and exit."),
) -> None:
    """Start the local service: REST API under /v1, web UI at /, case store.

    The API token is created on first start in the data directory (file 'token',
    user-only permissions); send it as 'Authorization: Bearer <token>'. The web
    page needs no token when opened on this machine.
    """
    d = Path(data_dir) if data_dir else default_data_dir()
    token = load_or_create_token(d)
    if print_token:
        typer.echo(token)
        return
    if no_auth and not is_loopback(host):
        err.print(f"[red]refusing to bind {host} without an API token: drop --no-auth or bind 127.0.0.1[/]")
        raise typer.Exit(2)
    try:
        import uvicorn  # optional extra 'service'

        from synthtrace.service.app import app_info, create_app  # optional extra 'service'
    except ImportError as exc:
        err.print(f"[red]synthtrace serve needs the service extra: pip install 'synthtrace[service]' ({exc})[/]")
        raise typer.Exit(2) from None
    settings = ServiceSettings(data_dir=d, db_url=db, models_dir=models, allow_dirs=tuple(allow_dir), keep_files=keep_files,
                               token=token, auth=not no_auth, host=host, max_upload_bytes=max_upload_mb * 1024 * 1024,
                               max_pixels=max_pixels, workers=workers)
    app = create_app(settings)
    info = app_info(app)
    err.print(f"synthtrace service on http://{'[' + host + ']' if ':' in host else host}:{port}/  "
              f"(store: {info['db']}, detectors: {', '.join(info['detectors']) or 'none'})")
    err.print(f"API token: {d / 'token'}" + ("" if is_loopback(host) else "  [yellow]bound to a non-loopback address: every request needs the token[/]"))
    if processes > 1:
        from synthtrace.service.app import SETTINGS_ENV  # optional extra 'service'

        os.environ[SETTINGS_ENV] = settings.to_json()
        # A scan's BLAS calls are small: with every process spinning up one BLAS/OpenMP
        # thread per core they fight over the cores (measured: the JPEG double-compression
        # test took 15 ms with 2 threads under load, 3.6 ms with 1). Give each process its
        # share of the cores, unless the user set these already.
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        share = str(max(1, cores // processes))
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, share)
        uvicorn.run("synthtrace.service.app:app_from_env", factory=True, workers=processes, host=host, port=port,
                    log_level="info", access_log=False)
    else:
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
