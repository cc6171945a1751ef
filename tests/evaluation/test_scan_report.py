import re
import sys
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("jinja2")

import synthtrace
from synthtrace.evaluation.scan_report import label_text, verdict_css_class, write_scan_report
from synthtrace.io.images import load_image
from synthtrace.records import Detection, Evidence, ScanResult, Verdict

EVIL = '<script>alert("x")</script>'
EVIL_NAME = '<script>alert(1)<img src=x onerror=alert(2)>.png'  # no "/" in a file name


def _image(path, seed=0, size=(96, 80)):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path, quality=90)
    return path


@pytest.fixture
def results(tmp_path):
    good = _image(tmp_path / "photo.jpg")
    rec = load_image(good).record
    evidence = (
        Evidence("exif", "camera_make", "authentic", 0.4, 0.5, "EXIF names a camera maker (Canon)."),
        Evidence("spectrum", "grid_peaks", "generated", 0.7, 0.6, "Periodic peaks at k/8 cycles per pixel.",
                 details={"peak_ratio": 7.5}),
        Evidence("c2pa", "manifest", error="manifest signature truncated at byte 812"),
    )
    verdict = Verdict(
        label="likely_generated",
        summary="Pixel statistics point to a generator; metadata points the other way.",
        reasons=("Periodic spectral peaks typical of up-sampling.",),
        contradictions=("EXIF names a camera, but the pixels look generated.",),
        score=0.71,
    )
    ok = ScanResult(
        path=str(good), record=rec,
        detection=Detection(score=1.3, probability=0.83, decision="fake", threshold=0.5, detector="cnn-small"),
        evidence=evidence, verdict=verdict,
    )
    evil_path = _image(tmp_path / EVIL_NAME, seed=1, size=(40, 30))
    evil_rec = load_image(evil_path).record
    evil = ScanResult(
        path=str(evil_path), record=evil_rec,
        evidence=(Evidence("iptc", "credit", "none", 0.0, 0.0, f"Credit line reads {EVIL}"),),
        verdict=Verdict(label="uncertain", summary="Too little evidence.", reasons=(), contradictions=(), score=None),
    )
    failed = ScanResult(path=str(tmp_path / "broken.jpg"),
                        error="UnreadableImageError: broken.jpg: starts like a JPEG file but its header is truncated")
    return [ok, evil, failed]


class _Refs(HTMLParser):
    """Collects every URL-valued attribute of the parsed document, and counts script tags."""

    def __init__(self):
        super().__init__()
        self.urls, self.scripts, self.html_tags = [], 0, 0

    def handle_starttag(self, tag, attrs):
        self.scripts += tag == "script"
        self.html_tags += tag == "html"
        self.urls += [v or "" for k, v in attrs if k in ("src", "href", "srcset", "action", "poster", "data")]


def _external_refs(html):
    parser = _Refs()
    parser.feed(html)
    css_urls = re.findall(r"url\(\s*['\"]?([^'\")]+)", html, flags=re.I)
    return [r for r in parser.urls + css_urls if not (r.startswith("#") or r.startswith("data:"))], parser


def test_report_is_one_self_contained_document(tmp_path, results):
    params = {"detector": "bundles/cnn-small", "operating_point": "0.5", "max_pixels": 100_000_000,
              "trust_anchors": ["anchors.pem"]}
    out = write_scan_report(results, tmp_path / "out" / "report.html", parameters=params)
    assert out.is_file()
    html = out.read_text(encoding="utf-8")
    assert html.count("<html") == 1 and html.count("</html>") == 1
    assert html.lstrip().lower().startswith("<!doctype html>")
    refs, parsed = _external_refs(html)
    assert refs == [] and parsed.scripts == 0 and parsed.html_tags == 1
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html.lower()  # no JavaScript at all, and nothing injected

    ok, _, failed = results
    assert ok.record.sha256 in html
    assert f"synthtrace {synthtrace.__version__}" in html
    assert "cnn-small" in html and "0.830" in html  # P(generated)
    assert "Likely generated" in html and "v-likely-generated" in html
    assert "Uncertain" in html and "v-uncertain" in html
    assert "not a probability" in html  # the fused score is log-odds
    assert "Pixel statistics point to a generator" in html
    assert "EXIF names a camera, but the pixels look generated." in html
    for e in ok.evidence:
        if e.explanation:
            assert e.explanation in html
    assert "could not be read: manifest signature truncated at byte 812" in html
    assert "header is truncated" in html  # the failed file's error
    assert "anchors.pem" in html and "operating_point" in html
    assert "data:image/jpeg;base64," in html  # thumbnails
    assert "data:image/png;base64," in html  # spectrum figure (matplotlib is installed in dev)
    assert "evidence for a human to weigh, not proof" in html
    assert "built-in benchmark" in html


def test_user_controlled_strings_are_escaped(tmp_path, results):
    html = write_scan_report(results, tmp_path / "r.html", parameters={"note": EVIL}, title=EVIL).read_text()
    assert EVIL not in html and EVIL_NAME not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html  # title, parameter, metadata string
    assert "&lt;script&gt;alert(1)&lt;img src=x onerror=alert(2)&gt;.png" in html  # the file name
    assert html.lower().count("<script") == 0 and "<img src=x" not in html
    refs, parsed = _external_refs(html)
    assert refs == [] and parsed.scripts == 0


def test_thumbnail_is_small(tmp_path):
    import base64
    import io

    big = _image(tmp_path / "big.png", size=(700, 500))
    r = ScanResult(path=str(big), record=load_image(big).record)
    html = write_scan_report([r], tmp_path / "r.html", parameters={}, spectrum=False).read_text()
    uri = re.search(r'src="data:image/jpeg;base64,([^"]+)"', html).group(1)
    with Image.open(io.BytesIO(base64.b64decode(uri))) as im:
        assert max(im.size) == 256 and im.size[0] > im.size[1]
    assert "no verdict" in html and "no detector" in html


def test_renders_without_matplotlib(tmp_path, results, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` raise ImportError
    html = write_scan_report(results, tmp_path / "r.html", parameters={}).read_text()
    assert "matplotlib is not installed" in html
    assert "data:image/png;base64," not in html
    assert "data:image/jpeg;base64," in html  # thumbnails do not need matplotlib
    assert results[0].record.sha256 in html


def test_changed_or_missing_file_omits_pictures(tmp_path, results):
    ok = results[0]
    _image(ok.path, seed=42)  # overwrite: the bytes no longer match the scan
    html = write_scan_report([ok], tmp_path / "r.html", parameters={}).read_text()
    assert "has changed since it was scanned" in html
    assert "data:image/" not in html
    (tmp_path / "photo.jpg").unlink()
    html = write_scan_report([ok], tmp_path / "r.html", parameters={}).read_text()
    assert "preview not available" in html and ok.record.sha256 in html


def test_empty_scan_and_verdict_classes(tmp_path):
    html = write_scan_report([], tmp_path / "r.html", parameters={}).read_text()
    assert "No files were scanned." in html
    assert verdict_css_class("declared AI-generated") == "v-declared-generated"
    assert verdict_css_class("declared_camera_capture") == "v-declared-camera"
    assert verdict_css_class("Likely generated") == "v-likely-generated"
    assert verdict_css_class("likely-authentic") == "v-likely-authentic"
    assert verdict_css_class("uncertain") == "v-uncertain"
    assert verdict_css_class("declared_ai_generated") == "v-declared-generated"
    assert verdict_css_class(None) == "v-none"
    assert label_text("declared_ai_generated") == "Declared AI-generated"
    assert label_text("likely_authentic") == "Likely authentic"


def test_verdict_is_duck_typed(tmp_path):
    from types import SimpleNamespace

    v = SimpleNamespace(label="declared_camera_capture", summary="Signed by a camera.",
                        reasons=[Evidence("c2pa", "signer", "authentic", 1.0, 1.0, "Signed by Nikon.")],
                        contradictions=None, score=None)
    r = ScanResult(path=str(tmp_path / "x.jpg"), verdict=v, error="detector failed: RuntimeError: boom")
    html = write_scan_report([r], tmp_path / "r.html", parameters={}).read_text()
    assert "Declared camera capture" in html and "v-declared-camera" in html
    assert "c2pa: Signed by Nikon." in html and "detector failed: RuntimeError: boom" in html


class _RedDetector:
    """Scores a window by how red it is (stand-in for a bundle); counts calls."""

    class calibration:  # noqa: N801 - duck-typed Calibration
        @staticmethod
        def probability(s):
            return 1 / (1 + np.exp(-np.asarray(s)))

    def __init__(self):
        self.calls = 0

    def score_images(self, images):
        self.calls += 1
        return np.array([(im[..., 0].astype(float) - im[..., 1]).mean() / 20 for im in images])


def _png_at(html, alt_start):
    import base64
    import io

    uri = re.search(r'<img src="data:image/png;base64,([^"]+)" alt="' + re.escape(alt_start), html).group(1)
    with Image.open(io.BytesIO(base64.b64decode(uri))) as im:
        return np.asarray(im.convert("RGB"))


def test_localization_overlay_from_the_stored_maps(tmp_path):
    import json

    from synthtrace.signals.heatmap import localization_summary

    rng = np.random.default_rng(7)
    rgb = rng.integers(80, 120, (160, 200, 3)).astype(np.uint8)
    rgb[40:104, 120:184, 0] = 250  # the "edited" red square, right half
    path = tmp_path / "edited.png"
    Image.fromarray(rgb).save(path)
    det = _RedDetector()
    loc = localization_summary(load_image(path).rgb, det, window=32, stride=16)
    assert "maps" in loc and len(json.dumps(loc)) < 12_000
    r = ScanResult(path=str(path), record=load_image(path).record, extras={"localization": loc})
    calls = det.calls
    html = write_scan_report([r], tmp_path / "r.html", parameters={}, spectrum=False).read_text()
    assert det.calls == calls  # the report never runs the model: it draws the stored maps
    assert "Localization heatmap" in html and "the model was not run again" in html
    refs, parsed = _external_refs(html)
    assert refs == [] and parsed.scripts == 0
    assert loc["maps"]["score"] not in html  # the raw base64 blob is not dumped into the "Other" table
    over = _png_at(html, "Heatmap overlay of")
    conf = _png_at(html, "Confidence map of")
    assert over.shape == conf.shape == (160, 200, 3)  # thumbnail size (image is smaller than 256)
    inside, outside = over[70, 150].astype(int), over[140, 20].astype(int)
    assert inside[0] - inside[1] > outside[0] - outside[1] + 60  # red where the map is high
    t = loc["top_window"]
    assert 120 - 32 <= t["x"] <= 184 and 40 - 32 <= t["y"] <= 104
    edge = over[t["y"], t["x"] + t["width"] // 2]
    assert edge[0] > 200 and edge[1] > 180 and edge[2] < 60  # yellow outline of the top window
    assert f"x {t['x']}, y {t['y']}, 32 × 32 px" in html


def test_localization_from_a_scan_and_without_the_file(tmp_path):
    from synthtrace.tasks.scan import ScanOptions, scan_file

    path = _image(tmp_path / "n.png", seed=3, size=(64, 48))
    r = scan_file(path, None, ScanOptions(provenance=False, signals=False, localize=True))
    assert r.extras["localization"]["method"] == "noise-inconsistency" and "maps" in r.extras["localization"]
    html = write_scan_report([r], tmp_path / "r.html", parameters={}, spectrum=False).read_text()
    assert "noise-inconsistency" in html and _png_at(html, "Heatmap overlay of").shape == (48, 64, 3)
    path.unlink()
    html = write_scan_report([r], tmp_path / "r.html", parameters={}, spectrum=False).read_text()
    assert "overlay drawn on grey: the file could not be decoded again" in html
    assert _png_at(html, "Heatmap overlay of").shape == (192, 256, 3)
    old = ScanResult(path=str(path), record=r.record,
                     extras={"localization": {k: v for k, v in r.extras["localization"].items() if k != "maps"}})
    html = write_scan_report([old], tmp_path / "r.html", parameters={}, spectrum=False).read_text()
    assert "holds only the numbers" in html
    err = ScanResult(path=str(path), record=r.record, extras={"localization": {"error": "localization failed: boom"}})
    assert "localization failed: boom" in write_scan_report([err], tmp_path / "r.html", parameters={}).read_text()
