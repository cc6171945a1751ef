"""Open-world discovery of generators (Girish et al., ICCV 2021): WTA-hash OOD test,
k-means, 1-NN-graph merge, SVM refine, iterated. See docs/discovery.md."""

from synthtrace.discovery.wta import WTAHasher, ClusterOODTest, mean_hamming, mean_hamming_pairwise

__all__ = ["WTAHasher", "ClusterOODTest", "mean_hamming", "mean_hamming_pairwise"]
