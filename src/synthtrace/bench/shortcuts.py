"""The shortcut check: can trivial statistics tell real from fake?

If logistic regression on channel means and standard deviations, file size and
JPEG quality separates the classes, a detector can score well without looking at
any generator trace, and every number measured on the data is suspect.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from synthtrace.metrics.detection import roc_auc
from synthtrace.io.images import estimate_jpeg_quality
from synthtrace.io.manifest import Manifest

FEATURES = ("mean_r", "mean_g", "mean_b", "std_r", "std_g", "std_b", "file_size", "jpeg_quality")


def trivial_statistics(manifest: Manifest) -> np.ndarray:
    """(N, 8): channel means and stds, file size in bytes, JPEG quality (0 if not JPEG)."""
    out = np.empty((len(manifest), len(FEATURES)), dtype=np.float64)
    for i, row in enumerate(manifest):
        path = manifest.path_of(row)
        with Image.open(path) as im:
            q = estimate_jpeg_quality(im.quantization) if getattr(im, "quantization", None) else None
            px = np.asarray(im.convert("RGB"), dtype=np.float64).reshape(-1, 3)
        out[i] = [*px.mean(0), *px.std(0), path.stat().st_size, q or 0.0]
    return out


def shortcut_auc(manifest: Manifest, *, folds: int = 5, seed: int = 0) -> dict[str, float]:
    """Cross-validated ROC AUC of logistic regression on trivial statistics.

    Returns the pooled AUC and one per fake source (that source's fakes vs all
    reals), from the same out-of-fold predictions.
    """
    X = trivial_statistics(manifest)
    y = manifest.labels()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    score = cross_val_predict(model, X, y, cv=folds, method="decision_function")
    sources = np.array(manifest.column("source"))
    result = {"pooled": roc_auc(y, score)}
    for src in sorted(set(sources[y == 1])):
        sel = (y == 0) | (sources == src)
        result[src] = roc_auc(y[sel], score[sel])
    return result
