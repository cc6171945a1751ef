"""Security: tokens and the UI session, path traversal, upload limits, HTML injection via metadata."""

from __future__ import annotations

import io
import os
import stat

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from synthtrace.errors import ConfigError
from synthtrace.service.settings import load_or_create_token

from .conftest import LOCAL, SCRIPT, TOKEN, auth, jpeg_bytes, make_app, png_with_prompt


def _post(c, name, blob, **kw):
    return c.post("/v1/scans", files=[("files", (name, blob, "image/jpeg"))], **kw)


# ----------------------------------------------------------------------- tokens and sessions


def test_token_created_user_only_and_reused(tmp_path):
    token = load_or_create_token(tmp_path)
    mode = stat.S_IMODE(os.stat(tmp_path / "token").st_mode)
    assert mode == 0o600 and len(token) >= 32
    assert load_or_create_token(tmp_path) == token
    os.chmod(tmp_path / "token", 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_or_create_token(tmp_path)


def test_missing_and_invalid_token_are_refused(tmp_path):
    app = make_app(tmp_path)
    with TestClient(app, base_url="http://127.0.0.1", client=LOCAL) as c:
        for method, url in [("get", "/v1/scans"), ("get", "/v1/detectors"), ("get", "/v1/jobs/x"), ("delete", "/v1/scans/x"),
                            ("get", "/v1/scans/x/report"), ("get", "/ui/history")]:
            r = getattr(c, method)(url)
            assert r.status_code == 401 and r.json()["error"]["code"] == "missing_token", url
        r = _post(c, "a.jpg", jpeg_bytes())
        assert r.status_code == 401
        for bad in ("Bearer wrong", f"Bearer {TOKEN}x", f"Basic {TOKEN}", "Bearer "):
            r = c.get("/v1/scans", headers={"Authorization": bad})
            assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token", bad
        assert c.get("/v1/scans", headers=auth()).status_code == 200
        assert c.get("/healthz").status_code == 200  # liveness holds no data


def test_ui_session_cookie_only_for_loopback(tmp_path):
    app = make_app(tmp_path)
    with TestClient(app, base_url="http://127.0.0.1:8750", client=LOCAL) as c:
        page = c.get("/")
        cookie = page.headers["set-cookie"]
        assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
        assert c.get("/v1/scans").status_code == 200  # the page's session works without the token
        assert c.get("/ui/history").status_code == 200
        r = _post(c, "a.jpg", jpeg_bytes())
        assert r.status_code == 401 and r.json()["error"]["code"] == "missing_ui_header"  # CSRF guard
        assert _post(c, "a.jpg", jpeg_bytes(), headers={"X-Synthtrace-UI": "1"}).status_code == 201
        sid = c.cookies.get("synthtrace_session")
    # A forged or tampered cookie is worthless; a genuine one works in another process of the same server.
    with TestClient(app, base_url="http://127.0.0.1:8750", client=LOCAL) as c2:
        nonce, sig = sid.split(".")
        for forged in (f"{nonce}.{'0' * len(sig)}", f"x{nonce}.{sig}", "anything", ""):
            c2.cookies.set("synthtrace_session", forged)
            assert c2.get("/v1/scans").status_code == 401, forged
        other_process = make_app(tmp_path)
    with TestClient(other_process, base_url="http://127.0.0.1:8750", client=LOCAL) as c3:
        c3.cookies.set("synthtrace_session", sid)
        assert c3.get("/v1/scans").status_code == 200
    # A remote client gets no cookie, and a stolen cookie does not work from a remote address.
    with TestClient(app, base_url="http://192.0.2.10:8750", client=("192.0.2.7", 4000)) as remote:
        assert "set-cookie" not in remote.get("/").headers
        remote.cookies.set("synthtrace_session", sid)
        r = remote.get("/v1/scans")
        assert r.status_code == 401 and r.json()["error"]["code"] == "session_not_local"
    # DNS rebinding: a loopback connection that names another host gets no session.
    with TestClient(app, base_url="http://evil.example:8750", client=LOCAL) as rebind:
        assert "set-cookie" not in rebind.get("/").headers
        rebind.cookies.set("synthtrace_session", sid)
        assert rebind.get("/v1/scans").status_code == 401


def test_no_auth_refused_for_non_loopback(tmp_path):
    with pytest.raises(ConfigError, match="refusing"):
        make_app(tmp_path, auth=False, host="0.0.0.0")
    app = make_app(tmp_path, auth=False, host="127.0.0.1")
    with TestClient(app, base_url="http://127.0.0.1", client=LOCAL) as c:
        assert c.get("/v1/scans").status_code == 200


def test_serve_cli_refuses_non_loopback_without_token(tmp_path):
    from typer.testing import CliRunner

    from synthtrace.cli.app import app

    r = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--no-auth", "--data-dir", str(tmp_path)])
    assert r.exit_code == 2 and "refusing" in r.output
    r = CliRunner().invoke(app, ["serve", "--print-token", "--data-dir", str(tmp_path)])
    assert r.exit_code == 0 and r.output.strip() == (tmp_path / "token").read_text().strip()


# ----------------------------------------------------------------------- server-side paths


@pytest.fixture
def jail(tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "ok.jpg").write_bytes(jpeg_bytes())
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "private.jpg").write_bytes(jpeg_bytes(seed=9))
    (allowed / "link.jpg").symlink_to(secret / "private.jpg")
    (allowed / "linkdir").symlink_to(secret, target_is_directory=True)
    inner = allowed / "inner"
    inner.mkdir()
    (inner / "escape.jpg").symlink_to(secret / "private.jpg")
    app = make_app(tmp_path, allow_dirs=(allowed,))
    with TestClient(app, base_url="http://127.0.0.1", client=LOCAL, headers=auth()) as c:
        yield c, allowed, secret


@pytest.mark.parametrize("path", [
    "../secret/private.jpg",
    "{allowed}/../secret/private.jpg",
    "{secret}/private.jpg",
    "link.jpg",
    "linkdir/private.jpg",
    "linkdir",
    "/etc/passwd",
    "{allowed}/../../../../../../etc/passwd",
])
def test_path_traversal_refused(jail, path):
    c, allowed, secret = jail
    r = c.post("/v1/scans", data={"paths": [path.format(allowed=allowed, secret=secret)]})
    assert r.status_code == 403 and r.json()["error"]["code"] == "path_outside_allowed_dir", r.text
    assert c.get("/v1/scans").json()["total"] == 0


def test_folder_with_escaping_link_refused(jail):
    c, allowed, _ = jail
    r = c.post("/v1/scans", data={"paths": [str(allowed / "inner")]})
    assert r.status_code == 403 and r.json()["error"]["code"] == "path_outside_allowed_dir"
    assert c.post("/v1/scans", data={"paths": ["ok.jpg"]}).status_code == 201


def test_paths_off_without_allow_dir(client, tmp_path):
    (tmp_path / "x.jpg").write_bytes(jpeg_bytes())
    r = client.post("/v1/scans", data={"paths": [str(tmp_path / "x.jpg")]})
    assert r.status_code == 403 and r.json()["error"]["code"] == "paths_not_allowed"


def test_missing_path_inside_allowed_is_404_and_nul_is_400(jail):
    c, allowed, _ = jail
    assert c.post("/v1/scans", data={"paths": ["nope.jpg"]}).json()["error"]["code"] == "path_not_found"
    assert c.post("/v1/scans", data={"paths": ["ok.jpg\x00.png"]}).json()["error"]["code"] == "invalid_path"


# ----------------------------------------------------------------------- upload limits


def test_oversized_upload_refused(tmp_path):
    app = make_app(tmp_path, max_upload_bytes=10_000, max_request_bytes=500_000)
    with TestClient(app, base_url="http://127.0.0.1", client=LOCAL, headers=auth()) as c:
        big = jpeg_bytes(size=256, quality=100)
        assert len(big) > 10_000
        r = _post(c, "big.jpg", big)
        assert r.status_code == 413 and r.json()["error"]["code"] == "upload_too_large"
        r = _post(c, "huge.jpg", b"\xff\xd8\xff" + b"\0" * 600_000)
        assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
        assert c.get("/v1/scans").json()["total"] == 0
        assert not [p for p in (tmp_path / "data").rglob("spool/*") if p.is_file()]


def test_pixel_bomb_refused(tmp_path):
    app = make_app(tmp_path, max_pixels=100 * 100)
    buf = io.BytesIO()
    Image.new("L", (4000, 4000)).save(buf, format="PNG")  # 16 MP of zeros: a few KB compressed
    with TestClient(app, base_url="http://127.0.0.1", client=LOCAL, headers=auth()) as c:
        r = _post(c, "bomb.png", buf.getvalue())
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_many_pixels"
        assert "4000x4000" in r.json()["error"]["message"]


@pytest.mark.parametrize("name,blob,code", [
    ("notes.jpg", b"just some text, not an image\n" * 10, "unsupported_media_type"),
    ("page.png", b"<html><script>alert(1)</script></html>", "unsupported_media_type"),
    ("empty.jpg", b"", "empty_upload"),
    ("cut.jpg", jpeg_bytes()[:40], "unreadable_image"),
])
def test_mislabelled_upload_refused(client, name, blob, code):
    r = _post(client, name, blob)
    assert r.status_code in (400, 415, 422) and r.json()["error"]["code"] == code, r.text
    assert client.get("/v1/scans").json()["total"] == 0


def test_type_by_content_not_extension(client):
    r = _post(client, "really-a-jpeg.txt", jpeg_bytes())  # wrong extension, right content: accepted
    assert r.status_code == 201 and r.json()["scans"][0]["ok"]


# ----------------------------------------------------------------------- HTML injection


def test_script_in_metadata_is_escaped_everywhere(tmp_path):
    app = make_app(tmp_path, keep_files=True)
    evil_name = "<img src=x onerror=alert(1)>.png"
    with TestClient(app, base_url="http://127.0.0.1", client=LOCAL) as c:
        c.get("/")  # UI session
        r = c.post("/v1/scans", files=[("files", (evil_name, png_with_prompt(), "image/png"))],
                   headers={"X-Synthtrace-UI": "1"})
        assert r.status_code == 201, r.text
        sid = r.json()["scans"][0]["id"]
        d = c.get(f"/v1/scans/{sid}").json()
        assert SCRIPT in str(d["result"]["evidence"])  # stored verbatim (it is evidence)...
        assert d["name"] == evil_name
        for url in (f"/v1/scans/{sid}/report", f"/ui/scans/{sid}"):
            html = c.get(url).text
            assert "<script>alert" not in html, url  # ...but never emitted as markup
            assert "&lt;script&gt;alert(" in html, url
        for url in (f"/v1/scans/{sid}/report", f"/ui/scans/{sid}", "/ui/history"):
            html = c.get(url).text
            assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;.png" in html, url
        report = c.get(f"/v1/scans/{sid}/report")
        assert "default-src 'none'" in report.headers["content-security-policy"]
        assert "script-src 'self'" in c.get("/").headers["content-security-policy"]
