"""Tests for synthtrace.metrics.detection, checked against scikit-learn and by hand."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    roc_auc_score,
    roc_curve,
)

from synthtrace.errors import InputError
from synthtrace.metrics.detection import (
    average_precision,
    best_accuracy,
    bootstrap_ci,
    bootstrap_samples,
    detection_metrics,
    fpr_at_tpr,
    per_source_metrics,
    roc_auc,
    subset_metrics,
    to_jsonable,
    tpr_at_fpr,
)

KEYS = {
    "n", "n_real", "n_fake", "roc_auc", "average_precision", "accuracy",
    "balanced_accuracy", "real_accuracy", "fake_accuracy", "tpr_at_fpr_1",
    "tpr_at_fpr_5", "fpr_at_tpr_95", "best_accuracy",
}


def _data(n: int, seed: int = 0, sep: float = 1.0, p_fake: float = 0.5):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < p_fake).astype(int)
    s = rng.normal(size=n) + sep * y
    return y, s


def _brute_points(y, s):
    """(fpr, tpr) for every threshold 'fake iff s >= t', t in unique scores and +inf."""
    y, s = np.asarray(y), np.asarray(s)
    P, N = (y == 1).sum(), (y == 0).sum()
    pts = [(0.0, 0.0)]
    for t in np.unique(s):
        pred = s >= t
        pts.append(((pred & (y == 0)).sum() / N, (pred & (y == 1)).sum() / P))
    return np.array(pts)


# hypothesis: labelled scores with many ties (scores on a coarse grid) and both classes
labelled = st.lists(
    st.tuples(st.integers(0, 1), st.integers(-5, 5)), min_size=2, max_size=60
).filter(lambda xs: len({lab for lab, _ in xs}) == 2)


@settings(max_examples=60, deadline=None)
@given(labelled, st.sampled_from([0.0, 0.5, 1.0, -1.5]))
def test_matches_sklearn_on_random_data(xs, threshold):
    y = np.array([a for a, _ in xs])
    s = np.array([b for _, b in xs], dtype=float) / 2
    m = detection_metrics(y, s, threshold=threshold)
    pred = (s >= threshold).astype(int)
    assert set(m) == KEYS
    assert m["n"] == len(y) and m["n_fake"] == y.sum() and m["n_real"] == (y == 0).sum()
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, s))
    assert m["average_precision"] == pytest.approx(average_precision_score(y, s))
    assert m["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert m["real_accuracy"] == pytest.approx(np.mean(pred[y == 0] == 0))
    assert m["fake_accuracy"] == pytest.approx(np.mean(pred[y == 1] == 1))
    # TPR/FPR points against an independent brute force over thresholds.
    pts = _brute_points(y, s)
    for target, key in ((0.01, "tpr_at_fpr_1"), (0.05, "tpr_at_fpr_5")):
        assert m[key] == pytest.approx(pts[pts[:, 0] <= target, 1].max())
    assert m["fpr_at_tpr_95"] == pytest.approx(pts[pts[:, 1] >= 0.95, 0].min())
    # Oracle accuracy: brute force over the same thresholds.
    accs = [np.mean((s >= t).astype(int) == y) for t in np.r_[np.unique(s), np.inf]]
    assert m["best_accuracy"] == pytest.approx(max(accs))
    assert m["best_accuracy"] >= m["accuracy"] - 1e-12


def test_operating_points_use_roc_curve_points():
    y, s = _data(500, seed=3)
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    for target in (0.0, 0.01, 0.1, 0.5, 1.0):
        assert tpr_at_fpr(y, s, target) == pytest.approx(tpr[fpr <= target].max())
        assert fpr_at_tpr(y, s, target) == pytest.approx(fpr[tpr >= target].min())


def test_hand_computed_operating_points():
    # reals 0.1 0.2 0.3 0.8 ; fakes 0.4 0.6 0.7 0.9
    y = [0, 0, 0, 0, 1, 1, 1, 1]
    s = [0.1, 0.2, 0.3, 0.8, 0.4, 0.6, 0.7, 0.9]
    # Thresholds: 0.9 → (fpr 0, tpr .25); 0.8 → (.25, .25); 0.4 → (.25, 1); 0.3 → (.5, 1)
    assert tpr_at_fpr(y, s, 0.0) == 0.25
    assert tpr_at_fpr(y, s, 0.2) == 0.25  # no point with 0 < FPR ≤ 0.2 besides FPR 0
    assert tpr_at_fpr(y, s, 0.25) == 1.0
    assert fpr_at_tpr(y, s, 0.25) == 0.0
    assert fpr_at_tpr(y, s, 0.5) == 0.25
    assert fpr_at_tpr(y, s, 1.0) == 0.25
    assert best_accuracy(y, s) == pytest.approx(7 / 8)
    # Full tie: only the points (0, 0) and (1, 1) exist.
    assert tpr_at_fpr([0, 1], [0.5, 0.5], 0.5) == 0.0
    assert fpr_at_tpr([0, 1], [0.5, 0.5], 0.5) == 1.0


def test_threshold_rule_is_score_ge_threshold():
    m = detection_metrics([0, 1], [0.5, 0.5], threshold=0.5)
    assert m["real_accuracy"] == 0.0 and m["fake_accuracy"] == 1.0


@pytest.mark.parametrize("label", [0, 1])
def test_single_class_gives_nan_without_exception(label, recwarn):
    y = np.full(10, label)
    s = np.linspace(0, 1, 10)
    assert math.isnan(roc_auc(y, s))
    assert math.isnan(average_precision(y, s))
    assert math.isnan(tpr_at_fpr(y, s, 0.01))
    assert math.isnan(fpr_at_tpr(y, s, 0.95))
    m = detection_metrics(y, s)
    for key in ("roc_auc", "average_precision", "balanced_accuracy", "tpr_at_fpr_1",
                "tpr_at_fpr_5", "fpr_at_tpr_95"):
        assert math.isnan(m[key]), key
    present, absent = ("fake_accuracy", "real_accuracy") if label else ("real_accuracy", "fake_accuracy")
    assert math.isnan(m[absent]) and not math.isnan(m[present])
    assert m["best_accuracy"] == 1.0
    # JSON-friendly: NaN → None
    text = json.dumps(to_jsonable(m), allow_nan=False)
    assert json.loads(text)["roc_auc"] is None
    assert math.isnan(bootstrap_ci(y, s, "roc_auc", n_boot=20)[0])
    assert not [str(w.message) for w in recwarn]  # no sklearn "only one class" warnings


def test_empty_input():
    m = detection_metrics([], [])
    assert m["n"] == 0 and math.isnan(m["accuracy"]) and math.isnan(m["best_accuracy"])


def test_to_jsonable_nested_and_numpy():
    d = {"a": np.float32(1.5), "b": [np.nan, np.int64(3)], "c": {"d": np.inf}, "e": np.arange(2)}
    assert to_jsonable(d) == {"a": 1.5, "b": [None, 3], "c": {"d": None}, "e": [0, 1]}


@pytest.mark.parametrize(
    "y, s",
    [([0, 2], [0.1, 0.2]), ([0, 1], [0.1, np.nan]), ([0, 1], [0.1]), ([[0, 1]], [[0.1, 0.2]])],
)
def test_bad_input_raises(y, s):
    with pytest.raises(InputError):
        detection_metrics(y, s)


def test_bool_labels_accepted():
    y, s = _data(50)
    assert roc_auc(y.astype(bool), s) == roc_auc(y, s)


# ---------------------------------------------------------------- bootstrap


@pytest.mark.parametrize("stratified", [True, False])
@pytest.mark.parametrize(
    "name, ref", [("roc_auc", roc_auc_score), ("average_precision", average_precision_score)]
)
def test_vectorised_bootstrap_equals_sklearn_per_replicate(name, ref, stratified):
    y, s = _data(300, seed=1)
    s = np.round(s, 1)  # ties
    fast = bootstrap_samples(y, s, name, n_boot=40, seed=7, stratified=stratified)
    slow = bootstrap_samples(y, s, lambda a, b: float(ref(a, b)), n_boot=40, seed=7, stratified=stratified)
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)


def test_stratified_keeps_class_counts():
    y, s = _data(200, seed=2, p_fake=0.3)
    counts = bootstrap_samples(y, s, lambda a, b: float(a.sum()), n_boot=50, stratified=True)
    assert np.all(counts == y.sum())
    counts = bootstrap_samples(y, s, lambda a, b: float(a.sum()), n_boot=50, stratified=False)
    assert np.unique(counts).size > 1


def test_ci_covers_point_and_narrows_with_n():
    widths = []
    for n in (200, 4000):
        y, s = _data(n, seed=4)
        for name, point in (("roc_auc", roc_auc(y, s)), ("average_precision", average_precision(y, s))):
            lo, hi = bootstrap_ci(y, s, name, n_boot=500, seed=0)
            assert lo <= point <= hi
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 2
    # Seeded: same answer twice.
    assert bootstrap_ci(y, s, "roc_auc", n_boot=100, seed=5) == bootstrap_ci(y, s, "roc_auc", n_boot=100, seed=5)


def test_ci_accepts_callable_and_rejects_unknown_name():
    y, s = _data(100)
    lo, hi = bootstrap_ci(y, s, lambda a, b: float(np.mean((b >= 0.5) == a)), n_boot=50)
    assert 0 <= lo <= hi <= 1
    with pytest.raises(InputError, match="roc_auc"):
        bootstrap_ci(y, s, "auc")


def test_bootstrap_roc_auc_is_fast():
    y, s = _data(5000, seed=6)
    t0 = time.perf_counter()
    bootstrap_ci(y, s, "roc_auc", n_boot=1000)
    assert time.perf_counter() - t0 < 5.0


# ---------------------------------------------------------------- protocols


def _sourced():
    rng = np.random.default_rng(8)
    n_real, n_a, n_b = 120, 40, 60
    y = np.r_[np.zeros(n_real, int), np.ones(n_a + n_b, int)]
    s = np.r_[rng.normal(0, 1, n_real), rng.normal(3, 1, n_a), rng.normal(0.5, 1, n_b)]
    src = np.array(["cam1"] * 70 + ["cam2"] * 50 + ["genA"] * n_a + ["genB"] * n_b)
    return y, s, src


def test_per_source_uses_all_reals():
    y, s, src = _sourced()
    out = per_source_metrics(y, s, src, threshold=0.0, n_boot=100)
    assert sorted(out) == ["fake", "real"]
    assert sorted(out["fake"]) == ["genA", "genB"] and sorted(out["real"]) == ["cam1", "cam2"]
    for gen in ("genA", "genB"):
        row = out["fake"][gen]
        keep = (y == 0) | (src == gen)
        assert row["n_real"] == 120 and row["n_fake"] == (src == gen).sum()
        ref = detection_metrics(y[keep], s[keep], threshold=0.0)
        for k, v in ref.items():
            assert row[k] == pytest.approx(v, nan_ok=True), k
        assert row["roc_auc_ci_low"] <= row["roc_auc"] <= row["roc_auc_ci_high"]
        assert row["average_precision_ci_low"] <= row["average_precision"] <= row["average_precision_ci_high"]
    assert out["fake"]["genA"]["roc_auc"] > out["fake"]["genB"]["roc_auc"]
    cam = out["real"]["cam1"]
    assert cam["n"] == 70
    assert cam["real_accuracy"] == pytest.approx(np.mean(s[:70] < 0.0))
    assert cam["mean_score"] == pytest.approx(s[:70].mean())
    json.dumps(to_jsonable(out), allow_nan=False)


def test_subset_metrics_seen_vs_held_out_ignores_mask_on_reals():
    y, s, src = _sourced()
    seen = src == "genA"
    a = subset_metrics(y, s, seen, n_boot=0)
    b = subset_metrics(y, s, seen | (y == 0), n_boot=0)  # mask value on reals is irrelevant
    assert a == pytest.approx(b, nan_ok=True)
    assert a["n_real"] == 120 and a["n_fake"] == 40
    assert math.isnan(a["roc_auc_ci_low"])  # n_boot=0 → no interval
    held = subset_metrics(y, s, ~seen, n_boot=200, seed=1)
    assert held["n_fake"] == 60
    assert held["roc_auc_ci_low"] < held["roc_auc"] < held["roc_auc_ci_high"]
    none = subset_metrics(y, s, np.zeros_like(seen), n_boot=50)
    assert none["n_fake"] == 0 and math.isnan(none["roc_auc"]) and math.isnan(none["roc_auc_ci_high"])
