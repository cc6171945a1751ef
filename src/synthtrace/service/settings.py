"""Service settings, the user's data directory and the API token.

Everything the service keeps (database, token, kept uploads, upload spool) lives
in one data directory: ``SYNTHTRACE_DATA_DIR`` or ``--data-dir`` when given,
else the platform's per-user data folder.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

from synthtrace.errors import ConfigError

DEFAULT_MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # per file
DEFAULT_MAX_REQUEST_BYTES = 200 * 1024 * 1024  # whole multipart body
DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_MAX_FILES = 100  # per request
DEFAULT_SYNC_LIMIT = 4  # up to this many files are scanned inside the request
TOKEN_FILE = "token"


def default_data_dir() -> Path:
    """Per-user data folder: XDG on Linux, Application Support on macOS, LOCALAPPDATA on Windows."""
    env = os.environ.get("SYNTHTRACE_DATA_DIR")
    if env:
        return Path(env).expanduser()
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "synthtrace"


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost"."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServiceSettings:
    """How `synthtrace serve` runs; every field maps to a flag of the command."""

    data_dir: Path = field(default_factory=default_data_dir)
    db_url: str | None = None  # None: SQLite file store.db in data_dir
    models_dir: Path | None = None
    allow_dirs: tuple[Path, ...] = ()
    keep_files: bool = False
    token: str | None = None  # None: read or create data_dir/token
    auth: bool = True  # False only for loopback binds (--no-auth); refused for any other address
    host: str = "127.0.0.1"
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_files: int = DEFAULT_MAX_FILES
    sync_limit: int = DEFAULT_SYNC_LIMIT
    workers: int = 1  # background job threads
    resume_jobs: bool = True

    def to_json(self) -> str:
        """For worker processes started by uvicorn (``serve --processes``)."""
        d = dataclasses.asdict(self)
        d["data_dir"] = str(self.data_dir)
        d["models_dir"] = str(self.models_dir) if self.models_dir else None
        d["allow_dirs"] = [str(p) for p in self.allow_dirs]
        return json.dumps(d)

    @classmethod
    def from_json(cls, text: str) -> ServiceSettings:
        d = json.loads(text)
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"unknown service settings {sorted(unknown)}; valid: {[f.name for f in dataclasses.fields(cls)]}")
        d["data_dir"] = Path(d["data_dir"])
        d["models_dir"] = Path(d["models_dir"]) if d.get("models_dir") else None
        d["allow_dirs"] = tuple(Path(p) for p in d.get("allow_dirs", ()))
        return cls(**d)

    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{Path(self.data_dir) / 'store.db'}"


def load_or_create_token(data_dir: Path) -> str:
    """The API token in ``data_dir/token``, created (0600, user-only) on first start."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / TOKEN_FILE
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if sys.platform != "win32" and mode & 0o077:
            raise ConfigError(
                f"{path}: token file is readable by other users (mode {mode:o}); "
                f"run `chmod 600 {path}` or delete it to create a new token"
            )
        token = path.read_text(encoding="utf-8").strip()
        if len(token) < 16:
            raise ConfigError(f"{path}: token is shorter than 16 characters; delete the file to create a new one")
        return token
    token = secrets.token_urlsafe(32)
    # O_EXCL + 0600 at creation: the token is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    return token
