"""ROC AUC of the spectral periodic-peak score on the built-in benchmark, PNG vs JPEG.

Run (about 1-2 minutes on 2 cores at the defaults):

    python benchmarks/spectral_auc.py                       # size 128, 60 per generator
    python benchmarks/spectral_auc.py --size 128 256 --per-source 60 40   # both, one figure
    python benchmarks/spectral_auc.py --bench /tmp/b128     # reuse a PNG build

What it does:

1. Builds the built-in benchmark (``synthtrace.bench.build``) with ``--encode png``
   (lossless), standard difficulty, no splices, in a temporary folder (or reads
   an existing PNG build given with ``--bench``).
2. For every image computes the spectral periodic-peak score exactly as
   ``synthtrace.signals.analyze_pixels`` reports it (the ``spectrum/periodic_peaks``
   Evidence's ``strength``), with the file's bytes passed so the JPEG history and
   the JPEG-grid rules apply.
3. Re-encodes the SAME decoded pixels as JPEG (``--jpeg-quality``, default 75,
   Pillow defaults otherwise: 4:2:0 chroma) in memory and scores them again, with
   the JPEG bytes passed (``is_jpeg`` is then true and JPEG-grid peaks are
   discounted).
4. Prints ROC AUC (fake = positive, score = periodic-peak strength) with a
   stratified bootstrap 95 % interval, per generator family and per generator,
   each against ALL camera (real) images, for both encodings side by side; also
   the share of images at or above the "generated" threshold (0.55).
5. Saves a figure (ROC curves per family and score distributions, PNG vs JPEG)
   to ``--figure`` (default docs/figures/spectral_auc.png).

Caveats: the benchmark is procedural (measured on the synthtrace built-in
benchmark, not on photographs). Its fingerprint gains are calibrated per encoder;
a PNG build's fakes carry a smaller fingerprint than a JPEG build's, so the JPEG
column here is "a PNG-calibrated image re-saved at q75", a hard case.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from synthtrace.bench.build import BenchConfig, build_benchmark
from synthtrace.metrics.detection import bootstrap_ci, roc_auc
from synthtrace.io.manifest import read_manifest
from synthtrace.signals import GENERATED_THRESHOLD, analyze_pixels

FAMILY_ORDER = ("tconv", "pixelshuffle", "nearest", "bilinear", "ldm")
ACCEPT_FAMILIES = ("tconv", "pixelshuffle")
ACCEPT_AUC = 0.8
ROOT = Path(__file__).resolve().parents[1]


def spectral_score(rgb: np.ndarray, data: bytes) -> tuple[float, dict]:
    """The periodic-peak strength analyze_pixels reports, and its details."""
    ev = next(e for e in analyze_pixels(rgb, data=data) if e.name == "periodic_peaks")
    if ev.error:
        raise RuntimeError(f"spectral signal failed: {ev.error}")
    return float(ev.strength), ev.details


def to_jpeg(rgb: np.ndarray, quality: int) -> tuple[np.ndarray, bytes]:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    data = buf.getvalue()
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), data


def score_bench(manifest_path: Path, quality: int) -> list[dict]:
    """One record per non-splice image: label, family, source, PNG and JPEG scores."""
    m = read_manifest(manifest_path)
    out = []
    for row in m:
        if row.mask_path or row.source.startswith("splice:"):
            continue
        data = m.path_of(row).read_bytes()
        rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        s_png, d_png = spectral_score(rgb, data)
        s_jpg, d_jpg = spectral_score(*to_jpeg(rgb, quality))
        out.append({
            "label": row.label, "family": row.family or "camera", "source": row.source,
            "png": s_png, "jpeg": s_jpg,
            "png_quarter": d_png["by_order"]["1/4"], "png_half": d_png["half_band_strength"],
        })  # fmt: skip
    return out


def auc_row(reals: list[dict], fakes: list[dict], key: str, n_boot: int) -> tuple[float, tuple[float, float], float]:
    y = np.r_[np.zeros(len(reals)), np.ones(len(fakes))].astype(int)
    s = np.array([r[key] for r in reals] + [f[key] for f in fakes], dtype=float)
    auc = roc_auc(y, s)
    ci = bootstrap_ci(y, s, "roc_auc", n_boot=n_boot, seed=0) if n_boot else (float("nan"), float("nan"))
    flagged = float(np.mean([f[key] >= GENERATED_THRESHOLD for f in fakes]))
    return auc, ci, flagged


def report(records: list[dict], size: int, quality: int, n_boot: int) -> dict[str, dict[str, float]]:
    reals = [r for r in records if r["label"] == "real"]
    fakes = [r for r in records if r["label"] == "fake"]
    fams = [f for f in FAMILY_ORDER if any(r["family"] == f for r in fakes)]
    gens = sorted({r["source"] for r in fakes}, key=lambda g: (FAMILY_ORDER.index(g.rsplit("-s", 1)[0]), g))
    print(f"\n== size {size}: {len(reals)} camera images (all reals) vs {len(fakes)} fakes ==")
    for key in ("png", "jpeg"):
        fpr = np.mean([r[key] >= GENERATED_THRESHOLD for r in reals])
        print(f"  cameras flagged 'generated' (score >= {GENERATED_THRESHOLD}) [{key}]: {fpr:.1%}")
    head = f"  {'fakes':18s} {'n':>4s}   {'PNG AUC [95% CI]':24s} {'flag':>5s}   {'JPEG q' + str(quality) + ' AUC [95% CI]':24s} {'flag':>5s}"
    print(head)
    summary: dict[str, dict[str, float]] = {}
    groups = [(f, [r for r in fakes if r["family"] == f]) for f in fams]
    groups += [("  " + g, [r for r in fakes if r["source"] == g]) for g in gens]
    for name, fk in groups:
        cells = []
        for key in ("png", "jpeg"):
            auc, (lo, hi), flag = auc_row(reals, fk, key, n_boot)
            cells.append(f"{auc:.3f} [{lo:.3f}, {hi:.3f}]     {flag:5.0%}")
            summary.setdefault(name.strip(), {})[key] = auc
        print(f"  {name:18s} {len(fk):4d}   {cells[0]}   {cells[1]}")
        if name == fams[-1]:
            print("  per generator:")
    print("  (flag = share of those fakes with score >= the 'generated' threshold)")
    # Why: how the score's parts separate on the PNG build (diagnostic).
    print("  PNG diagnostics, AUC of score parts (1/4-order peak strength; 1/2 'demosaic' strength):")
    for f in fams:
        fk = [r for r in fakes if r["family"] == f]
        q = auc_row(reals, fk, "png_quarter", 0)[0]
        h = auc_row(reals, fk, "png_half", 0)[0]
        print(f"    {f:14s} quarter {q:.3f}   half {h:.3f}")
    return summary


def roc_curve(reals: list[float], fakes: list[float]) -> tuple[np.ndarray, np.ndarray]:
    s = np.r_[reals, fakes]
    y = np.r_[np.zeros(len(reals)), np.ones(len(fakes))]
    thr = np.r_[np.inf, np.unique(s)[::-1]]
    tpr = np.array([(s[y == 1] >= t).mean() for t in thr])
    fpr = np.array([(s[y == 0] >= t).mean() for t in thr])
    return np.r_[fpr, 1.0], np.r_[tpr, 1.0]


def figure(results: dict[int, list[dict]], quality: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(results)
    fig, axes = plt.subplots(len(sizes), 3, figsize=(15, 4.6 * len(sizes)), squeeze=False)
    colours = dict(zip(FAMILY_ORDER, ("C3", "C1", "C0", "C2", "C4")))
    for row, size in zip(axes, sizes):
        recs = results[size]
        reals = [r for r in recs if r["label"] == "real"]
        for ax, key, title in ((row[0], "png", "PNG (lossless)"), (row[1], "jpeg", f"same images, JPEG q{quality}")):
            for fam in FAMILY_ORDER:
                fk = [r[key] for r in recs if r["family"] == fam]
                if not fk:
                    continue
                fpr, tpr = roc_curve([r[key] for r in reals], fk)
                auc = roc_auc(np.r_[np.zeros(len(reals)), np.ones(len(fk))].astype(int), [r[key] for r in reals] + fk)
                ax.plot(fpr, tpr, color=colours[fam], label=f"{fam} (AUC {auc:.2f})")
            ax.plot([0, 1], [0, 1], "k:", lw=0.8)
            ax.set(xlabel="false-positive rate (cameras)", ylabel="true-positive rate",
                   title=f"{size} px, {title}: fakes vs all cameras")  # fmt: skip
            ax.legend(loc="lower right", fontsize=8)
        ax = row[2]
        groups = ["camera", *[f for f in FAMILY_ORDER if any(r["family"] == f for r in recs)]]
        data, pos, cols = [], [], []
        for i, g in enumerate(groups):
            for j, key in enumerate(("png", "jpeg")):
                data.append([r[key] for r in recs if r["family"] == g])
                pos.append(i * 3 + j)
                cols.append("0.35" if key == "png" else "0.75")
        bp = ax.boxplot(data, positions=pos, widths=0.8, patch_artist=True, showfliers=True, flierprops={"markersize": 2})
        for patch, c in zip(bp["boxes"], cols):
            patch.set_facecolor(c)
        ax.axhline(GENERATED_THRESHOLD, color="r", ls="--", lw=0.8, label=f"'generated' threshold {GENERATED_THRESHOLD}")
        ax.set_xticks([i * 3 + 0.5 for i in range(len(groups))], groups, rotation=20)
        ax.set(ylabel="periodic-peak score", title=f"{size} px: score by source (dark PNG, light JPEG q{quality})")
        ax.legend(loc="upper right", fontsize=8)
    fig.suptitle("Spectral periodic-peak score — measured on the synthtrace built-in benchmark (procedural images)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, nargs="+", default=[128], help="image size(s) to build (default 128)")
    ap.add_argument("--per-source", type=int, nargs="+", default=[60],
                    help="fakes per generator (each with a real twin); one value, or one per --size")
    ap.add_argument("--jpeg-quality", type=int, default=75, help="quality of the JPEG re-encode (default 75)")
    ap.add_argument("--workers", type=int, default=2, help="build processes (default 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bench", type=Path, nargs="+", help="existing PNG build folder(s) to use instead of building (one per --size)")
    ap.add_argument("--boot", type=int, default=1000, help="bootstrap replicates for the CIs (0: none)")
    ap.add_argument("--figure", type=Path, default=ROOT / "docs" / "figures" / "spectral_auc.png")
    args = ap.parse_args(argv)
    if args.bench and len(args.bench) != len(args.size):
        ap.error("give one --bench folder per --size")
    if len(args.per_source) not in (1, len(args.size)):
        ap.error("give one --per-source value, or one per --size")
    per_source = args.per_source * len(args.size) if len(args.per_source) == 1 else args.per_source

    results: dict[int, list[dict]] = {}
    summaries = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, size in enumerate(args.size):
            if args.bench:
                out = args.bench[i]
                print(f"using the PNG build in {out}")
            else:
                out = Path(tmp) / f"bench{size}"
                cfg = BenchConfig(size=size, per_source=per_source[i], seed=args.seed, encode="png", splice_fraction=0.0)
                s = build_benchmark(out, cfg, workers=args.workers)
                print(f"built {s.n_images} PNG images of {size}x{size} ({cfg.difficulty}) in {s.seconds:.1f} s")
            t0 = time.perf_counter()
            results[size] = score_bench(out / "manifest.csv", args.jpeg_quality)
            print(f"scored {len(results[size])} images twice (PNG, JPEG q{args.jpeg_quality}) in {time.perf_counter() - t0:.1f} s")
            summaries[size] = report(results[size], size, args.jpeg_quality, args.boot)
    figure(results, args.jpeg_quality, args.figure)
    print(f"\nfigure: {args.figure}")
    ok = True
    for size, summ in summaries.items():
        for fam in ACCEPT_FAMILIES:
            auc = summ.get(fam, {}).get("png", float("nan"))
            status = "ok" if auc >= ACCEPT_AUC else "BELOW"
            ok &= auc >= ACCEPT_AUC
            print(f"acceptance (PNG, {size} px): {fam} AUC {auc:.3f} >= {ACCEPT_AUC}: {status}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
