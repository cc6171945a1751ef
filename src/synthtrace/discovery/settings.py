"""Every knob of open-world discovery in one frozen dataclass, with defaults that scale with the data.

``DiscoverySettings`` holds what ``discover`` passes to the loop (``OpenWorldDiscovery``),
the consensus (``ConsensusDiscovery``) and self-training (``discovery.selftrain``).
``n_clusters`` (k of the k-means step) and ``min_cluster_size`` (τ: smaller discovered
clusters go back to the unclustered pool) may be ``None``, meaning "scale with the
data": :meth:`DiscoverySettings.resolve` turns them into numbers for a discovery set of
``n_images`` with :func:`scaled_cluster_counts`. Both grow as √n: a fixed k and τ fit
one collection size only (the paper's k = 500, τ = 100 are for about 10⁵ images; on a
few hundred images τ = 100 sends every cluster back), while √n keeps k·τ a steady share
of the set. How the rule and the other defaults were chosen, and what they measure:
docs/discovery.md, section "Defaults".
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from synthtrace.errors import ConfigError

__all__ = [
    "K_PER_SQRT",
    "MAX_CLUSTERS",
    "MAX_MIN_CLUSTER_SIZE",
    "TAU_PER_SQRT",
    "DiscoverySettings",
    "scaled_cluster_counts",
]

K_PER_SQRT = 2.0  # k = K_PER_SQRT · √n
TAU_PER_SQRT = 0.22  # τ = TAU_PER_SQRT · √n
MAX_CLUSTERS = 500  # the paper's k, reached near 6 · 10⁴ images
MAX_MIN_CLUSTER_SIZE = 100  # the paper's τ
MIN_MIN_CLUSTER_SIZE = 2  # a "cluster" of one image is not a discovery

_CHOICES = {
    "merge": ("strong", "weak"),
    "merge_space": ("input", "embedding"),
    "cluster_space": ("input", "embedding"),
    "self_train_core": ("centre", "stable"),
}


def scaled_cluster_counts(n_images: int, *, k_per_sqrt: float = K_PER_SQRT,
                          tau_per_sqrt: float = TAU_PER_SQRT) -> tuple[int, int]:
    """``(n_clusters, min_cluster_size)`` for a discovery set of ``n_images``.

    k = round(k_per_sqrt · √n) and τ = round(tau_per_sqrt · √n), both non-decreasing in n;
    τ in [2, 100]; k in [2, 500] and at most n // τ (k clusters of τ images must fit in
    the set), so a tiny set still gets a valid pair."""
    n = _int("n_images", n_images, low=1)
    for name, v in (("k_per_sqrt", k_per_sqrt), ("tau_per_sqrt", tau_per_sqrt)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ConfigError(f"{name}={v!r}: a positive number.")
    root = math.sqrt(n)
    tau = min(MAX_MIN_CLUSTER_SIZE, max(MIN_MIN_CLUSTER_SIZE, round(tau_per_sqrt * root)))
    k = min(MAX_CLUSTERS, max(2, round(k_per_sqrt * root)))
    k = max(2, min(k, n // tau))
    return int(k), int(tau)


def _int(name: str, v: Any, *, low: int, allow_none: bool = False) -> Any:
    if v is None and allow_none:
        return v
    if isinstance(v, bool) or not isinstance(v, int):
        what = "an integer or None (scale with the data)" if allow_none else "an integer"
        raise ConfigError(f"{name}={v!r}: expected {what} >= {low}.")
    if v < low:
        raise ConfigError(f"{name}={v}: must be >= {low}" + (" (or None: scale with the data)." if allow_none else "."))
    return v


@dataclass(frozen=True)
class DiscoverySettings:
    """What a discovery run does (see the module docstring; numbers in docs/discovery.md).

    ``n_clusters`` / ``min_cluster_size``: k of the k-means step and τ of the refine step;
    ``None`` scales them with the discovery set (:meth:`resolve`). ``percentile``: β of the
    WTA out-of-distribution test. ``merge`` strong or weak connectivity of the 1-NN merge
    graph; ``merge_test`` the guarded merge (``False``: the paper's single unguarded round); ``merge_space`` / ``cluster_space``: where the
    merge and k-means run (``input``: the standardised features, ``embedding``: the loop's
    network f). ``kmeans_n_init``: k-means++ starts kept best of; ``kmeans_min_size``: k is
    capped at pool // this (``None``: no cap). ``iterations`` of the loop; ``consensus``:
    runs of the loop joined into one clustering (1: a single run); ``seed``.
    ``self_train`` rounds of fine-tuning a learned fingerprint on the clusters found, with
    ``self_train_epochs``, ``self_train_augment`` (``None``: the share it was trained with)
    and ``self_train_core`` (``centre`` or ``stable``).
    """

    n_clusters: int | None = None
    min_cluster_size: int | None = None
    percentile: float = 0.5
    merge: str = "strong"
    merge_test: bool = False
    merge_space: str = "input"
    cluster_space: str = "input"
    kmeans_n_init: int = 10
    kmeans_min_size: int | None = 10
    iterations: int = 4
    consensus: int = 16
    seed: int = 0
    self_train: int = 0
    self_train_epochs: int = 30
    self_train_augment: float | None = None
    self_train_core: str = "centre"

    def __post_init__(self) -> None:
        _int("n_clusters", self.n_clusters, low=2, allow_none=True)
        _int("min_cluster_size", self.min_cluster_size, low=1, allow_none=True)
        _int("kmeans_n_init", self.kmeans_n_init, low=1)
        _int("kmeans_min_size", self.kmeans_min_size, low=1, allow_none=True)
        _int("iterations", self.iterations, low=1)
        _int("consensus", self.consensus, low=1)
        _int("seed", self.seed, low=0)
        _int("self_train", self.self_train, low=0)
        _int("self_train_epochs", self.self_train_epochs, low=1)
        p = self.percentile
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 < p < 1.0:
            raise ConfigError(f"percentile={p!r}: beta of the WTA test, a number strictly between 0 and 1 (e.g. 0.5).")
        a = self.self_train_augment
        if a is not None and (isinstance(a, bool) or not isinstance(a, (int, float)) or not 0.0 <= a <= 1.0):
            raise ConfigError(f"self_train_augment={a!r}: a share of draws in [0, 1], or None (the fingerprint's own).")
        if not isinstance(self.merge_test, bool):
            raise ConfigError(f"merge_test={self.merge_test!r}: True (guarded merge) or False (the paper's).")
        for name, allowed in _CHOICES.items():
            v = getattr(self, name)
            if v not in allowed:
                raise ConfigError(f"{name}={v!r}: choose one of {', '.join(allowed)}.")

    @property
    def scaled(self) -> bool:
        """Whether k or τ still has to be scaled to the data (``resolve``)."""
        return self.n_clusters is None or self.min_cluster_size is None

    def resolve(self, n_images: int) -> DiscoverySettings:
        """A copy with k and τ as numbers for a discovery set of ``n_images``: values given
        explicitly stay as they are, ``None`` ones follow :func:`scaled_cluster_counts`."""
        k, tau = scaled_cluster_counts(n_images)
        return replace(self, n_clusters=k if self.n_clusters is None else self.n_clusters,
                       min_cluster_size=tau if self.min_cluster_size is None else self.min_cluster_size)

    def loop_params(self) -> dict[str, Any]:
        """Keyword arguments of ``OpenWorldDiscovery`` (after :meth:`resolve`)."""
        if self.scaled:
            raise ConfigError("n_clusters / min_cluster_size are None (scale with the data): call "
                              "settings.resolve(n_images) first.")
        return {"n_iterations": self.iterations, "n_clusters": self.n_clusters,
                "min_cluster_size": self.min_cluster_size, "percentile": self.percentile, "merge": self.merge,
                "merge_test": self.merge_test, "merge_space": self.merge_space, "cluster_space": self.cluster_space,
                "kmeans_n_init": self.kmeans_n_init, "kmeans_min_size": self.kmeans_min_size,
                "random_state": self.seed}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
