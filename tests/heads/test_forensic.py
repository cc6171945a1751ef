import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from synthtrace.errors import BundleError, InputError, NotFittedError
from synthtrace.heads.forensic import ForensicHead


def _data(n=300, d=6, seed=0):
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(n // 3, int), np.ones(n - n // 3, int)]  # unbalanced on purpose
    X = rng.normal(size=(n, d)) * [1, 10, 0.1, 5, 1, 1] + y[:, None] * [1.0, 5, 0, 0, 0.5, 0]
    return X, y


def test_matches_scikit_learn_standardised_balanced_logistic_regression():
    X, y = _data()
    head = ForensicHead(C=0.5).fit(X, y)
    ref = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=5000, class_weight="balanced")).fit(X, y)
    np.testing.assert_allclose(head.decision_function(X), ref.decision_function(X), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(head.predict_proba(X), ref.predict_proba(X), atol=1e-5)


def test_state_round_trip_gives_identical_scores():
    X, y = _data(seed=1)
    head = ForensicHead(C=2.0).fit(X, y)
    again = ForensicHead.from_state(head.get_params(), head.state_dict())
    np.testing.assert_array_equal(again.decision_function(X), head.decision_function(X))
    assert again.C == 2.0


def test_constant_feature_does_not_divide_by_zero():
    X, y = _data(seed=2)
    X[:, 2] = 3.0
    assert np.isfinite(ForensicHead().fit(X, y).decision_function(X)).all()


def test_errors():
    X, y = _data()
    with pytest.raises(NotFittedError):
        ForensicHead().decision_function(X)
    with pytest.raises(InputError, match="both"):
        ForensicHead().fit(X, np.zeros(len(X), int))
    head = ForensicHead().fit(X, y)
    with pytest.raises(InputError, match="fitted on 6"):
        head.decision_function(X[:, :5])
    with pytest.raises(InputError, match="NaN"):
        head.decision_function(np.full((2, 6), np.nan))
    state = head.state_dict()
    del state["scale"]
    with pytest.raises(BundleError, match="missing"):
        ForensicHead.from_state({}, state)
