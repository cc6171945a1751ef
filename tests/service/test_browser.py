"""Browser test: `synthtrace serve` on a free loopback port, Debian's chromium driven by
Playwright uploads images (file input and drag-and-drop), waits for the verdict,
checks the evidence panel and the history, and saves a screenshot."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import png_with_prompt

CHROMIUM = os.environ.get("SYNTHTRACE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"chromium not found at {CHROMIUM} (set SYNTHTRACE_CHROMIUM; .ci/run installs it)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path, tiny_bundle):
    import httpx

    models = tmp_path / "models"
    shutil.copytree(tiny_bundle, models / "tiny-cnn")
    port = _free_port()
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-c", "from synthtrace.cli.app import main; main()", "serve", "--port", str(port),
                             "--data-dir", str(tmp_path / "data"), "--models", str(models)],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if proc.poll() is not None:
                break
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert proc.poll() is None, (tmp_path / "server.log").read_text()
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_upload_verdict_evidence_screenshot(server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python) is a dev dependency")
    img = tmp_path / "generated.png"
    img.write_bytes(png_with_prompt("a lighthouse at dusk <script>alert(1)</script>", size=256))
    with sync_api.sync_playwright() as p:
        # Playwright gives every launch a fresh temporary profile (it refuses --user-data-dir).
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            dialogs = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(server + "/")
            page.wait_for_selector("body[data-ready='1']")
            # Keyboard: the drop zone takes focus and Enter opens the (multiple) file chooser. Whether
            # headless Chromium reports the chooser to Playwright was flaky once another browser had run
            # in the same process, so the test watches the input's click, which is what opens it.
            page.evaluate("document.getElementById('file-input').addEventListener('click', () => { window.__chooser = true; })")
            page.locator("#drop-zone").focus()
            assert page.evaluate("document.activeElement.id") == "drop-zone"
            page.keyboard.press("Enter")
            page.wait_for_function("window.__chooser === true", timeout=10_000)
            assert page.evaluate("document.getElementById('file-input').multiple")
            # Keyboard users: the file input is labelled and reachable.
            page.get_by_label("Choose images").set_input_files(str(img))
            page.get_by_role("button", name="Scan", exact=True).click()
            verdict = page.locator("#verdict")
            verdict.wait_for(timeout=120_000)
            assert verdict.inner_text() == "Declared AI-generated"
            panel = page.locator("#evidence-panel")
            text = panel.inner_text()
            for heading in ("Provenance", "Signals", "Detector scores"):
                assert heading in text
            assert "a1111_parameters" in text and "periodic_peaks" in text
            assert "tiny-cnn" in page.locator("#detector-scores").inner_text()
            spectrum = page.locator("img.spectrum")
            spectrum.wait_for()
            page.wait_for_function("document.querySelector('img.spectrum').naturalWidth > 0")
            assert page.locator("#result-h").evaluate("el => el === document.activeElement")  # focus moved to the result
            # Drag and drop a second file onto the drop zone.
            data = img.read_bytes()
            handle = page.evaluate_handle(
                """(bytes) => { const dt = new DataTransfer();
                    dt.items.add(new File([new Uint8Array(bytes)], 'dropped.png', {type: 'image/png'})); return dt; }""",
                list(data))
            page.dispatch_event("#drop-zone", "drop", {"dataTransfer": handle})
            page.locator("#result-h .name", has_text="dropped.png").wait_for(timeout=120_000)
            # History shows both; the note is saved and searchable.
            page.locator("#history .history-item").nth(1).wait_for()
            page.get_by_label("Note", exact=True).fill("checked with the photographer")
            page.get_by_role("button", name="Save note").click()
            page.locator("#note-status", has_text="Note saved").wait_for()
            page.get_by_label("Search name, hash or note").fill("photographer")
            page.get_by_role("button", name="Search").click()
            page.locator("#history", has_text="1 scan").wait_for()
            assert not dialogs  # the <script> in the prompt never ran
            # Export: the JSON download is the stored scan.
            with page.expect_download() as dl:
                page.get_by_role("link", name="Export JSON").click()
            exported = json.loads(Path(dl.value.path()).read_text())
            assert exported["name"] == "dropped.png" and exported["result"]["verdict"]["label"] == "declared_ai_generated"
            page.locator("#history .history-item").first.click()
            verdict.wait_for()
            page.wait_for_function("document.querySelector('img.spectrum') && document.querySelector('img.spectrum').naturalWidth > 0")
            shot = tmp_path / "service-ui.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            keep = os.environ.get("SYNTHTRACE_SCREENSHOT_DIR")
            if keep:
                Path(keep).mkdir(parents=True, exist_ok=True)
                shutil.copy(shot, Path(keep) / shot.name)
        finally:
            browser.close()
