"""Evaluate a detector bundle on a manifest split, the honest way.

Reports threshold-free metrics (ROC AUC, AP) with bootstrap 95 % intervals,
thresholded ones at the bundle's calibrated operating point, every fake source
against all reals, and generators the detector was trained on ("seen") apart
from those it never saw ("held-out"). Splices (rows with a mask) are partly real:
they are reported per source, never pooled into the headline numbers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from synthtrace import __version__
from synthtrace.detector import DetectorBundle
from synthtrace.errors import InputError
from synthtrace.metrics.detection import detection_metrics, per_source_metrics, subset_metrics, to_jsonable
from synthtrace.io.images import load_images
from synthtrace.io.manifest import Manifest, read_manifest

BUILTIN_NOTE = "synthtrace built-in benchmark (procedural images, not real photographs; a controlled testbed)"


def dataset_note(manifest: Manifest) -> str:
    """Label numbers measured on the built-in benchmark as such."""
    return BUILTIN_NOTE if (Path(manifest.root) / "bench.json").is_file() else "user manifest"


def evaluate_detector(
    bundle: DetectorBundle | str | Path,
    manifest: Manifest | str | Path,
    *,
    split: str | None = "test",
    operating_point: str = "0.5",
    n_boot: int = 1000,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Score every image of ``split`` (all rows if None or the manifest has no splits)."""
    det = bundle if isinstance(bundle, DetectorBundle) else DetectorBundle.from_pretrained(bundle)
    m = manifest if isinstance(manifest, Manifest) else read_manifest(manifest)
    rows = m.where(split=split) if split and any(m.column("split")) else m
    if len(rows) == 0:
        raise InputError(f"manifest in {m.root}: no rows in split {split!r}; pick another split with --split")
    images = load_images([rows.path_of(r) for r in rows], progress=progress, label=f"decoding {split or 'all'}")
    scores = det.score_images([im.rgb for im in images])
    return summarize(det, rows, scores, operating_point=operating_point, n_boot=n_boot, seed=seed, split=split)


def summarize(
    det: DetectorBundle,
    rows: Manifest,
    scores: np.ndarray,
    *,
    operating_point: str = "0.5",
    n_boot: int = 1000,
    seed: int = 0,
    split: str | None = "test",
) -> dict[str, Any]:
    """All metrics for given scores of ``rows`` (pure: no decoding, no model)."""
    y = rows.labels()
    sources = np.array(rows.column("source"))
    spliced = np.array([bool(r.mask_path) for r in rows])
    whole = ~spliced
    threshold = det.threshold(operating_point)
    trained_on = set(det.training.get("sources", []))
    fake = (y == 1) & whole
    seen = fake & np.isin(sources, list(trained_on))
    held_out = fake & ~np.isin(sources, list(trained_on))
    y_w, s_w = y[whole], scores[whole]

    def subset(mask: np.ndarray) -> dict[str, Any] | None:
        if not mask.any() or not (y_w == 0).any():
            return None
        return subset_metrics(y_w, s_w, mask[whole], threshold=threshold, n_boot=n_boot, seed=seed)

    overall = subset(fake) or detection_metrics(y_w, s_w, threshold=threshold)
    probs = det.calibration.probability(scores)
    return to_jsonable(
        {
            "synthtrace_version": __version__,
            "dataset": dataset_note(rows),
            "split": split,
            "detector": det.name,
            "operating_point": operating_point,
            "threshold": threshold,
            "n_images": len(rows),
            "overall": overall,
            "seen_generators": subset(seen),
            "held_out_generators": subset(held_out),
            "seen_sources": sorted(set(sources[seen])),
            "held_out_sources": sorted(set(sources[held_out])),
            # Fewer resamples per source: dozens of sources x 1000 would dominate the run time.
            "per_source": per_source_metrics(y, scores, sources, threshold=threshold, n_boot=min(n_boot, 200), seed=seed),
            "held_out_cameras": sorted(set(sources[(y == 0)]) - trained_on),
            "scores": [
                {"path": r.path, "label": r.label, "source": r.source, "score": float(s), "probability": float(p)}
                for r, s, p in zip(rows, scores, probs)
            ],
        }
    )


def write_metrics(result: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path
