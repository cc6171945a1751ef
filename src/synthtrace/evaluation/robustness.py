"""Robustness evaluation: the same test set after the perturbations platforms apply.

detection-methods.md §8: JPEG (q 95/75/60/30), resize (0.5×, 0.25×), Gaussian blur
(σ 1, 2, 3), noise, crop, and a "social platform" chain (long side to 1080 px, then
JPEG q75). Every metric of :func:`evaluate.summarize` is reported per perturbation,
next to the clean numbers, with the operating threshold calibrated on clean
validation data (what a deployed detector would use).

Each image is decoded once; perturbations are applied in memory and the detector
scores each perturbed set in batches. Perturbations with a ``seed`` (noise) use
``seed + image index`` so images do not share one noise pattern; the grid records
the base perturbation and that rule.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from synthtrace import __version__
from synthtrace.detector import DetectorBundle
from synthtrace.errors import ConfigError, InputError
from synthtrace.evaluation.evaluate import summarize
from synthtrace.io.perturbations import (
    JPEG,
    Blur,
    CenterCrop,
    Chain,
    GaussianNoise,
    Perturbation,
    ResizeLongSide,
    Scale,
    apply_perturbations,
)
from synthtrace.io.images import load_images
from synthtrace.io.manifest import Manifest, read_manifest
from synthtrace.progress import progress_bar

__all__ = ["DEFAULT_GRID", "EXTRA_PERTURBATIONS", "evaluate_robustness", "perturb_for_image", "grid_from_names"]

# (name, perturbation): 12 perturbations; "clean" is always evaluated first.
DEFAULT_GRID: tuple[tuple[str, Perturbation], ...] = (
    ("jpeg_q95", JPEG(95)),
    ("jpeg_q75", JPEG(75)),
    ("jpeg_q60", JPEG(60)),
    ("jpeg_q30", JPEG(30)),
    ("resize_0.5x", Scale(0.5)),
    ("resize_0.25x", Scale(0.25)),
    ("blur_s1", Blur(1.0)),
    ("blur_s2", Blur(2.0)),
    ("blur_s3", Blur(3.0)),
    ("noise_s5", GaussianNoise(5.0, seed=0)),
    ("center_crop_0.5", CenterCrop(0.5)),
    ("social_1080_q75", Chain((ResizeLongSide(1080), JPEG(75)))),
)


# Named perturbations outside the default grid, selectable by name (§8 also lists "to 64 px").
EXTRA_PERTURBATIONS: dict[str, Perturbation] = {"resize_64px": ResizeLongSide(64)}


def grid_from_names(names: Sequence[str]) -> tuple[tuple[str, Perturbation], ...]:
    """A grid by name from :data:`DEFAULT_GRID` and :data:`EXTRA_PERTURBATIONS` (e.g. ``["jpeg_q60", "resize_0.5x"]``)."""
    known = {**dict(DEFAULT_GRID), **EXTRA_PERTURBATIONS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"robustness perturbations {unknown}: expected names from {', '.join(known)}")
    return tuple((n, known[n]) for n in names)


def perturb_for_image(op: Perturbation, index: int) -> Perturbation:
    """The perturbation as applied to image ``index``: a seeded one gets ``seed + index``."""
    if isinstance(op, Chain):
        return Chain(tuple(perturb_for_image(s, index) for s in op.steps))
    if any(f.name == "seed" for f in dataclasses.fields(op)):  # type: ignore[arg-type]
        return dataclasses.replace(op, seed=op.seed + index)  # type: ignore[attr-defined]
    return op


def _digest(pixels: Sequence[np.ndarray]) -> str:
    h = hashlib.sha256()
    for p in pixels:
        h.update(str(p.shape).encode())
        h.update(np.ascontiguousarray(p).data)
    return h.hexdigest()


def _subsample(rows: Manifest, max_images: int | None, seed: int) -> Manifest:
    if max_images is None or len(rows) <= max_images:
        return rows
    keep = np.sort(np.random.default_rng(seed).choice(len(rows), size=max_images, replace=False))
    return dataclasses.replace(rows, rows=tuple(rows.rows[i] for i in keep))


def evaluate_robustness(
    bundle: DetectorBundle | str | Path,
    manifest: Manifest | str | Path,
    *,
    split: str | None = "test",
    grid: Sequence[tuple[str, Perturbation]] = DEFAULT_GRID,
    operating_point: str = "0.5",
    n_boot: int = 200,
    seed: int = 0,
    max_images: int | None = None,
    workers: int = 2,
    progress: bool = True,
) -> dict[str, Any]:
    """Metrics on the clean split and after each perturbation of ``grid``.

    Returns ``{"grid": [...], "results": {"clean": summary, name: summary, ...},
    "auc_drop": {name: clean AUC − perturbed AUC}, "seconds": {...}, ...}`` where each
    summary is :func:`evaluate.summarize`'s dict; only ``results["clean"]`` keeps the
    per-image scores (so it doubles as the ordinary evaluation). ``max_images``
    evaluates a seeded random subset of the split.
    """
    names = [n for n, _ in grid]
    if len(set(names)) != len(names) or "clean" in names:
        raise ConfigError(f"robustness grid names must be unique and not 'clean'; got {names}")
    det = bundle if isinstance(bundle, DetectorBundle) else DetectorBundle.from_pretrained(bundle)
    m = manifest if isinstance(manifest, Manifest) else read_manifest(manifest)
    rows = m.where(split=split) if split and any(m.column("split")) else m
    if len(rows) == 0:
        raise InputError(f"manifest in {m.root}: no rows in split {split!r}; pick another split with --split")
    rows = _subsample(rows, max_images, seed)
    t0 = time.perf_counter()
    images = [im.rgb for im in load_images([rows.path_of(r) for r in rows], progress=progress, label=f"decoding {split or 'all'}")]
    seconds = {"decode": time.perf_counter() - t0, "perturb": 0.0, "score": 0.0, "metrics": 0.0}
    # A perturbation can leave every image as another one did (e.g. the social chain's
    # 1080-px resize does nothing to small images, leaving JPEG q75): score such a set once.
    scored: dict[str, tuple[str, np.ndarray]] = {}

    def run(name: str, op: Perturbation | None, pool: ThreadPoolExecutor) -> dict[str, Any]:
        t = time.perf_counter()
        if op is None:
            pixels = images
        else:
            pixels = list(pool.map(lambda i: apply_perturbations(images[i], (perturb_for_image(op, i),)), range(len(images))))
        digest = _digest(pixels)
        seconds["perturb"] += time.perf_counter() - t
        t = time.perf_counter()
        same_as, scores = scored.get(digest, (None, None))
        if scores is None:
            scores = det.score_images(pixels)
            scored[digest] = (name, scores)
        seconds["score"] += time.perf_counter() - t
        t = time.perf_counter()
        summary = summarize(det, rows, scores, operating_point=operating_point, n_boot=n_boot, seed=seed, split=split)
        seconds["metrics"] += time.perf_counter() - t
        if op is not None:
            summary.pop("scores", None)
            summary["perturbation"] = op.to_dict()
            summary["pixels_identical_to"] = same_as
        return summary

    results: dict[str, Any] = {}
    # Pillow and numpy release the GIL for the heavy parts, so threads do help.
    with ThreadPoolExecutor(max(1, workers)) as pool, progress_bar(len(grid) + 1, "robustness (perturbations)", enabled=progress) as advance:
        results["clean"] = run("clean", None, pool)
        advance(1)
        for name, op in grid:
            results[name] = run(name, op, pool)
            advance(1)
    clean_auc = results["clean"]["overall"]["roc_auc"]
    auc_drop = {
        n: (None if clean_auc is None or results[n]["overall"]["roc_auc"] is None else clean_auc - results[n]["overall"]["roc_auc"])
        for n in names
    }
    seconds["total"] = time.perf_counter() - t0
    return {
        "synthtrace_version": __version__,
        "dataset": results["clean"]["dataset"],
        "detector": det.name,
        "split": split,
        "n_images": len(rows),
        "n_boot": n_boot,
        "seed": seed,
        "operating_point": operating_point,
        "grid": [
            {"name": n, "perturbation": op.to_dict(), "description": op.label(),
             "per_image_seed": "seed + image index" if perturb_for_image(op, 1) != op else None}
            for n, op in grid
        ],
        "results": results,
        "auc_drop": auc_drop,
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
    }
