"""Who may call the service.

Every request needs ``Authorization: Bearer <token>`` except:

- the few public paths: the web UI page and its static files, ``/healthz`` and
  the OpenAPI document (none of them holds data);
- requests carrying the web UI's session cookie. The page issues it only to a
  loopback client that reached the server by a loopback host name (a DNS
  rebinding page on another origin never gets it), as HttpOnly and
  SameSite=Strict; state-changing requests must also send the
  ``X-Synthtrace-UI`` header, which a cross-site form cannot set.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request

from synthtrace.service.settings import is_loopback

SESSION_COOKIE = "synthtrace_session"
UI_HEADER = "x-synthtrace-ui"
PUBLIC_PATHS = frozenset({"/", "/healthz", "/v1/openapi.json", "/favicon.ico"})
PUBLIC_PREFIXES = ("/static/",)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Sessions:
    """Stateless UI sessions: a random nonce signed with an HMAC keyed by the API
    token, so every worker process accepts them and changing the token ends them all."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"synthtrace-ui-session\0" + secret.encode()).digest()

    def _sign(self, nonce: str) -> str:
        return hmac.new(self._key, nonce.encode(), hashlib.sha256).hexdigest()

    def new(self) -> str:
        nonce = secrets.token_urlsafe(16)
        return f"{nonce}.{self._sign(nonce)}"

    def valid(self, sid: str | None) -> bool:
        if not sid or sid.count(".") != 1:
            return False
        nonce, sig = sid.split(".")
        return hmac.compare_digest(sig, self._sign(nonce))


def host_is_loopback(request: Request) -> bool:
    host = request.headers.get("host", "")
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    return is_loopback(name)


def client_is_local(request: Request) -> bool:
    return request.client is not None and is_loopback(request.client.host) and host_is_loopback(request)


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def check(request: Request, token: str, sessions: Sessions) -> tuple[bool, str]:
    """(allowed, error code) for one request."""
    auth = request.headers.get("authorization", "")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and secrets.compare_digest(value.strip().encode(), token.encode()):
            return True, ""
        return False, "invalid_token"
    if sessions.valid(request.cookies.get(SESSION_COOKIE)):
        if not client_is_local(request):
            return False, "session_not_local"
        if request.method not in SAFE_METHODS and request.headers.get(UI_HEADER) != "1":
            return False, "missing_ui_header"
        return True, ""
    return False, "missing_token"
