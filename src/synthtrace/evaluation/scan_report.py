"""A self-contained HTML report of a scan (optional "report" extra: jinja2, matplotlib).

One file, no external requests: CSS is inline, the thumbnail and the spectrum
figure are embedded as base64 data URIs, and there is no JavaScript. Everything
that comes from a file or its metadata (names, paths, metadata strings, error
messages) is escaped by jinja2's autoescape, so a file named ``<script>.png``
is shown, never run.

The report shows what the scan measured and why the verdict says what it says;
it does not add new measurements. Thumbnails and spectra are recomputed from
the file on disk, and only when its sha256 still matches the one recorded at
scan time, so the pictures always belong to the bytes that were analysed.
"""

from __future__ import annotations

import base64
import io
import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

import synthtrace
from synthtrace.io.images import DEFAULT_MAX_PIXELS, load_image
from synthtrace.records import ScanResult
from synthtrace.signals.figures import spectrum_figure
from synthtrace.signals.heatmap import decode_map_png
from synthtrace.verdict import LABELS

__all__ = ["THUMBNAIL_MAX_SIDE", "label_text", "verdict_css_class", "write_scan_report"]

THUMBNAIL_MAX_SIDE = 256
_TEMPLATE = "scan_report.html"


def write_scan_report(
    results: Sequence[ScanResult],
    out_path: str | Path,
    *,
    parameters: Mapping[str, Any],
    title: str = "synthtrace scan report",
    max_pixels: int | None = None,
    spectrum: bool = True,
) -> Path:
    """Write one self-contained HTML report for a whole scan and return its path.

    ``parameters`` are the settings the scan ran with (detector bundle, operating
    point, max pixels, trust anchors, ...) and are listed in the header as given.
    ``max_pixels`` bounds the re-decode used for thumbnails and spectra; it
    defaults to ``parameters["max_pixels"]`` and then to the library default.
    ``spectrum=False`` leaves out the spectrum figures (they cost a second or so
    per large image). Needs jinja2 (``pip install 'synthtrace[report]'``);
    without matplotlib the report is still written, with a note in place of each
    spectrum figure.
    """
    try:
        import jinja2  # optional extra 'report'
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("write_scan_report needs jinja2: pip install 'synthtrace[report]'") from e
    if isinstance(results, ScanResult):
        raise TypeError("results must be a sequence of ScanResult; wrap a single result in a list")
    if max_pixels is None:
        mp = parameters.get("max_pixels") if isinstance(parameters, Mapping) else None
        max_pixels = int(mp) if isinstance(mp, (int, float)) and not isinstance(mp, bool) and mp > 0 else DEFAULT_MAX_PIXELS

    images = [_image_view(i, r, max_pixels=max_pixels, spectrum=spectrum) for i, r in enumerate(results)]
    now = datetime.now(timezone.utc).astimezone()
    context = {
        "title": title,
        "version": synthtrace.__version__,
        "generated_at": now.strftime("%Y-%m-%d %H:%M:%S %Z (UTC%z)"),
        "parameters": [(str(k), _fmt_param(v)) for k, v in dict(parameters or {}).items()],
        "images": images,
        "n_total": len(images),
        "n_failed": sum(1 for im in images if im.error),
        "n_with_detector": sum(1 for im in images if im.detection is not None),
    }
    return render_template(_TEMPLATE, context, out_path)


def render_template(name: str, context: Mapping[str, Any], out_path: str | Path) -> Path:
    """Render ``templates/<name>`` with autoescape (every string from files and users is
    escaped) and strict undefined variables, and write it to ``out_path``."""
    import jinja2  # optional extra 'report'

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    source = resources.files("synthtrace.evaluation").joinpath("templates", name).read_text(encoding="utf-8")
    html = env.from_string(source).render(**context)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out


def verdict_css_class(label: Any) -> str:
    """CSS class for a verdict label; tolerant of spelling ("likely_generated", "Likely generated")."""
    text = str(label or "").lower().replace("_", " ").replace("-", " ")
    if "declared" in text:
        if any(w in text for w in ("camera", "capture", "authentic", "real")):
            return "v-declared-camera"
        return "v-declared-generated"
    if "uncertain" in text or "inconclusive" in text:
        return "v-uncertain"
    if "generated" in text or "fake" in text or "synthetic" in text:
        return "v-likely-generated"
    if "authentic" in text or "real" in text or "camera" in text:
        return "v-likely-authentic"
    return "v-none"


# --- view models: plain data the template can render without logic ---------------------------


@dataclass
class _EvidenceView:
    source: str
    name: str
    direction: str
    strength: str
    reliability: str
    explanation: str
    error: str | None
    details: list[tuple[str, str]]
    direction_class: str


@dataclass
class _ImageView:
    index: int
    anchor: str
    path: str
    error: str | None
    verdict: dict[str, Any] | None
    detection: dict[str, str] | None
    evidence: list[_EvidenceView]
    n_evidence_errors: int
    record: list[tuple[str, str]]
    notes: list[str]
    extras: list[tuple[str, str]]
    thumbnail: str | None = None
    thumbnail_note: str | None = None
    spectrum: str | None = None
    spectrum_note: str | None = None
    p_generated: str = field(default="")
    localization: dict[str, Any] | None = None


def _image_view(index: int, r: ScanResult, *, max_pixels: int, spectrum: bool) -> _ImageView:
    rec = r.record
    detection = None
    p_generated = ""
    if r.detection is not None:
        d = r.detection
        p_generated = _fmt_num(getattr(d, "probability", None))
        detection = {
            "detector": str(getattr(d, "detector", "") or "(unnamed detector)"),
            "probability": p_generated,
            "score": _fmt_num(getattr(d, "score", None)),
            "decision": str(getattr(d, "decision", "")),
            "threshold": _fmt_num(getattr(d, "threshold", None)),
        }
    evidence = [_evidence_view(e) for e in (r.evidence or ())]
    record_rows: list[tuple[str, str]] = []
    notes: list[str] = []
    if rec is not None:
        record_rows = [
            ("sha256", rec.sha256),
            ("size", _fmt_size(rec.file_size)),
            ("format", str(rec.format)),
            ("pixels", f"{rec.width} × {rec.height} ({rec.mode})"),
            ("JPEG quality (estimated)", _fmt_num(rec.jpeg_quality, digits=0) if rec.jpeg_quality is not None else "not a JPEG"),
        ]
        if rec.n_frames and rec.n_frames > 1:
            record_rows.append(("frames", str(rec.n_frames)))
        if rec.exif_orientation is not None:
            record_rows.append(("EXIF orientation", str(rec.exif_orientation)))
        notes = [str(n) for n in rec.notes]
    view = _ImageView(
        index=index,
        anchor=f"image-{index + 1}",
        path=str(r.path),
        error=r.error,
        verdict=_verdict_view(r.verdict),
        detection=detection,
        evidence=evidence,
        n_evidence_errors=sum(1 for e in evidence if e.error),
        record=record_rows,
        notes=notes,
        extras=[(str(k), _fmt_param(_without_maps(v) if k == "localization" else v))
                for k, v in (r.extras or {}).items()],
        p_generated=p_generated,
    )
    loc = (r.extras or {}).get("localization")
    if rec is None:
        return view  # the file could not be decoded: nothing to show but the error
    try:
        loaded = load_image(r.path, max_pixels=max_pixels)
    except Exception as exc:  # noqa: BLE001 - a preview must never stop the report
        view.thumbnail_note = f"preview not available: {exc}"
        view.spectrum_note = "spectrum figure not available: the file could not be decoded again"
        view.localization = _localization_view(loc, None, "the file could not be decoded again")
        return view
    if loaded.record.sha256 != rec.sha256:
        view.thumbnail_note = (
            "preview not shown: the file on disk has changed since it was scanned "
            f"(sha256 now {loaded.record.sha256})"
        )
        view.spectrum_note = "spectrum figure not shown: the file has changed since it was scanned"
        view.localization = _localization_view(loc, None, "the file has changed since it was scanned")
        return view
    view.thumbnail = _thumbnail_uri(loaded.rgb)
    view.localization = _localization_view(loc, loaded.rgb, None)
    if spectrum:
        view.spectrum, view.spectrum_note = _spectrum_uri(loaded.rgb)
    else:
        view.spectrum_note = "spectrum figure not requested"
    return view


def label_text(label: Any) -> str:
    """Human-readable verdict label: ``synthtrace.verdict.LABELS`` where it names it."""
    key = str(label or "")
    if key in LABELS:
        return str(LABELS[key])
    if not key:
        return "no label"
    text = key.replace("_", " ")
    text = " ".join("AI" if w.lower() == "ai" else w for w in text.split())
    return text[:1].upper() + text[1:]


def _verdict_view(v: Any) -> dict[str, Any] | None:
    if v is None:
        return None
    label = getattr(v, "label", "")
    score = getattr(v, "score", None)
    return {
        "label": label_text(label),
        "key": str(label or ""),
        "css": verdict_css_class(label),
        "summary": str(getattr(v, "summary", "") or ""),
        "reasons": [_as_text(x) for x in (getattr(v, "reasons", None) or ())],
        "contradictions": [_as_text(x) for x in (getattr(v, "contradictions", None) or ())],
        "score": _fmt_num(score) if score is not None else None,
    }


def _evidence_view(e: Any) -> _EvidenceView:
    direction = str(getattr(e, "direction", "none") or "none")
    details = getattr(e, "details", None) or {}
    return _EvidenceView(
        source=str(getattr(e, "source", "")),
        name=str(getattr(e, "name", "")),
        direction=direction,
        strength=_fmt_num(getattr(e, "strength", None)),
        reliability=_fmt_num(getattr(e, "reliability", None)),
        explanation=str(getattr(e, "explanation", "") or ""),
        error=(str(e.error) if getattr(e, "error", None) else None),
        details=[(str(k), _fmt_param(val)) for k, val in dict(details).items()] if isinstance(details, Mapping) else [],
        direction_class={"generated": "d-generated", "authentic": "d-authentic"}.get(direction, "d-none"),
    )


def _as_text(x: Any) -> str:
    """Reasons may be strings or Evidence-like objects; show their explanation."""
    if isinstance(x, str):
        return x
    expl = getattr(x, "explanation", None)
    if expl:
        src = getattr(x, "source", "")
        return f"{src}: {expl}" if src else str(expl)
    return str(x)


def _thumbnail_uri(rgb: np.ndarray) -> str:
    im = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB")
    im.thumbnail((THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _without_maps(loc: Any) -> Any:
    """The localization summary without its embedded map PNGs (shown as pictures instead)."""
    if isinstance(loc, Mapping) and "maps" in loc:
        return {k: v for k, v in loc.items() if k != "maps"}
    return loc


def _png_uri(arr: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr, dtype=np.uint8)).save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _localization_view(loc: Any, rgb: np.ndarray | None, no_image_reason: str | None) -> dict[str, Any] | None:
    """Overlay and confidence pictures of a ``scan --localize`` summary, drawn from the
    downsampled maps stored in the scan result (the model is not run again).

    The score map is resized to the thumbnail and blended in red (opacity 0.6 × score)
    over it, the top window outlined in yellow; the confidence map is shown in grey
    (white = confident). Without the image (file changed or undecodable) the overlay is
    drawn on grey, with a note."""
    if not isinstance(loc, Mapping):
        return None
    view: dict[str, Any] = {
        "method": str(loc.get("method", "")),
        "error": str(loc["error"]) if loc.get("error") else None,
        "max": _fmt_num(loc.get("max")), "mean": _fmt_num(loc.get("mean")),
        "confidence_mean": _fmt_num(loc.get("confidence_mean")),
        "params": _fmt_param(loc.get("params")) if loc.get("params") else "",
        "top_window": None, "overlay": None, "confidence": None, "note": None, "map_size": None,
    }
    top = loc.get("top_window")
    if isinstance(top, Mapping):
        view["top_window"] = (f"x {top.get('x')}, y {top.get('y')}, {top.get('width')} × {top.get('height')} px, "
                              f"score {_fmt_num(top.get('score'))}")
    maps = loc.get("maps")
    if view["error"] or not isinstance(maps, Mapping):
        if not view["error"]:
            view["note"] = "no map pictures: this scan result holds only the numbers (scanned by an older synthtrace)"
        return view
    try:
        score, conf = decode_map_png(maps["score"]), decode_map_png(maps["confidence"])
        H, W = (int(v) for v in maps.get("image_size", score.shape))
        if rgb is not None:
            base = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB")
            base.thumbnail((THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE), Image.Resampling.LANCZOS)
            tw, th = base.size
            bg = np.asarray(base, dtype=np.float32)
        else:
            f = THUMBNAIL_MAX_SIDE / max(H, W)
            tw, th = max(1, round(W * f)), max(1, round(H * f))
            bg = np.full((th, tw, 3), 128, np.float32)
            view["note"] = f"overlay drawn on grey: {no_image_reason}"

        def up(a: np.ndarray) -> np.ndarray:
            im = Image.fromarray(np.rint(a * 255).astype(np.uint8), mode="L").resize((tw, th), Image.Resampling.BILINEAR)
            return np.asarray(im, dtype=np.float32) / 255.0

        alpha = (0.6 * up(score))[..., None]
        red = np.zeros_like(bg)
        red[..., 0] = 255
        over = bg * (1 - alpha) + red * alpha
        if isinstance(top, Mapping) and all(k in top for k in ("x", "y", "width", "height")):
            sx, sy = tw / W, th / H
            x0, y0 = int(round(top["x"] * sx)), int(round(top["y"] * sy))
            x1 = min(tw - 1, int(round((top["x"] + top["width"]) * sx)) - 1)
            y1 = min(th - 1, int(round((top["y"] + top["height"]) * sy)) - 1)
            if x1 >= x0 and y1 >= y0:
                yellow = np.array([255, 220, 0], np.float32)
                for t in range(2):  # 2-px outline
                    over[max(y0 + t, 0), x0:x1 + 1] = yellow
                    over[max(y1 - t, 0), x0:x1 + 1] = yellow
                    over[y0:y1 + 1, max(x0 + t, 0)] = yellow
                    over[y0:y1 + 1, max(x1 - t, 0)] = yellow
        view["overlay"] = _png_uri(np.clip(np.rint(over), 0, 255))
        view["confidence"] = _png_uri(np.rint(up(conf) * 255))
        view["map_size"] = f"{score.shape[1]} × {score.shape[0]} map for a {W} × {H} image"
    except Exception as exc:  # noqa: BLE001 - a picture must never stop the report
        view["note"] = f"heatmap pictures could not be drawn: {type(exc).__name__}: {exc}"
    return view


def _spectrum_uri(rgb: np.ndarray) -> tuple[str | None, str | None]:
    """(data URI, None) or (None, why it is missing)."""
    try:
        with tempfile.TemporaryDirectory(prefix="synthtrace-report-") as tmp:
            png = spectrum_figure(rgb, Path(tmp) / "spectrum.png").read_bytes()
    except ImportError:
        return None, "spectrum figure skipped: matplotlib is not installed (pip install 'synthtrace[report]')"
    except Exception as exc:  # noqa: BLE001 - e.g. an image too small for the spectrum
        return None, f"spectrum figure could not be drawn: {exc}"
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii"), None


def _fmt_num(x: Any, digits: int = 3) -> str:
    if x is None:
        return "—"
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not np.isfinite(f):
        return str(f)
    return f"{f:.{digits}f}"


def _fmt_size(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{n:,} bytes" if unit == "bytes" else f"{size:.1f} {unit} ({n:,} bytes)"
        size /= 1024
    return f"{n:,} bytes"  # pragma: no cover


def _fmt_param(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, (str, int, float, bool)):
        return str(v)
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, (list, tuple, set, frozenset)):
        return ", ".join(_fmt_param(x) for x in v) if v else "(none)"
    try:
        return json.dumps(v, default=str, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(v)
