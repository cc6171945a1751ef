"""Detection metrics: pure functions, scikit-learn argument order ``(y_true, y_score)``.

Conventions used everywhere in this module:

* ``y_true`` is 1 for fake/generated and 0 for real (bool is accepted).
* ``y_score`` is "higher = more likely fake" (a logit or a probability).
* A sample is *predicted fake* when ``y_score >= threshold`` (the same rule
  :func:`sklearn.metrics.roc_curve` uses for its operating points).
* A metric that is undefined on the given data (e.g. ROC AUC with one class)
  is ``NaN``, not an exception, so a per-source table can be computed in one
  pass; :func:`to_jsonable` turns those NaNs into ``None`` for JSON.

Why so many numbers (detection-methods.md §8): a detector that answers "fake"
for everything scores the fake share as accuracy on a fake-heavy test set, so
threshold-free (ROC AUC, AP) and balanced numbers are reported next to plain
accuracy, and the low-FPR operating points say what a newsroom would actually
experience.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from synthtrace.errors import InputError

__all__ = [
    "roc_auc",
    "average_precision",
    "tpr_at_fpr",
    "fpr_at_tpr",
    "best_accuracy",
    "detection_metrics",
    "to_jsonable",
    "bootstrap_samples",
    "bootstrap_ci",
    "subset_metrics",
    "per_source_metrics",
]

MetricFn = Callable[[np.ndarray, np.ndarray], float]

# Keep each vectorised bootstrap block at about this many float64 cells (~32 MB).
_BLOCK_CELLS = 4_000_000


# ---------------------------------------------------------------- validation


def _check(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(y, s)`` as int8 / float64 1-D arrays, or raise InputError."""
    y = np.asarray(y_true)
    s = np.asarray(y_score, dtype=np.float64)
    if y.ndim != 1 or s.ndim != 1:
        raise InputError(
            f"y_true and y_score must be 1-D; got shapes {y.shape} and {s.shape}. "
            "Pass one label and one score per image (ravel a (n, 1) array)."
        )
    if y.shape[0] != s.shape[0]:
        raise InputError(
            f"y_true has {y.shape[0]} entries but y_score has {s.shape[0]}; "
            "they must describe the same images in the same order."
        )
    if y.dtype == bool:
        y = y.astype(np.int8)
    else:
        values = np.unique(y)
        if not np.all(np.isin(values, (0, 1))):
            raise InputError(
                f"y_true must contain only 0 (real) and 1 (fake); got values "
                f"{values[:10].tolist()}. Map your labels to 1 = fake/generated, 0 = real."
            )
        y = y.astype(np.int8)
    if not np.all(np.isfinite(s)):
        bad = int(np.sum(~np.isfinite(s)))
        raise InputError(
            f"y_score has {bad} non-finite value(s) (NaN or inf); every image needs a "
            "finite score. Drop or re-score the failed images first."
        )
    return y, s


def _both_classes(y: np.ndarray) -> bool:
    n_fake = int(y.sum())
    return 0 < n_fake < y.shape[0]


# ---------------------------------------------------------------- point metrics


def roc_auc(y_true: Any, y_score: Any) -> float:
    """Area under the ROC curve (``sklearn.metrics.roc_auc_score``).

    Equals the probability that a random fake scores above a random real (ties
    count one half). NaN, without exception or warning, when only one class is
    present, because it is undefined there.
    """
    y, s = _check(y_true, y_score)
    if not _both_classes(y):
        return math.nan
    return float(roc_auc_score(y, s))


def average_precision(y_true: Any, y_score: Any) -> float:
    """Average precision with fakes as the positive class
    (``sklearn.metrics.average_precision_score``: step-wise, no interpolation).

    NaN when only one class is present. Note AP depends on the fake share: its
    chance level is ``n_fake / n``, so compare AP only across equal mixes.
    """
    y, s = _check(y_true, y_score)
    if not _both_classes(y):
        return math.nan
    return float(average_precision_score(y, s))


def _roc_points(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every ROC operating point (no points dropped), including (0, 0)."""
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    return fpr, tpr


def tpr_at_fpr(y_true: Any, y_score: Any, fpr: float) -> float:
    """Highest TPR among ROC operating points whose FPR is ≤ ``fpr``.

    The operating points are the thresholds "fake iff score ≥ t" for every
    distinct score t plus t = +inf (nothing flagged, TPR = FPR = 0), as
    returned by ``sklearn.metrics.roc_curve`` with ``drop_intermediate=False``.
    No interpolation between points: the value is achievable by an actual
    threshold on this data. With few reals FPR moves in steps of ``1/n_real``,
    so e.g. TPR at 1 % FPR with 50 reals is TPR at 0 % FPR. NaN with one class.
    """
    if not 0.0 <= fpr <= 1.0:
        raise InputError(f"fpr must lie in [0, 1]; got {fpr!r}.")
    y, s = _check(y_true, y_score)
    if not _both_classes(y):
        return math.nan
    f, t = _roc_points(y, s)
    ok = f <= fpr + 1e-12
    return float(t[ok].max())  # (0, 0) is always a point, so ok is never empty


def fpr_at_tpr(y_true: Any, y_score: Any, tpr: float) -> float:
    """Lowest FPR among ROC operating points whose TPR is ≥ ``tpr``.

    Same operating points as :func:`tpr_at_fpr`; the point (1, 1) (flag
    everything) always qualifies, so the result is defined whenever both
    classes are present. NaN with one class.
    """
    if not 0.0 <= tpr <= 1.0:
        raise InputError(f"tpr must lie in [0, 1]; got {tpr!r}.")
    y, s = _check(y_true, y_score)
    if not _both_classes(y):
        return math.nan
    f, t = _roc_points(y, s)
    ok = t >= tpr - 1e-12
    return float(f[ok].min())


def best_accuracy(y_true: Any, y_score: Any) -> float:
    """Oracle accuracy: the best accuracy over all thresholds, chosen *on this
    data's labels*.

    Optimistic by construction (the threshold is fitted to the test set); it
    shows what the score could do with perfect threshold calibration and must
    be labelled "oracle" in any report. Defined with a single class (then 1.0,
    trivially); NaN on empty input.
    """
    y, s = _check(y_true, y_score)
    n = y.shape[0]
    if n == 0:
        return math.nan
    order = np.argsort(-s, kind="mergesort")
    ys, ss = y[order], s[order]
    tp = np.cumsum(ys)
    fp = np.cumsum(1 - ys)
    # Only the last index of each group of tied scores is a real threshold.
    last = np.r_[ss[1:] != ss[:-1], True]
    n_fake = int(tp[-1])
    n_real = n - n_fake
    correct = tp[last] + (n_real - fp[last])
    best = max(int(correct.max()), n_real)  # n_real: threshold +inf, nothing flagged
    return best / n


def detection_metrics(y_true: Any, y_score: Any, *, threshold: float = 0.5) -> dict[str, float]:
    """All §8 numbers for one test set, as a flat ``dict[str, float]``.

    Keys:
      ``n``, ``n_real``, ``n_fake`` (counts, ints);
      ``roc_auc``, ``average_precision`` (threshold-free);
      ``accuracy``, ``balanced_accuracy``, ``real_accuracy`` (true-negative rate),
      ``fake_accuracy`` (true-positive rate) — at ``threshold``, fake iff
      ``score >= threshold`` (0.5 suits probabilities; pass 0.0 for logits);
      ``tpr_at_fpr_1``, ``tpr_at_fpr_5`` (TPR at 1 % / 5 % FPR), ``fpr_at_tpr_95``
      (see :func:`tpr_at_fpr`, :func:`fpr_at_tpr`);
      ``best_accuracy`` — ORACLE accuracy with the threshold chosen on these labels
      (see :func:`best_accuracy`), never a deployable number.
    Undefined values are NaN: real_accuracy without reals, fake_accuracy without
    fakes, and every two-class metric (AUC, AP, balanced accuracy, TPR/FPR points)
    unless both classes are present.
    """
    y, s = _check(y_true, y_score)
    n = int(y.shape[0])
    n_fake = int(y.sum())
    n_real = n - n_fake
    pred = (s >= threshold).astype(np.int8)
    nan = math.nan
    real_acc = float(np.mean(pred[y == 0] == 0)) if n_real else nan
    fake_acc = float(np.mean(pred[y == 1] == 1)) if n_fake else nan
    both = n_real > 0 and n_fake > 0
    return {
        "n": n,
        "n_real": n_real,
        "n_fake": n_fake,
        "roc_auc": roc_auc(y, s),
        "average_precision": average_precision(y, s),
        "accuracy": float(np.mean(pred == y)) if n else nan,
        "balanced_accuracy": (real_acc + fake_acc) / 2 if both else nan,
        "real_accuracy": real_acc,
        "fake_accuracy": fake_acc,
        "tpr_at_fpr_1": tpr_at_fpr(y, s, 0.01),
        "tpr_at_fpr_5": tpr_at_fpr(y, s, 0.05),
        "fpr_at_tpr_95": fpr_at_tpr(y, s, 0.95),
        "best_accuracy": best_accuracy(y, s),
    }


def to_jsonable(d: Any) -> Any:
    """Copy of ``d`` that ``json.dumps(..., allow_nan=False)`` accepts.

    NaN and ±inf become ``None`` (JSON has no NaN); numpy scalars and arrays
    become Python numbers and lists; dicts, lists and tuples are walked
    recursively (tuples become lists).
    """
    if isinstance(d, Mapping):
        return {str(k): to_jsonable(v) for k, v in d.items()}
    if isinstance(d, (list, tuple)):
        return [to_jsonable(v) for v in d]
    if isinstance(d, np.ndarray):
        return [to_jsonable(v) for v in d.tolist()]
    if isinstance(d, np.generic):
        d = d.item()
    if isinstance(d, float) and not math.isfinite(d):
        return None
    return d


# ---------------------------------------------------------------- bootstrap


def _index_blocks(
    y: np.ndarray, n_boot: int, rng: np.random.Generator, stratified: bool
) -> Iterator[np.ndarray]:
    """Yield (rows, n) blocks of resample indices; one row = one bootstrap replicate.

    Stratified: reals are resampled among reals and fakes among fakes, so each
    replicate has exactly the original class counts (the test set's class mix is
    a design choice, not a random quantity). Blocks keep memory bounded; both the
    vectorised and the generic paths consume the same blocks, so they see the
    same replicates for the same seed.
    """
    n = y.shape[0]
    rows = max(1, min(n_boot, _BLOCK_CELLS // max(n, 1)))
    pos = np.flatnonzero(y == 1)
    neg = np.flatnonzero(y == 0)
    done = 0
    while done < n_boot:
        r = min(rows, n_boot - done)
        if stratified:
            parts = [
                idx[rng.integers(0, idx.size, size=(r, idx.size))] for idx in (neg, pos) if idx.size
            ]
            yield np.concatenate(parts, axis=1) if parts else np.empty((r, 0), dtype=np.intp)
        else:
            yield rng.integers(0, n, size=(r, n))
        done += r


def _counts(block: np.ndarray, n: int) -> np.ndarray:
    """Per-row multiplicities (rows, n) of each original item in an index block."""
    r = block.shape[0]
    flat = (block + (np.arange(r)[:, None] * n)).ravel()
    return np.bincount(flat, minlength=r * n).reshape(r, n).astype(np.float64)


def _auc_weighted(y: np.ndarray, s: np.ndarray, w: np.ndarray) -> np.ndarray:
    """ROC AUC of each row of multiplicities ``w`` (rows, n) — Mann-Whitney form.

    AUC = Σ_i Σ_j w_i⁺ w_j⁻ (1[s_i > s_j] + ½ 1[s_i = s_j]) / (P·N); for every
    positive, the weighted count of negatives below / tied is read off a
    cumulative sum over negatives sorted by score, so the cost is O(rows·n).
    """
    pos = y == 1
    sn = s[~pos]
    order = np.argsort(sn, kind="mergesort")
    sn_sorted = sn[order]
    wn = w[:, ~pos][:, order]
    wp = w[:, pos]
    cum = np.concatenate([np.zeros((w.shape[0], 1)), np.cumsum(wn, axis=1)], axis=1)
    sp = s[pos]
    lo = np.searchsorted(sn_sorted, sp, side="left")  # negatives strictly below
    hi = np.searchsorted(sn_sorted, sp, side="right")  # ... plus ties
    below = cum[:, lo] + 0.5 * (cum[:, hi] - cum[:, lo])
    n_pos = wp.sum(axis=1)
    n_neg = wn.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (wp * below).sum(axis=1) / (n_pos * n_neg)
    out[(n_pos == 0) | (n_neg == 0)] = np.nan
    return out


def _ap_weighted(y: np.ndarray, s: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Average precision of each row of multiplicities ``w``, as sklearn defines it.

    AP = Σ_k (R_k − R_{k−1}) P_k over distinct score thresholds, descending.
    Thresholds whose score is absent from a replicate add zero recall and so
    contribute nothing, which makes evaluating every original threshold exact.
    """
    order = np.argsort(-s, kind="mergesort")
    ys, ss = y[order], s[order]
    ws = w[:, order]
    last = np.r_[ss[1:] != ss[:-1], True]
    tp = np.cumsum(ws * ys, axis=1)[:, last]
    fp = np.cumsum(ws * (1 - ys), axis=1)[:, last]
    n_pos = tp[:, -1]
    n_neg = fp[:, -1]
    d_tp = np.diff(tp, axis=1, prepend=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1e-300), 0.0)
        out = (d_tp * prec).sum(axis=1) / n_pos
    out[(n_pos == 0) | (n_neg == 0)] = np.nan
    return out


_FAST: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    "roc_auc": _auc_weighted,
    "average_precision": _ap_weighted,
}


def bootstrap_samples(
    y_true: Any,
    y_score: Any,
    metric: str | MetricFn,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    stratified: bool = True,
) -> np.ndarray:
    """The ``n_boot`` bootstrap replicates of ``metric`` (NaN where undefined).

    ``metric`` is ``"roc_auc"`` or ``"average_precision"`` (vectorised: all
    replicates are computed from multiplicity weights in a few numpy passes) or
    any callable ``f(y_true, y_score) -> float`` (called once per replicate, on
    the resampled arrays). For a given seed both kinds see the same replicates.
    """
    y, s = _check(y_true, y_score)
    if n_boot < 1:
        raise InputError(f"n_boot must be ≥ 1; got {n_boot}.")
    rng = np.random.default_rng(seed)
    n = y.shape[0]
    if isinstance(metric, str):
        if metric not in _FAST:
            raise InputError(
                f"Unknown metric name {metric!r}; valid names: {sorted(_FAST)}. "
                "For any other metric pass a callable f(y_true, y_score) -> float."
            )
        fast = _FAST[metric]
        out = [fast(y, s, _counts(b, n)) for b in _index_blocks(y, n_boot, rng, stratified)]
    else:
        out = [
            np.array([metric(y[row], s[row]) for row in b], dtype=np.float64)
            for b in _index_blocks(y, n_boot, rng, stratified)
        ]
    return np.concatenate(out) if out else np.empty(0)


def bootstrap_ci(
    y_true: Any,
    y_score: Any,
    metric: str | MetricFn,
    *,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    stratified: bool = True,
) -> tuple[float, float]:
    """Percentile bootstrap interval ``(low, high)`` at level ``1 − alpha``.

    Resamples images with replacement (per class when ``stratified``, keeping
    ``n_real`` and ``n_fake`` fixed) and takes the ``alpha/2`` and
    ``1 − alpha/2`` quantiles of the replicates. Replicates where the metric
    is undefined (possible only without stratification: a resample with one
    class) are ignored; ``(nan, nan)`` when all are undefined. The interval
    reflects sampling noise of *these* test images only — not the choice of
    generators, cameras or content, which usually matters more.
    """
    if not 0.0 < alpha < 1.0:
        raise InputError(f"alpha must lie in (0, 1); got {alpha!r} (0.05 gives a 95 % interval).")
    reps = bootstrap_samples(y_true, y_score, metric, n_boot=n_boot, seed=seed, stratified=stratified)
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return (math.nan, math.nan)
    lo, hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


# ---------------------------------------------------------------- protocols


def subset_metrics(
    y_true: Any,
    y_score: Any,
    fake_mask: Any,
    *,
    threshold: float = 0.5,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[str, float]:
    """Metrics of the fakes selected by ``fake_mask`` against ALL reals.

    Used for "seen" vs "held-out" generators and for per-source rows: every
    subset is compared with the same real set, so numbers differ only through
    the fakes. ``fake_mask`` (bool, one per image) is read on fakes only; its
    value on reals is ignored. Returns :func:`detection_metrics` plus
    ``roc_auc_ci_low``/``_high`` and ``average_precision_ci_low``/``_high``
    (stratified percentile bootstrap, level ``1 − alpha``; NaN when
    ``n_boot == 0`` or the metric is undefined).
    """
    y, s = _check(y_true, y_score)
    m = np.asarray(fake_mask, dtype=bool)
    if m.shape != y.shape:
        raise InputError(
            f"fake_mask has shape {m.shape} but y_true has {y.shape}; pass one bool per image."
        )
    keep = (y == 0) | m
    ys, ss = y[keep], s[keep]
    out = detection_metrics(ys, ss, threshold=threshold)
    for name in ("roc_auc", "average_precision"):
        if n_boot > 0 and _both_classes(ys):
            lo, hi = bootstrap_ci(ys, ss, name, n_boot=n_boot, alpha=alpha, seed=seed)
        else:
            lo, hi = math.nan, math.nan
        out[f"{name}_ci_low"] = lo
        out[f"{name}_ci_high"] = hi
    return out


def per_source_metrics(
    y_true: Any,
    y_score: Any,
    sources: Any,
    *,
    threshold: float = 0.5,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[str, dict[str, dict[str, float]]]:
    """The standard per-generator breakdown.

    Returns ``{"fake": {source: metrics}, "real": {source: metrics}}`` (two
    levels, because a manifest may use the same source name, e.g. an empty one,
    for reals and fakes):

    * ``"fake"``: for each source among the fakes, :func:`subset_metrics` of that
      source's fakes + ALL reals (so each generator faces the same reals), with
      bootstrap intervals for ROC AUC and AP.
    * ``"real"``: for each source (camera, dataset) among the reals, ``n``,
      ``real_accuracy`` (share scoring below ``threshold``) and ``mean_score`` of
      its reals — a per-camera false-alarm view; AUC needs fakes and is not given.

    Sources are compared as strings (``None`` becomes ``"None"``); keys are sorted.
    """
    y, s = _check(y_true, y_score)
    src = np.asarray([str(v) for v in np.asarray(sources, dtype=object).ravel()], dtype=object)
    if src.shape != y.shape:
        raise InputError(
            f"sources has {src.shape[0]} entries but y_true has {y.shape[0]}; "
            "pass one source name per image."
        )
    fake: dict[str, dict[str, float]] = {}
    real: dict[str, dict[str, float]] = {}
    for name in sorted(set(src[y == 1].tolist())):
        fake[name] = subset_metrics(
            y, s, src == name, threshold=threshold, n_boot=n_boot, alpha=alpha, seed=seed
        )
    for name in sorted(set(src[y == 0].tolist())):
        sel = (y == 0) & (src == name)
        real[name] = {
            "n": int(sel.sum()),
            "real_accuracy": float(np.mean(s[sel] < threshold)),
            "mean_score": float(np.mean(s[sel])),
        }
    return {"fake": fake, "real": real}
