"""Winner-take-all hashing and the per-cluster percentile OOD test (spec §2).

WTA hash (Yagnik et al.): H fixed random permutations of the d feature indices; for
each, the index (0..K-1) of the largest of the first K permuted entries. With K = 2
a code position b is 1 where ``x[a_b] > x[c_b]`` for a fixed random pair, else 0.
Distance between codes: Hamming distance (number of differing positions).

Mean Hamming distance to the members of a cluster, exact and fast: with ``p_jb(v)``
the share of members of cluster j whose code at position b is v,

    d_j(x) = Σ_b (1 − p_jb(x_b)) = H − onehot(x) · P_j

which is one matrix product over all samples and clusters (O(n·N·H·K) BLAS work)
instead of n × (cluster size) code comparisons. For K = 2 it reduces further to
``d = Σ_b q_jb + x · (1 − 2 q_j)`` with q_jb the share of ones.

OOD test: t_j = the β percentile of the intra-cluster distances of cluster j; for a
member m that distance is its mean Hamming distance to the *other* members
(leave-one-out, N_j/(N_j−1) × the all-members mean). A sample is in-distribution if
d_j(x) < t_j for some j.
"""

from __future__ import annotations

import numpy as np

from synthtrace.errors import ConfigError, InputError, NotFittedError

__all__ = [
    "WTAHasher",
    "ClusterOODTest",
    "mean_hamming",
    "mean_hamming_pairwise",
    "hamming_matrix",
    "code_distributions",
]


def _check_2d(X, name: str = "X") -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2:
        raise InputError(f"{name} must be 2-D (n_samples, n_features); got shape {X.shape}.")
    return X


class WTAHasher:
    """Fixed random WTA hash: ``transform(X)`` → (n, H) uint8 codes in [0, K).

    Parameters: ``n_hashes`` (H, paper 2048), ``window`` (K, paper 2),
    ``random_state`` (seed of the permutations). ``fit(X)`` only records the feature
    dimension and draws the permutations; the hash does not depend on the data.
    """

    def __init__(self, n_hashes: int = 2048, window: int = 2, *, random_state: int | None = 0) -> None:
        self.n_hashes = n_hashes
        self.window = window
        self.random_state = random_state

    def get_params(self, deep: bool = True) -> dict:
        return {"n_hashes": self.n_hashes, "window": self.window, "random_state": self.random_state}

    def fit(self, X, y=None) -> WTAHasher:
        X = _check_2d(X)
        return self._draw(X.shape[1])

    def _draw(self, d: int) -> WTAHasher:
        if not (isinstance(self.n_hashes, (int, np.integer)) and self.n_hashes > 0):
            raise ConfigError(f"WTAHasher n_hashes must be a positive int; got {self.n_hashes!r}.")
        if not (isinstance(self.window, (int, np.integer)) and 2 <= self.window <= min(d, 255)):
            raise ConfigError(
                f"WTAHasher window must be an int in [2, min(n_features, 255)] = [2, {min(d, 255)}]; got {self.window!r}."
            )
        rng = np.random.default_rng(self.random_state)
        # Only the first K entries of each permutation matter: draw K distinct indices per hash.
        self.indices_ = np.stack([rng.choice(d, size=self.window, replace=False) for _ in range(self.n_hashes)]).astype(np.int64)
        self.n_features_in_ = int(d)
        return self

    def transform(self, X) -> np.ndarray:
        if not hasattr(self, "indices_"):
            raise NotFittedError("WTAHasher is not fitted; call fit(X) first.")
        X = _check_2d(X)
        if X.shape[1] != self.n_features_in_:
            raise InputError(f"X has {X.shape[1]} features; this WTAHasher was fitted on {self.n_features_in_}.")
        if self.window == 2:
            # Gather rows of the transposed block: contiguous, ~4x faster than column fancy-indexing.
            a, b = self.indices_[:, 0], self.indices_[:, 1]
            out = np.empty((X.shape[0], self.n_hashes), dtype=np.uint8)
            for s in range(0, X.shape[0], 4096):
                blk = np.ascontiguousarray(X[s : s + 4096].T)
                out[s : s + 4096] = np.greater(blk[b], blk[a]).T
            return out
        return np.argmax(X[:, self.indices_], axis=2).astype(np.uint8)  # (n, H, K) → (n, H)

    def fit_transform(self, X, y=None) -> np.ndarray:
        return self.fit(X).transform(X)


def _onehot(codes: np.ndarray, k: int, dtype=np.float32) -> np.ndarray:
    n, h = codes.shape
    out = np.zeros((n, h * k), dtype=dtype)
    out[np.arange(n)[:, None], np.arange(h)[None, :] * k + codes] = 1
    return out


def code_distributions(codes: np.ndarray, labels: np.ndarray, n_clusters: int, window: int = 2) -> np.ndarray:
    """Per-cluster share of each code value: (N, H) shares of ones for K = 2, else (N, H·K)."""
    codes = _check_2d(codes, "codes")
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(labels, minlength=n_clusters).astype(np.float64)
    width = codes.shape[1] if window == 2 else codes.shape[1] * window
    sums = np.zeros((n_clusters, width), dtype=np.float64)
    if labels.size:
        order = np.argsort(labels, kind="stable")
        sorted_labels = labels[order]
        starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
        ends = np.r_[starts[1:], labels.size]
        for lo, hi in zip(starts, ends):
            block = codes[order[lo:hi]]
            if window == 2:
                sums[sorted_labels[lo]] = block.sum(axis=0, dtype=np.int64)
            else:
                sums[sorted_labels[lo]] = _onehot(block, window).sum(axis=0, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / np.maximum(counts, 1)[:, None]


def mean_hamming(codes: np.ndarray, dist: np.ndarray, window: int = 2, *, chunk: int = 8192) -> np.ndarray:
    """Exact mean Hamming distance (n, N) from each code to each cluster, BLAS form.

    ``dist`` comes from :func:`code_distributions`. Computed in row chunks (float32
    products, float64 accumulation of the constant term) to bound memory.
    """
    codes = _check_2d(codes, "codes")
    n, h = codes.shape
    out = np.empty((n, dist.shape[0]), dtype=np.float64)
    if window == 2:
        q = dist.astype(np.float32)
        w = (1.0 - 2.0 * q).T.copy()  # (H, N)
        const = dist.sum(axis=1)  # Σ_b q_jb
        for s in range(0, n, chunk):
            out[s : s + chunk] = const[None, :] + codes[s : s + chunk].astype(np.float32) @ w
    else:
        p = dist.astype(np.float32).T.copy()  # (H·K, N)
        for s in range(0, n, chunk):
            out[s : s + chunk] = h - _onehot(codes[s : s + chunk], window) @ p
    return out


def mean_hamming_pairwise(codes: np.ndarray, members: np.ndarray, labels: np.ndarray, n_clusters: int) -> np.ndarray:
    """Reference implementation: the mean over members of the Hamming distance, one pair at a time
    (vectorised per sample). Same result as :func:`mean_hamming`, much slower."""
    codes = _check_2d(codes, "codes")
    labels = np.asarray(labels)
    out = np.zeros((codes.shape[0], n_clusters), dtype=np.float64)
    for j in range(n_clusters):
        mj = members[labels == j]
        if mj.shape[0] == 0:
            out[:, j] = np.nan
            continue
        for i in range(codes.shape[0]):
            out[i, j] = np.count_nonzero(mj != codes[i], axis=1).mean()
    return out


def _own_cluster_distance(codes: np.ndarray, labels: np.ndarray, dist: np.ndarray, window: int, chunk: int = 8192) -> np.ndarray:
    """d_{label_i}(x_i) for every row: O(n·H) instead of the (n, N) product."""
    out = np.empty(codes.shape[0], dtype=np.float64)
    if window == 2:
        # d_j(x) = Σ_b q_jb + x · (1 − 2 q_j): one matrix-vector product per cluster.
        w = (1.0 - 2.0 * dist).astype(np.float32)
        const = dist.sum(axis=1)
        for j in np.unique(labels):
            rows = np.flatnonzero(labels == j)
            out[rows] = const[j] + codes[rows].astype(np.float32) @ w[j]
        return out
    for s in range(0, codes.shape[0], chunk):
        c, lab = codes[s : s + chunk], labels[s : s + chunk]
        p = dist[lab].reshape(c.shape[0], c.shape[1], window)
        out[s : s + chunk] = c.shape[1] - np.take_along_axis(p, c[:, :, None].astype(np.int64), axis=2).sum(axis=(1, 2))
    return out


def hamming_matrix(a: np.ndarray, b: np.ndarray, window: int = 2) -> np.ndarray:
    """Hamming distances between every code in ``a`` and every code in ``b`` (BLAS form)."""
    if window == 2:
        a32, b32 = a.astype(np.float32), b.astype(np.float32)
        return a32.sum(1)[:, None] + b32.sum(1)[None, :] - 2.0 * (a32 @ b32.T)
    return a.shape[1] - _onehot(a, window) @ _onehot(b, window).T


class ClusterOODTest:
    """Per-cluster percentile OOD test on WTA codes.

    ``fit(X, labels)``: hash X, store each cluster's code distribution and its
    threshold t_j (β percentile of the members' leave-one-out mean distances).
    ``score_samples(X)`` → (n,) min_j d_j(x) − t_j (negative = in-distribution);
    ``predict(X)`` → cluster index of the nearest accepted cluster or −1;
    ``distances(X)`` → (n, N) d_j(x). Clusters with < 2 members are skipped.
    """

    def __init__(self, n_hashes: int = 2048, window: int = 2, percentile: float = 0.9, *, random_state: int | None = 0) -> None:
        self.n_hashes = n_hashes
        self.window = window
        self.percentile = percentile
        self.random_state = random_state

    def get_params(self, deep: bool = True) -> dict:
        return {"n_hashes": self.n_hashes, "window": self.window, "percentile": self.percentile, "random_state": self.random_state}

    def fit(self, X, labels, n_clusters: int | None = None) -> ClusterOODTest:
        if not 0.0 < float(self.percentile) <= 1.0:
            raise ConfigError(f"ClusterOODTest percentile must be in (0, 1] (paper: 0.9); got {self.percentile!r}.")
        X = _check_2d(X)
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != (X.shape[0],):
            raise InputError(f"labels must have one entry per row of X ({X.shape[0]}); got shape {labels.shape}.")
        if labels.size and labels.min() < 0:
            raise InputError("labels must be cluster indices >= 0.")
        n = int(n_clusters if n_clusters is not None else (labels.max() + 1 if labels.size else 0))
        self.hasher_ = WTAHasher(self.n_hashes, self.window, random_state=self.random_state).fit(X)
        return self.fit_codes(self.hasher_.transform(X), labels, n)

    def fit_codes(self, codes: np.ndarray, labels, n: int) -> ClusterOODTest:
        """Fit from codes already hashed with ``self.hasher_`` (set it first)."""
        if not 0.0 < float(self.percentile) <= 1.0:
            raise ConfigError(f"ClusterOODTest percentile must be in (0, 1] (paper: 0.9); got {self.percentile!r}.")
        labels = np.asarray(labels, dtype=np.int64)
        self.n_clusters_ = n
        self.counts_ = np.bincount(labels, minlength=n)
        self.dist_ = code_distributions(codes, labels, n, self.window)
        own = _own_cluster_distance(codes, labels, self.dist_, self.window)
        cnt = self.counts_[labels]
        loo = np.where(cnt > 1, own * cnt / np.maximum(cnt - 1, 1), np.nan)
        self.thresholds_ = np.full(n, -np.inf)
        for j in range(n):
            vals = loo[labels == j]
            if self.counts_[j] >= 2:
                self.thresholds_[j] = float(np.quantile(vals, float(self.percentile)))
        return self

    def distances(self, X) -> np.ndarray:
        if not hasattr(self, "dist_"):
            raise NotFittedError("ClusterOODTest is not fitted; call fit(X, labels) first.")
        return mean_hamming(self.hasher_.transform(X), self.dist_, self.window)

    def margins(self, X) -> np.ndarray:
        """(n, N) d_j(x) − t_j; +inf for clusters too small to test."""
        if not hasattr(self, "dist_"):
            raise NotFittedError("ClusterOODTest is not fitted; call fit(X, labels) first.")
        return self.margins_codes(self.hasher_.transform(X))

    def margins_codes(self, codes: np.ndarray) -> np.ndarray:
        """:meth:`margins` for codes already hashed with ``self.hasher_``."""
        d = mean_hamming(codes, self.dist_, self.window) - self.thresholds_[None, :]
        d[:, ~np.isfinite(self.thresholds_)] = np.inf
        return d

    def score_samples(self, X) -> np.ndarray:
        """OOD score, higher = more out-of-distribution: min_j (d_j(x) − t_j)."""
        m = self.margins(X)
        return m.min(axis=1) if m.shape[1] else np.full(m.shape[0], np.inf)

    def predict(self, X) -> np.ndarray:
        """Index of the cluster with the smallest margin among accepting ones, −1 if none accepts."""
        m = self.margins(X)
        if m.shape[1] == 0:
            return np.full(m.shape[0], -1, dtype=np.int64)
        j = m.argmin(axis=1)
        return np.where(m[np.arange(m.shape[0]), j] < 0, j, -1).astype(np.int64)

    def is_inlier(self, X) -> np.ndarray:
        return self.predict(X) >= 0
