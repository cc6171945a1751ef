import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from synthtrace.errors import BundleError, InputError, NotFittedError
from synthtrace.heads.forensic import ForensicHead


def _data(n=400, d=6, seed=0):
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(n // 3, int), np.ones(n - n // 3, int)]  # unbalanced on purpose
    X = rng.normal(size=(n, d)) * [1, 10, 0.1, 5, 1, 1] + y[:, None] * [1.0, 5, 0, 0, 0.5, 0]
    X[:, 4] += (X[:, 0] > 0.5) * y  # an interaction a linear head would miss
    return X, y


def test_matches_scikit_learn_boosting_exactly():
    X, y = _data()
    head = ForensicHead(max_iter=40, max_leaf_nodes=7).fit(X, y)
    ref = HistGradientBoostingClassifier(max_iter=40, max_leaf_nodes=7, learning_rate=0.05, class_weight="balanced",
                                         early_stopping=False, random_state=0).fit(X, y)
    Xt, _ = _data(seed=3)
    np.testing.assert_allclose(head.decision_function(Xt), ref.decision_function(Xt), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(head.predict_proba(Xt), ref.predict_proba(Xt), atol=1e-9)
    Xt[::7, 1] = np.nan  # missing values follow the trees' own rule
    np.testing.assert_allclose(head.decision_function(Xt), ref.decision_function(Xt), atol=1e-9)


def test_state_round_trip_gives_identical_scores():
    X, y = _data(seed=1)
    head = ForensicHead(max_iter=30).fit(X, y)
    again = ForensicHead.from_state(head.get_params(), head.state_dict(), n_features=X.shape[1])
    np.testing.assert_array_equal(again.decision_function(X), head.decision_function(X))
    assert again.max_iter == 30


def test_errors():
    X, y = _data()
    with pytest.raises(NotFittedError):
        ForensicHead().decision_function(X)
    with pytest.raises(InputError, match="both"):
        ForensicHead().fit(X, np.zeros(len(X), int))
    head = ForensicHead(max_iter=5).fit(X, y)
    with pytest.raises(InputError, match="fitted on 6"):
        head.decision_function(X[:, :5])
    with pytest.raises(InputError, match="infinite"):
        head.decision_function(np.full((2, 6), np.inf))
    state = head.state_dict()
    with pytest.raises(BundleError, match="outside"):
        ForensicHead.from_state({}, state, n_features=3)
    del state["value"]
    with pytest.raises(BundleError, match="missing"):
        ForensicHead.from_state({}, state, n_features=6)
