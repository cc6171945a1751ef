"""Evaluate a folder of predicted masks against a folder of ground-truth masks.

Binary mode (``num_classes=None``): files are masks or score maps; a ground-truth
pixel is "edited" when >= 128 (or > 0 when the file holds only 0/1); predictions are
scores in [0, 1] (8-bit / 255), binarised at 0.5 for the error analysis. Label mode
(``num_classes=N``): PNG label images with classes 0..N-1 and an ignore label.
Files are paired by stem (name without extension).
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from synthtrace.metrics.detection import to_jsonable
from synthtrace.metrics.mask_errors import (
    CODE_NAMES,
    ERROR_PALETTE,
    RATIO_KEYS,
    ErrorAnalyzer,
    combined_error_map,
    error_map_rgb,
)
from synthtrace.metrics.masks import mask_metrics

MASK_SUFFIXES = {".png", ".bmp", ".tif", ".tiff", ".npy"}


def _read(path: Path) -> np.ndarray:
    if path.suffix == ".npy":
        return np.load(path, allow_pickle=False)
    with Image.open(path) as im:
        if im.mode in ("RGB", "RGBA"):
            im = im.convert("L")
        return np.asarray(im)


def _pairs(pred_dir: Path, gt_dir: Path) -> tuple[list[tuple[str, Path, Path]], list[str], list[str]]:
    def index(d: Path) -> dict[str, Path]:
        if not d.is_dir():
            raise FileNotFoundError(f"not a folder: {d}")
        return {p.stem: p for p in sorted(d.iterdir()) if p.suffix.lower() in MASK_SUFFIXES}

    p, g = index(pred_dir), index(gt_dir)
    common = sorted(set(p) & set(g))
    return [(k, p[k], g[k]) for k in common], sorted(set(p) - set(g)), sorted(set(g) - set(p))


def _binary_gt(a: np.ndarray) -> np.ndarray:
    return a > 0 if a.max(initial=0) <= 1 else a >= 128


def _score(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.bool_:
        return a.astype(np.float64)
    if np.issubdtype(a.dtype, np.floating):
        return np.clip(a.astype(np.float64), 0, 1)
    return a.astype(np.float64) / (255.0 if a.max(initial=0) > 1 else 1.0)


def evaluate_mask_dirs(pred_dir: str | Path, gt_dir: str | Path, *, num_classes: int | None = None,
                       ignore_index: int = 255, d: int | None = None, d_frac: float = 0.01,
                       keep_maps: int = 24) -> dict[str, Any]:
    """Error analysis (+ mask metrics in binary mode) of every paired file.

    Returns a JSON-ready dict; ``_maps`` (dropped by :func:`to_json`) holds up to
    ``keep_maps`` colour-coded error maps for the report.
    """
    pairs, only_pred, only_gt = _pairs(Path(pred_dir), Path(gt_dir))
    if not pairs:
        raise FileNotFoundError(f"no files with the same name in {pred_dir} and {gt_dir}")
    binary = num_classes is None
    names = ["edited"] if binary else [str(i) for i in range(num_classes)]
    an = ErrorAnalyzer(2 if binary else num_classes, ignore_index=ignore_index, d=d, d_frac=d_frac,
                       class_names=["authentic", "edited"] if binary else names)
    scores, masks, per_image, maps = [], [], [], []
    for stem, pp, gp in pairs:
        pa, ga = _read(pp), _read(gp)
        if pa.shape != ga.shape:
            raise ValueError(f"{stem}: prediction {pa.shape} and ground truth {ga.shape} differ in shape")
        if binary:
            s = _score(pa)
            g = _binary_gt(ga)
            scores.append(s)
            masks.append(g)
            pl, gl = (s >= 0.5).astype(np.uint8), g.astype(np.uint8)
            res = an.add(pl, gl, return_maps=len(maps) < keep_maps)
            em = res.error_maps[1] if res.error_maps is not None else None
        else:
            res = an.add(pa, ga, return_maps=len(maps) < keep_maps)
            em = combined_error_map(res.error_maps) if res.error_maps is not None else None
        c = res.counts
        cls = [1] if binary else range(num_classes)
        row = {"name": stem, "d": res.d}
        for k in ("TP", "FP_bnd", "FP_ext", "FP_seg", "FN_bnd", "FN_ext", "FN_seg"):
            row[k] = int(sum(int(c[k][i]) for i in cls))
        per_image.append(row)
        if em is not None:
            maps.append((stem, em))
    summary = an.summary()
    if binary:  # the background class is not part of the localization score
        summary["per_class"] = [r for r in summary["per_class"] if r["class"] == "edited"]
        summary["mean"] = {k: summary["per_class"][0][k] for k in RATIO_KEYS}
        summary["classes_in_mean"] = {k: (0 if v is None else 1) for k, v in summary["mean"].items()}
    out: dict[str, Any] = {
        "mode": "binary" if binary else "labels",
        "num_classes": 1 if binary else num_classes,
        "ignore_index": ignore_index,
        "d": d, "d_frac": None if d is not None else d_frac,
        "n_images": len(pairs),
        "unpaired_predictions": only_pred, "unpaired_ground_truth": only_gt,
        "error_analysis": summary,
        "per_image": per_image,
    }
    if binary:
        mm = mask_metrics(scores, masks)
        mm.pop("per_image")
        out["mask_metrics"] = mm
    out["_maps"] = maps
    return out


def to_json(result: dict[str, Any]) -> str:

    return json.dumps(to_jsonable({k: v for k, v in result.items() if not k.startswith("_")}), indent=2,
                      allow_nan=False)


def _png_uri(rgb: np.ndarray, max_side: int = 256) -> str:
    im = Image.fromarray(rgb)
    if max(im.size) > max_side:
        im.thumbnail((max_side, max_side), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _pct(v: Any) -> str:
    return "—" if v is None else f"{100 * v:.1f}"


def write_masks_report(result: dict[str, Any], path: str | Path) -> Path:
    """A self-contained HTML report: mean table, per-class table, colour-coded error maps."""
    e = html.escape
    ea = result["error_analysis"]
    m = ea["mean"]
    keys = [("IoU", "IoU"), ("E_bnd_oU", "E bnd oU"), ("E_ext_oU", "E ext oU"), ("E_seg_oU", "E seg oU"),
            ("E_bnd_renorm", "Ẽ bnd"), ("E_ext_renorm", "Ẽ ext"), ("E_seg_renorm", "Ẽ seg"),
            ("FP_bnd_oU", "FP bnd"), ("FP_ext_oU", "FP ext"), ("FP_seg_oU", "FP seg"),
            ("FN_bnd_oU", "FN bnd"), ("FN_ext_oU", "FN ext"), ("FN_seg_oU", "FN seg")]
    dtext = str(result["d"]) if result["d"] is not None else f"{result['d_frac']} × diagonal"
    itext = "" if result["mode"] == "binary" else f", ignore label {result['ignore_index']}"
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>synthtrace mask evaluation</title>",
             "<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;"
             "margin:1em 0}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#eee}"
             ".maps{display:flex;flex-wrap:wrap;gap:12px}.maps figure{margin:0}.maps img{image-rendering:pixelated;"
             "border:1px solid #999}.sw{display:inline-block;width:1em;height:1em;border:1px solid #777;"
             "vertical-align:middle;margin:0 4px 0 10px}</style></head><body>",
             "<h1>Mask evaluation: fine-grained error analysis</h1>",
             f"<p>{result['n_images']} image(s), mode <b>{e(result['mode'])}</b>, "
             f"d = {e(dtext)}{e(itext)}. "
             "Counts are summed per class over all images, ratios computed per class, then averaged over "
             "classes (NaN skipped; n = classes behind each mean). Values in %.</p>"]
    parts.append("<h2>Mean over classes</h2><table><tr>" + "".join(f"<th>{e(h)}</th>" for _, h in keys) + "</tr><tr>"
                 + "".join(f"<td>{_pct(m.get(k))}</td>" for k, _ in keys) + "</tr><tr>"
                 + "".join(f"<td>n={ea['classes_in_mean'].get(k, 0)}</td>" for k, _ in keys) + "</tr></table>")
    if "mask_metrics" in result:
        mm = result["mask_metrics"]

        def f(v: Any) -> str:
            return "—" if v is None else f"{v:.3f}"

        parts.append("<h2>Mask metrics</h2><table><tr><th>pixel AUC</th><th>image AUC (map max)</th>"
                     "<th>F1@0.5 edited</th><th>IoU@0.5 edited</th><th>best-threshold F1 per image (oracle)</th>"
                     "<th>F1@0.5 authentic</th></tr><tr>"
                     f"<td>{f(mm['pixel_auc'])}</td><td>{f(mm['image_auc_from_max'])}</td>"
                     f"<td>{f(mm['edited']['f1_at_threshold'])}</td><td>{f(mm['edited']['iou_at_threshold'])}</td>"
                     f"<td>{f(mm['edited']['f1_best_per_image'])}</td><td>{f(mm['authentic']['f1_at_threshold'])}</td>"
                     "</tr></table><p>Authentic images: an empty prediction on an empty mask counts as F1 = IoU = 1.</p>")
    parts.append("<h2>Per class</h2><table><tr><th>class</th><th>TP px</th>"
                 + "".join(f"<th>{e(h)}</th>" for _, h in keys) + "</tr>")
    for r in ea["per_class"]:
        parts.append(f"<tr><td>{e(str(r['class']))}</td><td>{r['TP']}</td>"
                     + "".join(f"<td>{_pct(r.get(k))}</td>" for k, _ in keys) + "</tr>")
    parts.append("</table><h2>Error maps</h2><p>")
    for code in (1, 2, 3, 5, 7, 4, 6, 8, -1):
        rgb = ERROR_PALETTE[code]
        parts.append(f"<span class='sw' style='background:rgb{rgb}'></span>{e(CODE_NAMES[code])}")
    parts.append("</p><div class='maps'>")
    for name, em in result.get("_maps", []):
        parts.append(f"<figure><img alt='{e(name)}' src='{_png_uri(error_map_rgb(em))}'>"
                     f"<figcaption>{e(name)}</figcaption></figure>")
    parts.append("</div></body></html>")
    p = Path(path)
    p.write_text("".join(parts), encoding="utf-8")
    return p
