"""Discovery settings (placeholder until the tuned defaults land)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from synthtrace.errors import ConfigError


@dataclass(frozen=True)
class DiscoverySettings:
    iterations: int = 4
    n_clusters: int | None = 500
    min_cluster_size: int | None = 100
    merge: str = "strong"
    merge_test: bool = True
    percentile: float = 0.9
    merge_space: str = "embedding"
    kmeans_n_init: int = 1
    consensus: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        if self.consensus < 1:
            raise ConfigError(f"consensus {self.consensus}: the number of runs of the loop, >= 1 (1: no consensus).")

    def resolve(self, n_images: int, n_known_classes: int) -> DiscoverySettings:
        return replace(self, n_clusters=self.n_clusters or 500, min_cluster_size=self.min_cluster_size or 100)
