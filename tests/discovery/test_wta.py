import numpy as np
import pytest

from synthtrace.discovery.wta import (
    ClusterOODTest, WTAHasher, code_distributions, hamming_matrix, mean_hamming, mean_hamming_pairwise,
)
from synthtrace.errors import ConfigError, NotFittedError


def test_k2_code_is_pairwise_sign():
    X = np.random.default_rng(0).normal(size=(20, 16))
    h = WTAHasher(64, 2, random_state=1).fit(X)
    codes = h.transform(X)
    a, b = h.indices_[:, 0], h.indices_[:, 1]
    # index of the max of the first K permuted entries
    assert np.array_equal(codes, np.argmax(np.stack([X[:, a], X[:, b]], axis=2), axis=2))
    assert codes.shape == (20, 64) and set(np.unique(codes)) <= {0, 1}


@pytest.mark.parametrize("window", [2, 3, 4])
def test_blas_mean_hamming_equals_pairwise(window):
    rng = np.random.default_rng(window)
    X = rng.normal(size=(300, 32))
    labels = rng.integers(0, 7, size=300)
    h = WTAHasher(96, window, random_state=0).fit(X)
    codes = h.transform(X)
    dist = code_distributions(codes, labels, 7, window)
    queries = h.transform(rng.normal(size=(25, 32)))
    fast = mean_hamming(queries, dist, window, chunk=7)
    slow = mean_hamming_pairwise(queries, codes, labels, 7)
    np.testing.assert_allclose(fast, slow, atol=1e-3)
    np.testing.assert_allclose(hamming_matrix(queries, codes[:10], window),
                               [[np.count_nonzero(q != c) for c in codes[:10]] for q in queries], atol=1e-3)


def test_ood_test_accepts_known_rejects_novel():
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=3, size=(4, 32))
    X = np.concatenate([c + rng.normal(size=(200, 32)) for c in centers])
    y = np.repeat(np.arange(4), 200)
    ood = ClusterOODTest(n_hashes=256, percentile=0.9).fit(X[:: 2], y[:: 2])
    # β percentile of members: about 90 % of held-back members of known clusters accepted
    pred = ood.predict(X[1::2])
    assert np.mean(pred >= 0) > 0.8
    assert np.mean(pred[pred >= 0] == y[1::2][pred >= 0]) > 0.95
    novel = rng.normal(scale=3, size=(1, 32)) + rng.normal(size=(200, 32))
    assert np.mean(ood.predict(novel) == -1) > 0.9
    assert ood.score_samples(novel).mean() > ood.score_samples(X[1::2]).mean()


def test_thresholds_are_leave_one_out_percentiles():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 16))
    y = np.repeat([0, 1], 20)
    ood = ClusterOODTest(n_hashes=32, percentile=0.5).fit(X, y)
    codes = ood.hasher_.transform(X)
    members = codes[y == 0]
    loo = [np.mean([np.count_nonzero(m != o) for k, o in enumerate(members) if k != i]) for i, m in enumerate(members)]
    assert ood.thresholds_[0] == pytest.approx(np.quantile(loo, 0.5), abs=1e-3)


def test_errors():
    with pytest.raises(NotFittedError):
        WTAHasher().transform(np.zeros((1, 4)))
    with pytest.raises(ConfigError):
        WTAHasher(8, window=1).fit(np.zeros((2, 4)))
    with pytest.raises(ConfigError):
        ClusterOODTest(percentile=1.5).fit(np.zeros((2, 4)), [0, 0])


def test_deterministic():
    X = np.random.default_rng(0).normal(size=(5, 10))
    assert np.array_equal(WTAHasher(50, random_state=3).fit_transform(X), WTAHasher(50, random_state=3).fit_transform(X))
