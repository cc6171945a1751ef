"""Does the fast path decide like float32? The agreement check for bf16 / int8 / compile /
token merging (``bf16+tome16`` ...).

Protocol (issue 8): a linear probe is fitted on **float32** features of the
``train`` split, calibrated and thresholded on float32 features of ``val``
(``fit_calibration``: Platt + FPR thresholds, as ``train`` does), and then applied
to the ``test`` split twice, to float32 features and to fast-path features. The
share of test images whose decision (fake iff score >= threshold) is the same is
the agreement, per operating point. Only the features change between the two
runs; probe, calibration and thresholds are fixed, so a disagreement is caused by
the precision alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synthtrace.backbones.base import Backbone
from synthtrace.backbones.registry import create_backbone
from synthtrace.backbones.speed import Precision, compile_seconds
from synthtrace.errors import InputError
from synthtrace.features.extract import check_precision, extract_features
from synthtrace.heads.calibration import fit_calibration
from synthtrace.heads.linear_probe import LinearProbe
from synthtrace.io.manifest import Manifest, read_manifest
from synthtrace.metrics.detection import roc_auc
from synthtrace.training.train import training_splits

__all__ = ["AgreementReport", "decision_agreement", "feature_closeness", "fastpath_agreement", "probe_decisions"]


def decision_agreement(decisions_a: Any, decisions_b: Any) -> float:
    """Share of positions where two boolean decision vectors are equal (NaN when empty)."""
    a, b = np.asarray(decisions_a, dtype=bool), np.asarray(decisions_b, dtype=bool)
    if a.shape != b.shape:
        raise InputError(f"decision vectors differ in shape: {a.shape} vs {b.shape}.")
    return float("nan") if a.size == 0 else float(np.mean(a == b))


def feature_closeness(reference: Any, other: Any) -> dict[str, float]:
    """How far ``other`` features are from ``reference`` (rows = images).

    ``max_abs``: largest element difference; ``max_rel_l2``: largest
    ||other - ref|| / ||ref|| over rows; ``min_cosine``: smallest row cosine.
    """
    ref, oth = np.asarray(reference, dtype=np.float64), np.asarray(other, dtype=np.float64)
    if ref.shape != oth.shape:
        raise InputError(f"feature matrices differ in shape: {ref.shape} vs {oth.shape}.")
    if ref.size == 0:
        return {"max_abs": 0.0, "max_rel_l2": 0.0, "min_cosine": 1.0}
    diff = np.linalg.norm(oth - ref, axis=1)
    nr, no = np.linalg.norm(ref, axis=1), np.linalg.norm(oth, axis=1)
    eps = 1e-12
    return {
        "max_abs": float(np.abs(oth - ref).max()),
        "max_rel_l2": float(np.max(diff / np.maximum(nr, eps))),
        "min_cosine": float(np.min(np.sum(ref * oth, axis=1) / np.maximum(nr * no, eps))),
    }


def probe_decisions(probe: Any, calibration: Any, X: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(scores, {operating point: fake decisions}) of a fitted probe + Calibration on X.

    Operating points: every FPR threshold of the calibration ("fpr_0.01", ...) and
    "0.5" (calibrated probability >= 0.5), the rule ``DetectorBundle`` applies.
    """
    scores = np.asarray(probe.decision_function(X), dtype=np.float64)
    out = {name: scores >= t for name, t in sorted(calibration.thresholds.items())}
    out["0.5"] = calibration.probability(scores) >= 0.5
    return scores, out


@dataclass(frozen=True)
class AgreementReport:
    """Result of :func:`fastpath_agreement` (JSON-able via :meth:`to_dict`)."""

    backbone: str
    layer: str
    pooling: str
    precision: Precision  # the precision that ran (bf16 falls back to fp32 without native support)
    compile: bool
    n_train: int
    n_val: int
    n_test: int
    agreement: dict[str, float]  # operating point → share of test decisions equal to fp32's
    disagreements: dict[str, int]
    features: dict[str, float]  # feature_closeness(fp32, fast) on test
    test_auc_fp32: float
    test_auc_fast: float
    seconds_fp32_test: float
    seconds_fast_test: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def min_agreement(self) -> float:
        return min(self.agreement.values())

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["precision"] = str(self.precision)
        d["min_agreement"] = self.min_agreement
        return d


def fastpath_agreement(
    manifest: Any,
    backbone: str | Backbone,
    *,
    precision: Precision = Precision("bf16"),
    compile: bool = False,
    layer: str = "last",
    pooling: str = "cls",
    batch_size: int = 32,
    cache_dir: str | Path | None = None,
    seed: int = 0,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> AgreementReport:
    """Decision agreement between float32 and the fast path on a manifest's test split.

    ``manifest``: a path or ``Manifest`` with train, val and test splits (mask rows
    are left out, as in training). float32 features may come from ``cache_dir``;
    fast-path features are computed (and cached under their own precision key).
    Timings are for the test split and include decoding (and, with ``compile``,
    the compilation on the first batch: see ``extra["compile_seconds"]``).
    """

    log = log or (lambda msg: None)
    m = manifest if isinstance(manifest, Manifest) else read_manifest(manifest)
    train, val = training_splits(m)
    test = m.where(mask_path="").where(split="test")
    if len(test) == 0:
        raise InputError(f"manifest in {m.root}: no 'test' split rows; the agreement is measured on test images.")
    bb = create_backbone(backbone) if isinstance(backbone, str) else backbone

    def feats(part: Manifest, **kw: Any) -> np.ndarray:
        return extract_features([part.path_of(r) for r in part], bb, layer=layer, pooling=pooling,
                                batch_size=batch_size, cache_dir=cache_dir, progress=progress, **kw)

    x_train, x_val = feats(train), feats(val)
    t0 = time.perf_counter()
    x_test = feats(test)
    t_ref = time.perf_counter() - t0
    ran = check_precision(bb, precision)
    t0 = time.perf_counter()
    x_fast = feats(test, precision=precision, compile=compile)
    t_fast = time.perf_counter() - t0

    probe = LinearProbe(random_state=seed).fit(x_train, train.labels())
    cal = fit_calibration(val.labels(), probe.decision_function(x_val))
    s_ref, d_ref = probe_decisions(probe, cal, x_test)
    s_fast, d_fast = probe_decisions(probe, cal, x_fast)
    y = test.labels()
    agreement = {k: decision_agreement(d_ref[k], d_fast[k]) for k in d_ref}
    report = AgreementReport(
        backbone=bb.id, layer=layer, pooling=pooling, precision=ran, compile=compile,
        n_train=len(train), n_val=len(val), n_test=len(test),
        agreement=agreement,
        disagreements={k: int(np.sum(d_ref[k] != d_fast[k])) for k in d_ref},
        features=feature_closeness(x_test, x_fast),
        test_auc_fp32=roc_auc(y, s_ref), test_auc_fast=roc_auc(y, s_fast),
        seconds_fp32_test=round(t_ref, 2), seconds_fast_test=round(t_fast, 2),
        extra={"compile_seconds": compile_seconds(bb), "max_abs_score_diff": float(np.abs(s_ref - s_fast).max())},
    )
    log(f"{precision}{' + compile' if compile else ''} vs fp32 on {len(test)} test images: "
        + ", ".join(f"{k} {v:.2%}" for k, v in agreement.items()))
    return report
