"""A self-contained HTML evaluation report (optional "report" extra: jinja2, matplotlib).

One file, no external requests and no JavaScript: CSS inline, every figure a PNG
data URI. Everything that comes from a manifest, a bundle or a results file (source
names, paths, settings) is escaped by jinja2's autoescape.

Sections: headline metrics (overall, seen vs held-out generators) with bootstrap
95 % intervals; ROC and PR curves; per-source table; reliability diagram of the
calibrated probabilities; robustness (table + curves, when given
:func:`robustness.evaluate_robustness` output) with every perturbation listed as
applied; attribution confusion matrix (``{"labels": [...], "matrix": [[...]]}``);
few-shot curves (metric vs N, from ``synthtrace onboard --out`` JSON); train-time
augmentation as recorded in the bundle; the exact settings and hashes (manifest
sha256, bundle weights sha256). A banner marks numbers measured on the built-in
benchmark (a manifest folder with the ``bench.json`` that ``bench build`` writes).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve

import synthtrace
from synthtrace.errors import InputError
from synthtrace.evaluation.evaluate import BUILTIN_NOTE
from synthtrace.evaluation.scan_report import render_template
from synthtrace.io.manifest import read_manifest

__all__ = ["write_eval_report", "report_provenance", "load_fewshot", "check_attribution", "reliability_bins"]

_TEMPLATE = "report.html"
# Families of the robustness grid drawn as curves (x = strength); name prefix → (axis label, x of each name).
_CURVES = {
    "JPEG quality": ("jpeg_q", lambda n: float(n[len("jpeg_q"):]), True),
    "resize factor": ("resize_", lambda n: float(n[len("resize_"):].rstrip("x")), True),
    "blur σ (px)": ("blur_s", lambda n: float(n[len("blur_s"):]), False),
}


# ------------------------------------------------------------------ inputs


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def report_provenance(bundle_dir: str | Path | None = None, manifest: str | Path | None = None) -> dict[str, Any]:
    """Hashes and facts that pin down what was evaluated: bundle files, manifest, benchmark config."""
    out: dict[str, Any] = {}
    if bundle_dir is not None:
        d = Path(bundle_dir)
        out["bundle"] = str(d)
        for name in ("model.safetensors", "config.json"):
            if (d / name).is_file():
                out[f"bundle {name} sha256"] = sha256_file(d / name)
        cfg = json.loads((d / "config.json").read_text()) if (d / "config.json").is_file() else {}
        training = cfg.get("training", {})
        out["bundle kind"] = cfg.get("kind")
        out["bundle backbone"] = (cfg.get("backbone") or {}).get("id")
        if (cfg.get("backbone") or {}).get("weights_hash"):
            out["backbone weights hash"] = cfg["backbone"]["weights_hash"]
        out["training manifest sha256"] = training.get("manifest_sha256")
        out["training seed"] = training.get("seed")
        out["training augmentation"] = training.get("augment")
    if manifest is not None:

        m = read_manifest(manifest)
        out["manifest"] = str(manifest)
        out["manifest sha256 (canonical rows)"] = m.digest()
        out["manifest file sha256"] = sha256_file(manifest)
        bench = Path(m.root) / "bench.json"
        if bench.is_file():
            out["built-in benchmark config"] = json.loads(bench.read_text()).get("config")
    return out


def load_fewshot(path: str | Path) -> dict[str, Any]:
    """Read and check ``synthtrace onboard --out`` JSON: {"protocol": {...}, "results": {method: {N: [metric per seed]}}}."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{p}: cannot read few-shot results ({exc}); pass the JSON `synthtrace onboard --out` wrote") from exc
    return check_fewshot(data, where=str(p))


def check_fewshot(data: Any, where: str = "few-shot results") -> dict[str, Any]:
    expected = 'expected {"protocol": {...}, "results": {"linear_probe": {"50": [auc_seed0, ...]}, ...}}'
    if not isinstance(data, Mapping) or not isinstance(data.get("results"), Mapping):
        raise InputError(f"{where}: no 'results' mapping; {expected}")
    for method, by_n in data["results"].items():
        if not isinstance(by_n, Mapping):
            raise InputError(f"{where}: results[{method!r}] is not a mapping of N to per-seed values; {expected}")
        for n, vals in by_n.items():
            try:
                int(n)
                [float(v) for v in vals]
            except (TypeError, ValueError) as exc:
                raise InputError(f"{where}: results[{method!r}][{n!r}] must be a list of numbers under an integer N; {expected}") from exc
    return dict(data)


def check_attribution(data: Any, where: str = "attribution results") -> dict[str, Any]:
    """``{"labels": [...], "matrix": [[...]]}`` (rows = true, columns = predicted), as clustering.confusion_matrix gives."""
    if not isinstance(data, Mapping) or "labels" not in data or "matrix" not in data:
        raise InputError(f'{where}: expected {{"labels": [...], "matrix": [[...]]}} (rows true, columns predicted)')
    labels = [str(v) for v in data["labels"]]
    m = np.asarray(data["matrix"], dtype=float)
    if m.shape != (len(labels), len(labels)):
        raise InputError(f"{where}: matrix has shape {m.shape} but there are {len(labels)} labels; it must be square, one row per label")
    return {"labels": labels, "matrix": m.tolist()}


# ------------------------------------------------------------------ figures


def _figure(w: float = 5.2, h: float = 4.0):
    from matplotlib.figure import Figure  # no pyplot: no global state, safe in threads

    fig = Figure(figsize=(w, h), dpi=100, layout="constrained")
    return fig


def _uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _whole_scores(result: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(y, score, probability, source) of reals and of whole-image fakes (splices left out, as in the headline)."""
    rows = result.get("scores") or []
    fakes = set(result.get("seen_sources", [])) | set(result.get("held_out_sources", []))
    keep = [r for r in rows if r["label"] == "real" or r["source"] in fakes]
    y = np.array([r["label"] == "fake" for r in keep], dtype=int)
    s = np.array([r["score"] for r in keep], dtype=float)
    p = np.array([r["probability"] for r in keep], dtype=float)
    src = np.array([r["source"] for r in keep], dtype=object)
    return y, s, p, src


def _roc_pr_figure(result: Mapping[str, Any]) -> str | None:
    y, s, _, src = _whole_scores(result)
    if len(np.unique(y)) < 2:
        return None
    groups = [("all fakes", np.ones(len(y), bool)),
              ("seen generators", np.isin(src, result.get("seen_sources", []))),
              ("held-out generators", np.isin(src, result.get("held_out_sources", [])))]
    fig = _figure(10, 4.2)
    ax_roc, ax_pr = fig.subplots(1, 2)
    for name, sel in groups:
        keep = (y == 0) | sel
        if not (y[keep] == 1).any():
            continue
        fpr, tpr, _ = roc_curve(y[keep], s[keep])
        prec, rec, _ = precision_recall_curve(y[keep], s[keep])
        ax_roc.plot(fpr, tpr, label=name)
        ax_pr.plot(rec, prec, label=name)
    ax_roc.plot([0, 1], [0, 1], ls=":", c="grey", lw=1)
    ax_roc.set(xlabel="false positive rate (reals flagged)", ylabel="true positive rate (fakes caught)", title="ROC")
    ax_pr.set(xlabel="recall (fakes caught)", ylabel="precision", title="precision-recall (fake = positive)", ylim=(0, 1.02))
    ax_roc.legend(loc="lower right", fontsize=8)
    ax_pr.legend(loc="lower left", fontsize=8)
    return _uri(fig)


def reliability_bins(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> tuple[list[dict[str, float]], float]:
    """Equal-width probability bins: (bins with mean predicted, fraction fake, count), expected calibration error."""
    edges = np.linspace(0, 1, n_bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, n_bins - 1)
    bins, ece = [], 0.0
    for b in range(n_bins):
        sel = idx == b
        if not sel.any():
            continue
        conf, frac = float(p[sel].mean()), float(y[sel].mean())
        bins.append({"low": float(edges[b]), "high": float(edges[b + 1]), "mean_probability": conf, "fraction_fake": frac, "n": int(sel.sum())})
        ece += sel.mean() * abs(conf - frac)
    return bins, float(ece)


def _reliability_figure(y: np.ndarray, p: np.ndarray, bins: list[dict[str, float]]) -> str:
    fig = _figure(5.2, 4.4)
    ax, ax_h = fig.subplots(2, 1, height_ratios=(3, 1), sharex=True)
    ax.plot([0, 1], [0, 1], ls=":", c="grey", lw=1, label="perfect calibration")
    ax.plot([b["mean_probability"] for b in bins], [b["fraction_fake"] for b in bins], "o-", label="detector")
    ax.set(ylabel="fraction actually fake", title="reliability (calibrated probability)", xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left", fontsize=8)
    ax_h.hist([p[y == 0], p[y == 1]], bins=np.linspace(0, 1, 11), label=["real", "fake"], stacked=True)
    ax_h.set(xlabel="predicted probability of fake", ylabel="images")
    ax_h.legend(fontsize=7)
    return _uri(fig)


def _robustness_figures(rob: Mapping[str, Any]) -> list[tuple[str, str]]:
    res = rob["results"]
    clean = res["clean"]["overall"]["roc_auc"]
    names = [g["name"] for g in rob["grid"]]
    figs = []
    fig = _figure(10, 4.0)
    ax = fig.subplots()
    aucs = [res[n]["overall"]["roc_auc"] for n in names]
    vals = [np.nan if a is None else a for a in aucs]
    lo = [res[n]["overall"].get("roc_auc_ci_low") for n in names]
    hi = [res[n]["overall"].get("roc_auc_ci_high") for n in names]
    err = np.array([[v - (l if l is not None else v) for v, l in zip(vals, lo)], [(h if h is not None else v) - v for v, h in zip(vals, hi)]])
    ax.bar(range(len(names)), vals, yerr=err, capsize=3, color="#4c72b0")
    if clean is not None:
        ax.axhline(clean, color="#c44e52", ls="--", label=f"clean {clean:.3f}")
        ax.legend(loc="lower left", fontsize=8)
    ax.axhline(0.5, color="grey", ls=":", lw=1)
    ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
    ax.set(ylabel="ROC AUC (95 % CI)", ylim=(0, 1.02), title="ROC AUC per perturbation (all fakes vs all reals)")
    figs.append(("ROC AUC per perturbation", _uri(fig)))

    curves = []
    for title, (prefix, xof, invert) in _CURVES.items():
        pts = sorted((xof(n), res[n]["overall"]["roc_auc"]) for n in names if n.startswith(prefix) and res[n]["overall"]["roc_auc"] is not None)
        if pts:
            curves.append((title, pts, invert))
    if curves:
        fig = _figure(4 * len(curves), 3.4)
        axes = np.atleast_1d(fig.subplots(1, len(curves)))
        for ax, (title, pts, invert) in zip(axes, curves):
            # The clean image sits at quality 100 / factor 1 / sigma 0.
            x0 = {"JPEG quality": 100.0, "resize factor": 1.0}.get(title, 0.0)
            xs, ys = [x0] + [p[0] for p in pts], [clean] + [p[1] for p in pts]
            order = np.argsort(xs)
            ax.plot(np.array(xs)[order], np.array(ys, dtype=float)[order], "o-")
            ax.set(xlabel=title + " (clean included)", ylabel="ROC AUC", ylim=(0, 1.02), title=f"AUC vs {title}")
            if invert:
                ax.invert_xaxis()
            ax.axhline(0.5, color="grey", ls=":", lw=1)
        figs.append(("AUC vs strength", _uri(fig)))
    return figs


def _confusion_figure(att: Mapping[str, Any]) -> str:
    labels, m = att["labels"], np.asarray(att["matrix"], dtype=float)
    rows = m.sum(axis=1, keepdims=True)
    norm = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    side = max(4.0, 0.5 * len(labels) + 2)
    fig = _figure(side + 1, side)
    ax = fig.subplots()
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true", title="attribution confusion (row-normalised)")
    if len(labels) <= 20:
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", fontsize=7, color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _uri(fig)


def _fewshot_summary(fs: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for method, by_n in fs["results"].items():
        for n, vals in sorted(by_n.items(), key=lambda kv: int(kv[0])):
            v = np.asarray([float(x) for x in vals], dtype=float)
            out.append({"method": method, "n": int(n), "mean": float(v.mean()) if v.size else math.nan,
                        "std": float(v.std(ddof=1)) if v.size > 1 else 0.0, "seeds": int(v.size), "values": v.tolist()})
    return out


def _fewshot_figure(summary: list[dict[str, Any]], metric: str) -> str:
    fig = _figure(6, 4)
    ax = fig.subplots()
    for method in dict.fromkeys(r["method"] for r in summary):
        pts = [r for r in summary if r["method"] == method]
        ax.errorbar([r["n"] for r in pts], [r["mean"] for r in pts], yerr=[r["std"] for r in pts], marker="o", capsize=3, label=method)
    ns = sorted({r["n"] for r in summary})
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.set(xlabel="N (real/fake pairs)", ylabel=f"{metric} (mean ± std over seeds)", title=f"few-shot onboarding: {metric} vs N")
    ax.legend(fontsize=8)
    return _uri(fig)


# ------------------------------------------------------------------ report


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return "—" if not math.isfinite(v) else f"{v:.{digits}f}"
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=False)
    return str(v)


def _metric_row(name: str, m: Mapping[str, Any] | None) -> dict[str, str] | None:
    if not m:
        return None
    ci = lambda k: f"[{_fmt(m.get(k + '_ci_low'))}, {_fmt(m.get(k + '_ci_high'))}]" if m.get(k + "_ci_low") is not None else ""  # noqa: E731
    return {
        "name": name, "n_real": _fmt(m.get("n_real")), "n_fake": _fmt(m.get("n_fake")),
        "auc": _fmt(m.get("roc_auc")), "auc_ci": ci("roc_auc"), "ap": _fmt(m.get("average_precision")), "ap_ci": ci("average_precision"),
        "acc": _fmt(m.get("accuracy")), "bal": _fmt(m.get("balanced_accuracy")), "real_acc": _fmt(m.get("real_accuracy")),
        "fake_acc": _fmt(m.get("fake_accuracy")), "tpr1": _fmt(m.get("tpr_at_fpr_1")), "tpr5": _fmt(m.get("tpr_at_fpr_5")),
        "fpr95": _fmt(m.get("fpr_at_tpr_95")), "best": _fmt(m.get("best_accuracy")),
    }


def write_eval_report(
    result: Mapping[str, Any],
    out_path: str | Path,
    *,
    provenance: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
    robustness: Mapping[str, Any] | None = None,
    attribution: Mapping[str, Any] | None = None,
    fewshot: Mapping[str, Any] | None = None,
    title: str = "synthtrace evaluation report",
) -> Path:
    """Write one self-contained HTML report of :func:`evaluate.evaluate_detector` output.

    ``provenance``: :func:`report_provenance` (hashes); ``settings``: the options the
    evaluation ran with, listed as given; ``robustness``: :func:`robustness.evaluate_robustness`
    output; ``attribution``: ``{"labels", "matrix"}``; ``fewshot``: onboarding results JSON.
    """
    try:
        import jinja2  # optional extra 'report'
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("write_eval_report needs jinja2 and matplotlib: pip install 'synthtrace[report]'") from e

    builtin = result.get("dataset") == BUILTIN_NOTE
    prov = dict(provenance or {})
    y, _, p, _ = _whole_scores(result)
    figures: dict[str, Any] = {"roc_pr": _roc_pr_figure(result)}
    calibration = None
    if len(y):
        bins, ece = reliability_bins(y, p)
        calibration = {"bins": [{k: _fmt(v) for k, v in b.items()} for b in bins], "ece": _fmt(ece), "figure": _reliability_figure(y, p, bins)}

    trained = set(result.get("seen_sources", []))
    per_source = []
    for name, m in sorted((result.get("per_source") or {}).get("fake", {}).items()):
        row = _metric_row(name, m)
        if row:
            row["group"] = "seen" if name in trained else ("held-out" if name in result.get("held_out_sources", []) else "other (e.g. splices)")
            per_source.append(row)
    reals = [{"name": k, "n": _fmt(v.get("n")), "real_acc": _fmt(v.get("real_accuracy")), "mean_score": _fmt(v.get("mean_score")),
              "held_out": k in result.get("held_out_cameras", [])}
             for k, v in sorted((result.get("per_source") or {}).get("real", {}).items())]

    rob_view = None
    if robustness:
        res = robustness["results"]
        rows = [dict(_metric_row("clean", res["clean"]["overall"]) or {}, perturbation="none", drop="—", per_image_seed="", same_as="")]
        for g in robustness["grid"]:
            r = _metric_row(g["name"], res[g["name"]]["overall"]) or {"name": g["name"]}
            r["perturbation"] = json.dumps(g["perturbation"])
            r["drop"] = _fmt(robustness.get("auc_drop", {}).get(g["name"]))
            r["per_image_seed"] = g.get("per_image_seed") or ""
            r["same_as"] = res[g["name"]].get("pixels_identical_to") or ""
            rows.append(r)
        rob_view = {"rows": rows, "figures": _robustness_figures(robustness), "n_images": robustness.get("n_images"),
                    "seconds": robustness.get("seconds"), "split": robustness.get("split")}

    att_view = None
    if attribution:
        att = check_attribution(attribution)
        att_view = {"labels": att["labels"], "matrix": [[_fmt(v, 0) if float(v).is_integer() else _fmt(v) for v in row] for row in att["matrix"]],
                    "figure": _confusion_figure(att)}

    fs_view = None
    if fewshot:
        fs = check_fewshot(fewshot)
        metric = str((fs.get("protocol") or {}).get("metric", "ROC AUC"))
        summary = _fewshot_summary(fs)
        fs_view = {"protocol": [(str(k), _fmt(v)) for k, v in (fs.get("protocol") or {}).items()], "metric": metric,
                   "rows": [{**r, "mean": _fmt(r["mean"]), "std": _fmt(r["std"]), "per_seed": ", ".join(_fmt(v) for v in r["values"])} for r in summary],
                   "figure": _fewshot_figure(summary, metric) if summary else None}

    augment = prov.get("training augmentation")
    context = {
        "title": title,
        "version": synthtrace.__version__,
        "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "builtin": builtin,
        "bench_config": _fmt(prov.get("built-in benchmark config")) if prov.get("built-in benchmark config") else None,
        "dataset": result.get("dataset", ""),
        "detector": result.get("detector", ""),
        "split": result.get("split"),
        "n_images": result.get("n_images"),
        "operating_point": result.get("operating_point"),
        "threshold": _fmt(result.get("threshold")),
        "headline": [r for r in (_metric_row("all fakes", result.get("overall")),
                                 _metric_row("seen generators", result.get("seen_generators")),
                                 _metric_row("held-out generators", result.get("held_out_generators"))) if r],
        "seen_sources": result.get("seen_sources", []),
        "held_out_sources": result.get("held_out_sources", []),
        "per_source": per_source,
        "reals": reals,
        "figures": figures,
        "calibration": calibration,
        "robustness": rob_view,
        "attribution": att_view,
        "fewshot": fs_view,
        "augment": _fmt(augment) if augment else None,
        "settings": [(str(k), _fmt(v)) for k, v in dict(settings or {}).items()],
        "provenance": [(str(k), _fmt(v)) for k, v in prov.items() if k != "training augmentation"],
    }

    return render_template(_TEMPLATE, context, out_path)
