"""Tests for synthtrace.heads.linear_probe."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from synthtrace.errors import ConfigError, InputError, NotFittedError
from synthtrace.heads.linear_probe import LinearProbe, l2_normalize


def _features(n_real: int, n_fake: int, d: int = 16, seed: int = 0):
    """Fakes differ from reals by a shift along one direction; norms vary at random."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_real + n_fake, d))
    y = np.r_[np.zeros(n_real, int), np.ones(n_fake, int)]
    X[y == 1, 0] += 2.0
    X *= rng.uniform(0.5, 5.0, size=(X.shape[0], 1))  # norm is not informative
    return X, y


def test_init_only_stores_params_and_not_fitted():
    p = LinearProbe(C=0.5, balance="weight")
    assert p.get_params() == {"C": 0.5, "balance": "weight", "normalize": True, "max_iter": 1000, "random_state": 0}
    assert not [k for k in vars(p) if k.endswith("_")]
    for call in (p.decision_function, p.predict_proba, p.predict):
        with pytest.raises(NotFittedError, match="fit"):
            call(np.zeros((1, 3)))
    with pytest.raises(ValueError):  # NotFittedError is also a ValueError, like sklearn's
        p.state_dict()


def test_fit_learns_and_api_shapes():
    X, y = _features(200, 200)
    p = LinearProbe(C=10.0)
    assert p.fit(X, y) is p
    assert p.coef_.shape == (1, 16) and p.intercept_.shape == (1,)
    assert p.classes_.tolist() == [0, 1] and p.n_features_in_ == 16
    z = p.decision_function(X)
    proba = p.predict_proba(X)
    assert z.shape == (400,) and proba.shape == (400, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-z)))
    np.testing.assert_array_equal(p.predict(X), (z > 0).astype(int))
    assert p.score(X, y) > 0.8  # ClassifierMixin accuracy


def test_matches_sklearn_logistic_regression_on_normalised_features():
    X, y = _features(150, 150, seed=1)
    p = LinearProbe(C=2.0, balance="none").fit(X, y)
    ref = LogisticRegression(C=2.0, solver="lbfgs", max_iter=1000).fit(l2_normalize(X), y)
    np.testing.assert_allclose(p.decision_function(X), ref.decision_function(l2_normalize(X)), atol=1e-6)
    # normalize=False fits on raw features
    q = LinearProbe(C=2.0, balance="none", normalize=False).fit(X, y)
    ref = LogisticRegression(C=2.0, max_iter=1000).fit(X, y)
    np.testing.assert_allclose(q.decision_function(X), ref.decision_function(X), atol=1e-5)


def test_normalisation_makes_head_scale_invariant():
    X, y = _features(100, 100, seed=2)
    p = LinearProbe().fit(X, y)
    np.testing.assert_allclose(p.decision_function(X), p.decision_function(7.0 * X))
    np.testing.assert_allclose(l2_normalize(np.zeros((2, 3))), 0.0)


@pytest.mark.parametrize("n_real, n_fake", [(50, 400), (400, 50)])
def test_subsample_balances_like_univfd(n_real, n_fake):
    X, y = _features(n_real, n_fake, seed=3)
    p = LinearProbe(balance="subsample", random_state=1).fit(X, y)
    assert p.n_samples_fit_ == 2 * min(n_real, n_fake)
    # Balanced training: the intercept is not driven by the class prior.
    imbalanced = LinearProbe(balance="none").fit(X, y)
    prior_sign = np.sign(n_fake - n_real)
    assert prior_sign * imbalanced.intercept_[0] > prior_sign * p.intercept_[0]
    # Seeded: same result again; a different seed draws different samples.
    q = LinearProbe(balance="subsample", random_state=1).fit(X, y)
    np.testing.assert_array_equal(p.coef_, q.coef_)
    r = LinearProbe(balance="subsample", random_state=2).fit(X, y)
    assert not np.allclose(p.coef_, r.coef_)


def test_weight_balance_uses_all_samples():
    X, y = _features(50, 400, seed=4)
    p = LinearProbe(balance="weight").fit(X, y)
    assert p.n_samples_fit_ == 450
    ref = LogisticRegression(class_weight="balanced", max_iter=1000).fit(l2_normalize(X), y)
    np.testing.assert_allclose(p.coef_, ref.coef_, atol=1e-5)


def test_safetensors_round_trip(tmp_path):
    X, y = _features(120, 300, seed=5)
    p = LinearProbe(C=3.0, balance="subsample", random_state=7).fit(X, y)
    save_file(p.state_dict(), str(tmp_path / "head.safetensors"))
    params = json.loads(json.dumps(p.get_params()))
    q = LinearProbe.from_state(params, load_file(str(tmp_path / "head.safetensors")))
    np.testing.assert_array_equal(q.decision_function(X), p.decision_function(X))
    np.testing.assert_array_equal(q.predict_proba(X), p.predict_proba(X))
    assert q.get_params() == p.get_params() and q.n_features_in_ == 16


def test_from_state_rejects_unknown_keys():
    X, y = _features(30, 30)
    p = LinearProbe().fit(X, y)
    with pytest.raises(ConfigError, match="valid"):
        LinearProbe.from_state({"C": 1.0, "penalty": "l1"}, p.state_dict())
    tensors = p.state_dict()
    del tensors["intercept"]
    with pytest.raises(ConfigError, match="intercept"):
        LinearProbe.from_state(p.get_params(), tensors)


def test_input_errors():
    X, y = _features(30, 30)
    with pytest.raises(InputError, match="both"):
        LinearProbe().fit(X, np.zeros(60, int))
    with pytest.raises(InputError, match="0 \\(real\\)"):
        LinearProbe().fit(X, np.r_[np.zeros(30, int), np.full(30, 2)])
    with pytest.raises(ConfigError, match="subsample"):
        LinearProbe(balance="oversample").fit(X, y)
    p = LinearProbe().fit(X, y)
    with pytest.raises(InputError, match="16"):
        p.decision_function(np.zeros((2, 5)))


def test_sklearn_clone():
    p = LinearProbe(C=0.1, balance="none")
    assert clone(p).get_params() == p.get_params()
