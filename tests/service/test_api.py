"""The /v1 API through FastAPI's test client."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from synthtrace.store import NewItem

from .conftest import LOCAL, auth, jpeg_bytes, make_app, png_with_prompt


def _upload(client, *blobs, **data):
    files = [("files", (name, blob, "application/octet-stream")) for name, blob in blobs]
    return client.post("/v1/scans", files=files, data=data)


def test_healthz_and_openapi_are_versioned(client):
    assert client.get("/healthz", headers={}).json()["api"] == "v1"
    spec = client.get("/v1/openapi.json").json()
    assert spec["info"]["title"] == "synthtrace" and spec["info"]["version"]
    for path in ("/v1/scans", "/v1/scans/{scan_id}", "/v1/scans/{scan_id}/report", "/v1/jobs/{job_id}", "/v1/detectors", "/healthz"):
        assert path in spec["paths"], path
    assert set(spec["paths"]["/v1/scans/{scan_id}"]) == {"get", "delete"}


def test_upload_scan_roundtrip(client):
    r = _upload(client, ("photo.jpg", jpeg_bytes()), ("gen.png", png_with_prompt("a red fox")), figures="true")
    assert r.status_code == 201, r.text
    batch = r.json()
    assert batch["job"]["status"] == "done" and batch["job"]["total"] == 2 and batch["job"]["progress"] == 1.0
    names = [s["name"] for s in batch["scans"]]
    assert names == ["photo.jpg", "gen.png"]
    gen = batch["scans"][1]
    assert gen["verdict"]["label"] == "declared_ai_generated"  # A1111 parameters declare it
    d = client.get(f"/v1/scans/{gen['id']}").json()
    assert d["result"]["path"] == "gen.png"
    assert any(e["source"] == "params" for e in d["result"]["evidence"])
    assert set(d["artifacts"]) == {"thumbnail", "spectrum"}
    fig = client.get(f"/v1/scans/{gen['id']}/figures/spectrum")
    assert fig.status_code == 200 and fig.content.startswith(b"\x89PNG")
    report = client.get(f"/v1/scans/{gen['id']}/report")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "gen.png" in report.text and "Declared AI-generated" in report.text


def test_list_filter_page_note_delete(client):
    r = _upload(client, *[(f"img{i}.jpg", jpeg_bytes(seed=i)) for i in range(3)], ("gen.png", png_with_prompt("x")))
    ids = [s["id"] for s in r.json()["scans"]]
    page = client.get("/v1/scans", params={"limit": 2}).json()
    assert page["total"] == 4 and len(page["items"]) == 2 and page["limit"] == 2
    page2 = client.get("/v1/scans", params={"limit": 2, "offset": 2}).json()
    assert {s["id"] for s in page["items"] + page2["items"]} == set(ids)
    gen = client.get("/v1/scans", params={"verdict": "declared_ai_generated"}).json()
    assert [s["name"] for s in gen["items"]] == ["gen.png"]
    assert client.get("/v1/scans", params={"since": "2999-01-01T00:00:00Z"}).json()["total"] == 0
    assert client.get("/v1/scans", params={"detector": "none-such"}).json()["total"] == 0
    assert client.put(f"/v1/scans/{ids[0]}/note", json={"note": "from a tip line"}).json()["note"] == "from a tip line"
    assert client.get("/v1/scans", params={"q": "tip line"}).json()["total"] == 1
    assert client.delete(f"/v1/scans/{ids[0]}").status_code == 204
    missing = client.get(f"/v1/scans/{ids[0]}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "scan_not_found"
    assert client.delete(f"/v1/scans/{ids[0]}").json()["error"]["code"] == "scan_not_found"
    bad = client.get("/v1/scans", params={"limit": 0})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"


def test_background_job_reports_progress(tmp_path):
    app = make_app(tmp_path, sync_limit=1)
    with TestClient(app, base_url="http://127.0.0.1", client=LOCAL, headers=auth()) as c:
        r = _upload(c, ("a.jpg", jpeg_bytes(seed=1)), ("b.jpg", jpeg_bytes(seed=2)))
        assert r.status_code == 202 and r.headers["location"] == f"/v1/jobs/{r.json()['job']['id']}"
        job_id = r.json()["job"]["id"]
        for _ in range(600):
            job = c.get(f"/v1/jobs/{job_id}").json()
            if job["status"] in ("done", "failed"):
                break
            time.sleep(0.05)
        assert job["status"] == "done" and job["done"] == 2 and len(job["scan_ids"]) == 2
        assert c.get("/v1/jobs/nope").json()["error"]["code"] == "job_not_found"


def test_unfinished_job_resumes_at_startup(tmp_path):
    img = tmp_path / "allowed" / "a.jpg"
    img.parent.mkdir()
    img.write_bytes(jpeg_bytes())
    app = make_app(tmp_path, allow_dirs=(img.parent,))
    store = app.state.ctx.store
    job = store.create_job([NewItem("a.jpg", str(img))], {"signals": True, "provenance": True})
    store.set_job_status(job, "running")  # as a killed server left it
    app2 = make_app(tmp_path, allow_dirs=(img.parent,))
    with TestClient(app2, base_url="http://127.0.0.1", client=LOCAL, headers=auth()) as c:
        assert app2.state.ctx.resumed_jobs == [job]
        for _ in range(600):
            if c.get(f"/v1/jobs/{job}").json()["status"] == "done":
                break
            time.sleep(0.05)
        assert c.get(f"/v1/jobs/{job}").json()["done"] == 1


def test_server_side_paths(tmp_path):
    allowed = tmp_path / "allowed"
    (allowed / "sub").mkdir(parents=True)
    (allowed / "sub" / "a.jpg").write_bytes(jpeg_bytes(seed=3))
    (allowed / "b.jpg").write_bytes(jpeg_bytes(seed=4))
    app = make_app(tmp_path, allow_dirs=(allowed,))
    with TestClient(app, base_url="http://127.0.0.1", client=LOCAL, headers=auth()) as c:
        r = c.post("/v1/scans", data={"paths": [str(allowed)]})
        assert r.status_code == 201, r.text
        assert sorted(s["name"] for s in r.json()["scans"]) == sorted([str(allowed / "b.jpg"), str(allowed / "sub" / "a.jpg")])
        r = c.post("/v1/scans", data={"paths": ["sub/a.jpg"]})  # relative to the first allowed folder
        assert r.status_code == 201 and r.json()["scans"][0]["ok"]
        # A bad file found on the server is a stored failed scan with the reason, as in `synthtrace scan`.
        (allowed / "bad.jpg").write_text("not an image")
        r = c.post("/v1/scans", data={"paths": ["bad.jpg"]})
        bad = r.json()["scans"][0]
        assert r.status_code == 201 and not bad["ok"] and "UnreadableImageError" in bad["error"] and bad["verdict"] is None
        assert c.get(f"/v1/scans/{bad['id']}/report").status_code == 200


def test_detectors_listed_and_used(tmp_path, tiny_bundle):
    import shutil

    models = tmp_path / "models"
    shutil.copytree(tiny_bundle, models / "tiny")
    app = make_app(tmp_path, models_dir=models)
    with TestClient(app, base_url="http://127.0.0.1", client=LOCAL, headers=auth()) as c:
        dets = c.get("/v1/detectors").json()
        assert [(d["name"], d["default"]) for d in dets] == [("tiny", True)]
        r = _upload(c, ("a.jpg", jpeg_bytes()))
        scan = r.json()["scans"][0]
        assert scan["detector"] == "tiny" and 0.0 <= scan["probability"] <= 1.0
        assert c.get("/v1/scans", params={"detector": "tiny"}).json()["total"] == 1
        r = _upload(c, ("a.jpg", jpeg_bytes()), detector="none")
        assert r.json()["scans"][0]["detector"] is None
        r = _upload(c, ("a.jpg", jpeg_bytes()), detector="other")
        assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_detector"


def test_attribution_head_in_a_models_bundle_reaches_the_scan(tmp_path, tiny_bench, tiny_bundle):
    import shutil

    from synthtrace.training.attribution import fit_bundle_head
    from synthtrace.io.manifest import read_manifest

    models = tmp_path / "models"
    shutil.copytree(tiny_bundle, models / "tiny")
    head, _ = fit_bundle_head(models / "tiny", tiny_bench / "manifest.csv")
    m = read_manifest(tiny_bench / "manifest.csv")
    fake = next(r for r in m if r.label == "fake" and r.split == "test" and not r.mask_path)
    with TestClient(make_app(tmp_path, models_dir=models), base_url="http://127.0.0.1", client=LOCAL, headers=auth()) as c:
        scan_id = _upload(c, ("f.jpg", m.path_of(fake).read_bytes())).json()["scans"][0]["id"]
        att = c.get(f"/v1/scans/{scan_id}").json()["result"]["attribution"]
    assert att["answer"] in head.label_map() + ["unknown"] and len(att["top_k"]) == 3


@pytest.mark.parametrize("keep", [False, True])
def test_keep_files(tmp_path, keep):
    app = make_app(tmp_path, keep_files=keep)
    with TestClient(app, base_url="http://127.0.0.1", client=LOCAL, headers=auth()) as c:
        sid = _upload(c, ("a.jpg", jpeg_bytes())).json()["scans"][0]["id"]
        kept = list((tmp_path / "data" / "files").rglob("*")) if (tmp_path / "data" / "files").exists() else []
        assert bool([p for p in kept if p.is_file()]) == keep
        assert not [p for p in (tmp_path / "data" / "spool").glob("*") if p.is_file()]  # spool emptied either way
        report = c.get(f"/v1/scans/{sid}/report").text
        assert ("data:image/jpeg;base64" in report) == keep  # the preview needs the file
        assert str(tmp_path) not in report  # no server paths in the report
        c.delete(f"/v1/scans/{sid}")
        assert not [p for p in (tmp_path / "data").rglob("files/*/*") if p.is_file()]


def test_settings_round_trip_for_worker_processes(tmp_path):
    from synthtrace.errors import ConfigError
    from synthtrace.service.settings import ServiceSettings

    s = ServiceSettings(data_dir=tmp_path, models_dir=tmp_path / "m", allow_dirs=(tmp_path / "a",), keep_files=True, token="t" * 20)
    assert ServiceSettings.from_json(s.to_json()) == s
    with pytest.raises(ConfigError, match="unknown service settings"):
        ServiceSettings.from_json('{"data_dir": "/x", "colour": "red"}')


def test_only_one_process_resumes_jobs(tmp_path):
    from synthtrace.service.app import _resume_lock

    first = _resume_lock(tmp_path)
    assert first is not None and _resume_lock(tmp_path) is None
    first.close()
    again = _resume_lock(tmp_path)
    assert again is not None
    again.close()


def test_models_folder_errors_name_the_folder(tmp_path):
    from synthtrace.errors import ConfigError

    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no detector bundle found"):
        make_app(tmp_path, models_dir=tmp_path / "empty")
    with pytest.raises(ConfigError, match="must be a folder"):
        make_app(tmp_path, models_dir=tmp_path / "missing")


def test_deleting_a_server_path_scan_never_deletes_the_users_file(tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    original = allowed / "evidence.jpg"
    original.write_bytes(jpeg_bytes(seed=5))
    app = make_app(tmp_path, allow_dirs=(allowed,), keep_files=True)
    with TestClient(app, base_url="http://127.0.0.1", client=LOCAL, headers=auth()) as c:
        sid = c.post("/v1/scans", data={"paths": ["evidence.jpg"]}).json()["scans"][0]["id"]
        assert c.get(f"/v1/scans/{sid}").json()["artifacts"] == []
        assert c.delete(f"/v1/scans/{sid}").status_code == 204
    assert original.read_bytes() == jpeg_bytes(seed=5)
