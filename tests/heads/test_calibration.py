"""Tests for synthtrace.heads.calibration."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import log_loss

from synthtrace.errors import ConfigError, InputError, NotFittedError
from synthtrace.heads.calibration import (
    Calibration,
    PlattCalibrator,
    TemperatureCalibrator,
    fit_calibration,
    thresholds_at_fpr,
)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _logistic_data(a: float, b: float, n: int, seed: int):
    rng = np.random.default_rng(seed)
    s = rng.normal(0.5, 2.0, n)
    y = (rng.random(n) < _sigmoid(a * s + b)).astype(int)
    return s, y


def test_platt_recovers_known_parameters():
    s, y = _logistic_data(1.7, -0.6, 20000, seed=0)
    cal = PlattCalibrator().fit(s, y)
    assert cal.a_ == pytest.approx(1.7, abs=0.08)
    assert cal.b_ == pytest.approx(-0.6, abs=0.08)
    assert cal.params_ == {"a": cal.a_, "b": cal.b_}
    np.testing.assert_allclose(cal.transform(s), _sigmoid(cal.a_ * s + cal.b_))


def test_platt_handles_far_off_scale_scores():
    # Scores on a large offset scale (e.g. unnormalised logits) still fit.
    s, y = _logistic_data(0.02, 0.0, 20000, seed=1)
    cal = PlattCalibrator().fit(s * 1 + 1000.0, y)
    assert cal.a_ == pytest.approx(0.02, abs=0.01)
    assert cal.b_ == pytest.approx(-1000 * cal.a_, abs=0.05)


def test_temperature_recovers_known_temperature():
    rng = np.random.default_rng(2)
    z = rng.normal(0, 4.0, 20000)
    y = (rng.random(z.size) < _sigmoid(z / 2.5)).astype(int)
    cal = TemperatureCalibrator().fit(z, y)
    assert cal.temperature_ == pytest.approx(2.5, rel=0.06)
    assert cal.params_ == {"temperature": cal.temperature_}
    # Temperature never moves the decision at logit 0.
    np.testing.assert_array_equal(cal.transform(z) > 0.5, z > 0)


@pytest.mark.parametrize("method", ["platt", "temperature"])
def test_calibration_lowers_log_loss_of_miscalibrated_scores(method):
    rng = np.random.default_rng(3)

    def draw(n):
        z = rng.normal(0, 5.0, n)  # over-confident head: true logit is z/3 - 0.5
        return z, (rng.random(n) < _sigmoid(z / 3 - 0.5)).astype(int)

    z_val, y_val = draw(5000)
    z_test, y_test = draw(5000)
    cal = fit_calibration(y_val, z_val, method=method)
    raw = log_loss(y_test, np.clip(_sigmoid(z_test), 1e-15, 1 - 1e-15))
    calibrated = log_loss(y_test, cal.probability(z_test))
    assert calibrated < raw - 0.05


def test_thresholds_meet_target_on_fit_data_and_fresh_data():
    rng = np.random.default_rng(4)

    def draw(n_real, n_fake):
        s = np.r_[rng.normal(0, 1, n_real), rng.normal(2, 1, n_fake)]
        return np.r_[np.zeros(n_real, int), np.ones(n_fake, int)], s

    y, s = draw(20000, 5000)
    th = thresholds_at_fpr(y, s, fprs=(0.01, 0.05))
    assert set(th) == {"fpr_0.01", "fpr_0.05"}
    reals = s[y == 0]
    y_new, s_new = draw(20000, 0)
    for f, key in ((0.01, "fpr_0.01"), (0.05, "fpr_0.05")):
        assert np.mean(reals >= th[key]) <= f
        assert np.mean(reals >= th[key]) > f - 2 / reals.size  # tight, not merely safe
        assert np.mean(s_new >= th[key]) == pytest.approx(f, abs=0.25 * f)
    assert th["fpr_0.01"] > th["fpr_0.05"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-4, 4), min_size=1, max_size=80),
    st.sampled_from([0.0, 0.01, 0.1, 0.25, 0.5, 0.9]),
)
def test_threshold_guarantee_and_minimality(real_scores, f):
    s = np.array(real_scores, dtype=float)
    y = np.zeros(s.size, int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        t = thresholds_at_fpr(y, s, fprs=(f,))[f"fpr_{f:g}"]
    assert np.mean(s >= t) <= f
    lower = np.unique(s[s < t])
    if lower.size:  # the next lower observed real score would break the target
        assert np.mean(s >= lower[-1]) > f


def test_few_reals_warn_and_sit_above_every_real():
    rng = np.random.default_rng(5)
    s = np.r_[rng.normal(0, 1, 20), rng.normal(2, 1, 50)]
    y = np.r_[np.zeros(20, int), np.ones(50, int)]
    with pytest.warns(RuntimeWarning, match="Only 20 real images"):
        th = thresholds_at_fpr(y, s, fprs=(0.01,))
    assert th["fpr_0.01"] > s[:20].max()
    with pytest.raises(InputError, match="real"):
        thresholds_at_fpr(np.ones(5, int), np.arange(5.0))


def test_calibrator_round_trip_and_not_fitted():
    s, y = _logistic_data(1.0, 0.3, 2000, seed=6)
    for cls in (PlattCalibrator, TemperatureCalibrator):
        with pytest.raises(NotFittedError):
            cls().transform(s)
        cal = cls().fit(s, y)
        again = cls.from_dict(json.loads(json.dumps(cal.to_dict())))
        np.testing.assert_array_equal(again.transform(s), cal.transform(s))
    with pytest.raises(ConfigError, match="platt"):
        PlattCalibrator.from_dict({"method": "temperature", "params": {"temperature": 1.0}})
    with pytest.raises(ConfigError, match="temperature"):
        TemperatureCalibrator.from_dict({"method": "temperature", "params": {"temperature": -1.0}})


def test_calibration_record_round_trip():
    s, y = _logistic_data(1.2, -0.2, 3000, seed=7)
    cal = fit_calibration(y, s, method="temperature", fprs=(0.01, 0.05))
    assert cal.method == "temperature" and set(cal.thresholds) == {"fpr_0.01", "fpr_0.05"}
    back = Calibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert back == cal
    np.testing.assert_array_equal(back.probability(s), cal.probability(s))
    with pytest.raises(Exception):  # frozen
        cal.method = "platt"  # type: ignore[misc]


def test_calibration_record_rejects_bad_config():
    good = {"method": "platt", "params": {"a": 1.0, "b": 0.0}, "thresholds": {}}
    with pytest.raises(ConfigError, match=r"valid keys: \['method', 'params', 'thresholds'\]"):
        Calibration.from_dict({**good, "bins": 10})
    with pytest.raises(ConfigError, match="temperature"):
        Calibration.from_dict({**good, "method": "isotonic"})
    with pytest.raises(ConfigError, match="'a', 'b'"):
        Calibration.from_dict({**good, "params": {"a": 1.0}})
    with pytest.raises(ConfigError, match="missing"):
        Calibration.from_dict({"method": "platt"})
    with pytest.raises(ConfigError, match="valid"):
        fit_calibration([0, 1], [0.0, 1.0], method="beta")
