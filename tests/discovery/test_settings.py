import dataclasses
import math

import pytest

from synthtrace.discovery.settings import (
    K_PER_SQRT,
    MAX_CLUSTERS,
    MAX_MIN_CLUSTER_SIZE,
    TAU_PER_SQRT,
    DiscoverySettings,
    scaled_cluster_counts,
)
from synthtrace.errors import ConfigError

SIZES = [1, 2, 3, 5, 10, 30, 100, 257, 515, 1027, 5_000, 20_000, 100_000, 10**6]


def test_scaled_counts_are_monotone_in_the_data_size():
    pairs = [scaled_cluster_counts(n) for n in range(1, 30_000)] + [scaled_cluster_counts(n) for n in SIZES[-2:]]
    ks, taus = [k for k, _ in pairs], [t for _, t in pairs]
    assert ks == sorted(ks) and taus == sorted(taus)
    assert ks[-1] > ks[0] and taus[-1] > taus[0]


def test_scaled_counts_follow_the_square_root_rule_inside_the_bounds():
    for n in (515, 1027, 5_000):
        k, tau = scaled_cluster_counts(n)
        assert tau == round(TAU_PER_SQRT * math.sqrt(n))
        assert k == min(round(K_PER_SQRT * math.sqrt(n)), n // tau)
    # a set 4x larger gets about twice the k (square root, not proportional)
    k1, _ = scaled_cluster_counts(2_000)
    k4, _ = scaled_cluster_counts(8_000)
    assert abs(k4 / k1 - 2.0) < 0.05


@pytest.mark.parametrize("n", SIZES)
def test_scaled_counts_stay_in_their_bounds_and_fit_the_set(n):
    k, tau = scaled_cluster_counts(n)
    assert 2 <= k <= MAX_CLUSTERS
    assert 2 <= tau <= MAX_MIN_CLUSTER_SIZE
    if n >= 4:
        assert k * tau <= n  # k clusters of τ images fit in the set


def test_large_sets_reach_the_papers_values():
    assert scaled_cluster_counts(10**7) == (MAX_CLUSTERS, MAX_MIN_CLUSTER_SIZE)


def test_rule_coefficients_move_k_and_tau_as_told():
    k, tau = scaled_cluster_counts(1000)
    k2, tau2 = scaled_cluster_counts(1000, k_per_sqrt=2 * K_PER_SQRT, tau_per_sqrt=TAU_PER_SQRT / 2)
    assert k2 > k and tau2 < tau


@pytest.mark.parametrize("bad", [0, -5, 2.5, "100", None, True])
def test_scaled_counts_reject_a_bad_size(bad):
    with pytest.raises(ConfigError, match="n_images"):
        scaled_cluster_counts(bad)


def test_scaled_counts_reject_bad_coefficients():
    with pytest.raises(ConfigError, match="k_per_sqrt"):
        scaled_cluster_counts(100, k_per_sqrt=0)
    with pytest.raises(ConfigError, match="tau_per_sqrt"):
        scaled_cluster_counts(100, tau_per_sqrt=float("nan"))


def test_defaults_scale_and_resolve_fills_only_the_missing_values():
    s = DiscoverySettings()
    assert s.scaled and s.n_clusters is None and s.min_cluster_size is None
    r = s.resolve(515)
    assert not r.scaled
    assert (r.n_clusters, r.min_cluster_size) == scaled_cluster_counts(515)
    # every other field is carried over unchanged
    assert {k: v for k, v in r.to_dict().items() if k not in ("n_clusters", "min_cluster_size")} == \
        {k: v for k, v in s.to_dict().items() if k not in ("n_clusters", "min_cluster_size")}
    half = DiscoverySettings(n_clusters=45).resolve(515)
    assert half.n_clusters == 45 and half.min_cluster_size == scaled_cluster_counts(515)[1]


@pytest.mark.parametrize("n", [10, 515, 100_000])
def test_resolve_is_idempotent_and_keeps_explicit_values(n):
    explicit = DiscoverySettings(n_clusters=45, min_cluster_size=5)
    assert explicit.resolve(n) == explicit
    once = DiscoverySettings().resolve(n)
    assert once.resolve(n) == once
    assert once.resolve(7 * n) == once  # resolved values are explicit from then on


def test_loop_params_needs_resolved_counts_and_match_the_loop():
    from synthtrace.discovery.openworld import OpenWorldDiscovery

    with pytest.raises(ConfigError, match="resolve"):
        DiscoverySettings().loop_params()
    s = DiscoverySettings(percentile=0.7, merge="weak", seed=3).resolve(300)
    params = s.loop_params()
    d = OpenWorldDiscovery(**params)  # every key is an argument of the loop
    assert d.n_clusters == s.n_clusters and d.min_cluster_size == s.min_cluster_size
    assert d.percentile == 0.7 and d.merge == "weak" and d.random_state == 3 and d.n_iterations == s.iterations
    d._check_params()


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("n_clusters", 1, ">= 2"),
        ("n_clusters", 4.0, "integer"),
        ("min_cluster_size", 0, ">= 1"),
        ("percentile", 1.0, "between 0 and 1"),
        ("percentile", 0, "between 0 and 1"),
        ("merge", "medium", "strong, weak"),
        ("merge_space", "pixels", "input, embedding"),
        ("cluster_space", "f", "input, embedding"),
        ("kmeans_n_init", 0, ">= 1"),
        ("kmeans_min_size", 0, ">= 1"),
        ("iterations", 0, ">= 1"),
        ("consensus", 0, ">= 1"),
        ("seed", -1, ">= 0"),
        ("self_train", -1, ">= 0"),
        ("self_train_epochs", 0, ">= 1"),
        ("self_train_augment", 1.5, r"\[0, 1\]"),
        ("self_train_core", "middle", "centre, stable"),
        ("merge_test", "yes", "True"),
        ("consensus", True, "integer"),
    ],
)
def test_bad_values_are_refused_with_the_field_named(field, value, words):
    with pytest.raises(ConfigError, match=field) as e:
        DiscoverySettings(**{field: value})
    assert e.match(words)


def test_settings_are_frozen():
    s = DiscoverySettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.n_clusters = 10  # type: ignore[misc]
