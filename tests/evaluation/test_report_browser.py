"""Open a generated evaluation report in headless Chromium: no errors, every figure loads.

Needs Python playwright and a Chromium executable (``SYNTHTRACE_CHROMIUM``, default
Debian's ``/usr/bin/chromium``; ``.ci/run`` installs it). Skipped when either is
missing. The full-page screenshot is written to ``SYNTHTRACE_SCREENSHOT_DIR`` when
set (to look at), else to the test's temporary folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from synthtrace.evaluation.report import report_provenance, write_eval_report
from synthtrace.evaluation.robustness import evaluate_robustness, grid_from_names

CHROMIUM = os.environ.get("SYNTHTRACE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Python playwright is not installed (pip install playwright; never `playwright install` here)")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's chromium or set SYNTHTRACE_CHROMIUM")
    return sync_playwright


def test_report_renders_in_chromium(tiny_bench, tiny_bundle, tmp_path):
    sync_playwright = _playwright()
    pytest.importorskip("matplotlib")
    rob = evaluate_robustness(tiny_bundle, tiny_bench / "manifest.csv", grid=grid_from_names(["jpeg_q60", "resize_0.5x", "blur_s1"]),
                              n_boot=20, max_images=50, progress=False)
    fewshot = {"protocol": {"metric": "ROC AUC", "seeds": 2},
               "results": {"linear_probe": {"20": [0.6, 0.62], "50": [0.7, 0.71]}, "lora": {"20": [0.61, 0.66], "50": [0.75, 0.76]}}}
    attribution = {"labels": ["real", "gan", "diffusion"], "matrix": [[9, 1, 0], [1, 8, 1], [0, 2, 8]]}
    report = write_eval_report(rob["results"]["clean"], tmp_path / "report.html",
                               provenance=report_provenance(tiny_bundle, tiny_bench / "manifest.csv"),
                               settings={"split": "test"}, robustness=rob, attribution=attribution, fewshot=fewshot)

    shot_dir = Path(os.environ.get("SYNTHTRACE_SCREENSHOT_DIR", tmp_path))
    shot_dir.mkdir(parents=True, exist_ok=True)
    shot = shot_dir / "eval_report.png"
    errors: list[str] = []
    external: list[str] = []
    with sync_playwright() as p:
        # Playwright gives each launch a fresh temporary profile (a --user-data-dir flag is refused here).
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))

            def route(r):
                if r.request.url.startswith(("file:", "data:")):
                    r.continue_()
                else:
                    external.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.goto(report.resolve().as_uri(), wait_until="load")
            images = page.evaluate(
                "Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete, w: i.naturalWidth, h: i.naturalHeight}))"
            )
            banner = page.locator("#builtin-banner").is_visible()
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert not errors, errors
    assert not external, f"the report requested external resources: {external}"
    assert len(images) == 6, json.dumps(images)
    bad = [i for i in images if not i["complete"] or i["w"] <= 0 or i["h"] <= 0]
    assert not bad, f"figures that did not load: {bad}"
    assert banner
    assert shot.is_file() and shot.stat().st_size > 10_000
