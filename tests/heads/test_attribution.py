import numpy as np
import pytest

from synthtrace.errors import ConfigError, InputError, NotFittedError
from synthtrace.metrics.clustering import ood_metrics
from synthtrace.heads.attribution import UNKNOWN, AttributionHead


def _data(seed=0, n=150, d=24, k=5):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=2.5, size=(k, d))
    X = np.concatenate([c + rng.normal(size=(n, d)) for c in centers])
    y = np.repeat([f"gen{i}" for i in range(k)], n)
    return X, y, rng


@pytest.mark.parametrize("score", ["wta", "msp", "energy"])
def test_attribution_and_unknown_rejection(score):
    X, y, rng = _data()
    known = y != "gen4"
    tr = np.arange(len(y)) % 3 == 0
    va = np.arange(len(y)) % 3 == 1
    te = np.arange(len(y)) % 3 == 2
    head = AttributionHead(unknown_score=score, n_hashes=256).fit(X[tr & known], y[tr & known])
    head.calibrate(X[va & known], y[va & known])
    closed = head.predict(X[te & known], closed_set=True)
    assert np.mean(closed == y[te & known]) > 0.95
    s = head.unknown_scores(X[te])
    r = ood_metrics(~known[te], s)
    assert r["auroc"] > (0.9 if score == "wta" else 0.6)
    pred = head.predict(X[te])
    assert UNKNOWN in set(pred.tolist())
    top = head.top_k(X[:2], k=3)
    assert len(top[0]) == 3 and top[0][0][1] >= top[0][1][1]


def test_state_roundtrip():
    X, y, _ = _data(1, n=40)
    head = AttributionHead(n_hashes=64).fit(X, y).calibrate(X, y)
    clone = AttributionHead.from_state(head.get_params(), head.state_dict(), head.label_map())
    np.testing.assert_allclose(clone.predict_proba(X), head.predict_proba(X))
    assert (clone.predict(X) == head.predict(X)).all()
    np.testing.assert_allclose(clone.unknown_scores(X), head.unknown_scores(X))


def test_errors():
    X, y, _ = _data(2, n=10)
    with pytest.raises(NotFittedError):
        AttributionHead().predict(X)
    with pytest.raises(ConfigError):
        AttributionHead(unknown_score="odin").fit(X, y)
    with pytest.raises(InputError):
        AttributionHead().fit(X, np.array(["a"] * len(X)))
    head = AttributionHead(n_hashes=32).fit(X, y)
    with pytest.raises(InputError):
        head.predict(X[:, :3])
    with pytest.raises(ConfigError):
        AttributionHead.from_state({"bogus": 1}, head.state_dict(), head.label_map())
