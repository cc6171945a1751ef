"""The open-world discovery loop (spec: Girish et al., ICCV 2021), on feature vectors.

Known (labelled) set (X_known, y_known) and an unlabelled discovery set X. State: a
pseudo-label per discovery sample (a known class, a discovered cluster, or −1 =
unclustered). One iteration:

1. Train f (MLP in→512→512→128, ReLU, Dropout 0.5) + g (linear softmax over known
   classes + current clusters) with cross-entropy on known ∪ clustered samples.
   From iteration 2, f starts from the previous weights and g is re-created.
2. OOD: WTA-hash per-cluster percentile test (``discovery.wta``) with the known
   classes and the current clusters as references; unclustered samples that pass get
   argmax g(f(x)) and join the clustered set.
3. k-means (k-means++; mini-batch above 20 000 samples) on f-features of the still-unclustered
   samples; k = min(n_clusters, pool // ``kmeans_min_size``) so that a small pool is not cut
   into pieces that all fall below τ (``kmeans_min_size=None``: the paper's fixed k).
   ``cluster_space="input"`` (default) runs k-means on the standardised input features,
   ``"embedding"`` on f(x) as the paper: f is trained on the known sources only, and on
   the built-in benchmark it blurred seeds of a never-seen family (ldm-s0 / ldm-s2) that
   the input features keep apart (docs/discovery.md). Below 20 000
   samples k-means keeps the best of ``kmeans_n_init`` k-means++ starts.
4. Merge: WTA-hash the centroids, directed 1-NN graph by Hamming distance, each
   strongly (or, with ``merge="weak"``, weakly) connected component becomes one
   cluster: first among the new clusters, then across all clusters (a component
   holding one known class takes that label; known classes never merge together).
   ``merge_space="embedding"`` (default, the paper) hashes f(x), ``"input"`` the standardised
   input features (on the built-in benchmark's learned fingerprint f joined different
   sources; docs/discovery.md compares the two spaces).
   With ``merge_test=True`` (default) an edge j → i counts only when j's centroid passes
   i's WTA percentile test, and the merge repeats until no edge is left; ``False`` is the
   paper's single unguarded round (which, on the built-in benchmark, merged a never-seen
   family into a known class). Unguarded, the merge across all clusters only joins
   components that hold a cluster new in this iteration: clusters from earlier
   iterations were merged in theirs, and re-merging their mutual nearest neighbours
   every iteration halved the clusters again each time (docs/discovery.md).
5. Refine: one-vs-rest RBF SVM per cluster (members positive, other clustered
   samples negative, negatives subsampled to ``svm_max_samples``; ``svm="auto"`` switches
   to one shared Nystroem map + balanced linear least-squares classifiers above 20 000
   clustered samples); members predicted
   negative return to the unclustered pool; a discovered cluster with < ``min_keep``
   of its members predicted positive, or < ``min_cluster_size`` members, returns
   whole.

``max_steps`` caps the gradient steps per training round (each "epoch" then draws
max_steps·batch_size/epochs balanced samples); ``None`` trains full epochs as the paper.

Deterministic with ``random_state`` (every random step is seeded by (seed,
iteration)); with ``run_dir`` the state is saved after every iteration and ``fit``
resumes from the last finished one. Online mode: :meth:`extend` appends new samples
as unclustered and runs further iterations without redoing finished clusters.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.kernel_approximation import Nystroem
from sklearn.svm import SVC

from synthtrace.discovery.wta import ClusterOODTest, WTAHasher, hamming_matrix
from synthtrace.errors import ConfigError, InputError, NotFittedError
from synthtrace.metrics.clustering import clustering_metrics

__all__ = ["OpenWorldDiscovery", "merge_components"]


def merge_components(codes: np.ndarray, *, connectivity: str = "strong", window: int = 2) -> np.ndarray:
    """Component index per node of the directed 1-NN graph (Hamming distance between codes)."""
    n = codes.shape[0]
    if n <= 1:
        return np.zeros(n, dtype=np.int64)
    d = hamming_matrix(codes, codes, window).astype(np.float64)
    np.fill_diagonal(d, np.inf)
    nn = d.argmin(axis=1)
    g = csr_matrix((np.ones(n), (np.arange(n), nn)), shape=(n, n))
    _, comp = connected_components(g, directed=True, connection=connectivity)
    return comp.astype(np.int64)


class _BalancedLeastSquares:
    """Linear least-squares classifier (targets ±1, both classes weighted to one half,
    small ridge): one 300×300 solve per cluster, where a LinearSVC needed iterative
    optimisation; with hundreds of clusters at 10^5 samples that was most of the refine."""

    def __init__(self, ridge: float = 1e-3) -> None:
        self.ridge = ridge

    def fit(self, X: np.ndarray, y: np.ndarray) -> _BalancedLeastSquares:
        A = np.c_[X, np.ones(len(X))]
        pos = y > 0.5
        w = np.where(pos, 0.5 / max(pos.sum(), 1), 0.5 / max((~pos).sum(), 1))
        G = A.T @ (A * w[:, None]) + self.ridge * np.eye(A.shape[1])
        self.coef_ = np.linalg.solve(G, A.T @ (w * np.where(pos, 1.0, -1.0)))
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (np.c_[X, np.ones(len(X))] @ self.coef_ > 0).astype(np.float64)


class OpenWorldDiscovery:
    """Iterative open-world discovery on feature vectors; see the module docstring.

    Attributes after fit: ``labels_`` (n_discovery,) pseudo-label index or −1;
    ``label_names_`` (index → known class name or ``"new-<k>"``); ``n_known_``;
    ``features_`` (f-embedding of the discovery set); ``history_`` (per-iteration stats).
    """

    def __init__(
        self,
        *,
        n_iterations: int = 4,
        n_clusters: int = 500,
        embed_dim: int = 128,
        hidden: int = 512,
        dropout: float = 0.5,
        epochs_first: int = 50,
        epochs_later: int = 100,
        lr: float = 1e-3,
        batch_size: int = 256,
        max_steps: int | None = None,
        n_hashes: int = 2048,
        window: int = 2,
        percentile: float = 0.9,
        merge: str = "strong",
        merge_test: bool = True,
        kmeans_min_size: int | None = 10,
        cluster_space: str = "input",
        kmeans_n_init: int = 1,
        merge_space: str = "embedding",
        min_cluster_size: int = 100,
        min_keep: float = 0.5,
        svm: str = "auto",
        svm_max_samples: int = 2000,
        stop_share: float = 0.02,
        random_state: int = 0,
        run_dir: str | Path | None = None,
        verbose: bool = False,
    ) -> None:
        for k, v in list(locals().items()):
            if k != "self":
                setattr(self, k, v)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {k: getattr(self, k) for k in inspect.signature(type(self).__init__).parameters if k != "self"}

    # ------------------------------------------------------------ helpers

    def _log(self, msg: str) -> None:
        if self.verbose:
            print(msg, flush=True)

    def _check_params(self) -> None:
        if self.merge not in ("strong", "weak"):
            raise ConfigError(f"merge={self.merge!r}; expected 'strong' or 'weak'.")
        if self.cluster_space not in ("input", "embedding"):
            raise ConfigError(f"cluster_space={self.cluster_space!r}; expected 'input' or 'embedding'.")
        if self.svm not in ("auto", "rbf", "nystroem"):
            raise ConfigError(f"svm={self.svm!r}; expected 'auto', 'rbf' or 'nystroem'.")
        if self.merge_space not in ("input", "embedding"):
            raise ConfigError(f"merge_space={self.merge_space!r}; expected 'input' or 'embedding'.")
        if int(self.kmeans_n_init) < 1:
            raise ConfigError(f"kmeans_n_init={self.kmeans_n_init!r}; need at least 1 k-means start.")
        if self.n_iterations < 1 or self.n_clusters < 2:
            raise ConfigError(f"n_iterations >= 1 and n_clusters >= 2 required; got {self.n_iterations}, {self.n_clusters}.")

    def _rng(self, iteration: int, step: int) -> np.random.Generator:
        return np.random.default_rng([int(self.random_state), int(iteration), int(step)])

    def _build(self, d_in: int, n_out: int, f_state: dict | None):
        import torch  # heavy: torch
        from torch import nn  # heavy: torch

        f = nn.Sequential(
            nn.Linear(d_in, self.hidden), nn.ReLU(), nn.Dropout(self.dropout),
            nn.Linear(self.hidden, self.hidden), nn.ReLU(), nn.Dropout(self.dropout),
            nn.Linear(self.hidden, self.embed_dim),
        )
        if f_state is not None:
            f.load_state_dict(f_state)
        g = nn.Linear(self.embed_dim, n_out)
        return f, g, torch

    def _train(self, X: np.ndarray, y: np.ndarray, n_out: int, iteration: int) -> None:
        import torch  # heavy: torch
        import torch.nn.functional as F  # heavy: torch

        torch.manual_seed(int(self.random_state) * 1000 + iteration)  # before building: g's init is random
        f, g, _ = self._build(X.shape[1], n_out, getattr(self, "_f_state", None))
        rng = self._rng(iteration, 0)
        opt = torch.optim.Adam(list(f.parameters()) + list(g.parameters()), lr=self.lr)
        Xt, yt = torch.from_numpy(X.astype(np.float32)), torch.from_numpy(y.astype(np.int64))
        # class-balanced sampling: pseudo-classes vary a lot in size
        counts = np.bincount(y, minlength=n_out).astype(np.float64)
        w = 1.0 / counts[y]
        w /= w.sum()
        epochs = self.epochs_first if iteration == 1 else self.epochs_later
        per_epoch = len(y)
        if self.max_steps is not None:  # large sets: a fixed step budget instead of full epochs
            per_epoch = min(per_epoch, max(1, int(self.max_steps) * self.batch_size // max(epochs, 1)))
        f.train(), g.train()
        for _ in range(epochs):
            order = rng.choice(len(y), size=per_epoch, p=w)
            for s in range(0, len(order), self.batch_size):
                idx = torch.from_numpy(order[s : s + self.batch_size])
                loss = F.cross_entropy(g(F.relu(f(Xt[idx]))), yt[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        f.eval(), g.eval()
        self._f_state = {k: v.detach().clone() for k, v in f.state_dict().items()}
        self._g = (g.weight.detach().numpy().astype(np.float64), g.bias.detach().numpy().astype(np.float64))

    def _embed(self, X: np.ndarray) -> np.ndarray:
        f, _, torch = self._build(X.shape[1], 1, self._f_state)
        f.eval()
        with torch.inference_mode():
            return np.concatenate([
                f(torch.from_numpy(X[s : s + 8192].astype(np.float32))).numpy() for s in range(0, len(X), 8192)
            ]).astype(np.float64) if len(X) else np.zeros((0, self.embed_dim))

    def _standardize(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean_) / self.scale_

    # ------------------------------------------------------------ persistence

    def _fingerprint(self, Xk: np.ndarray, yk: np.ndarray, Xd: np.ndarray) -> str:
        h = hashlib.sha256()
        for a in (Xk, Xd):
            h.update(np.ascontiguousarray(a, dtype=np.float32).tobytes())
        h.update("\n".join(map(str, yk.tolist())).encode())
        params = {k: v for k, v in self.get_params().items() if k not in ("run_dir", "verbose", "n_iterations")}
        h.update(json.dumps(params, sort_keys=True, default=str).encode())
        return h.hexdigest()

    def _save(self) -> None:
        if self.run_dir is None:
            return
        run = Path(self.run_dir)
        (run / "state").mkdir(parents=True, exist_ok=True)
        tensors = {f"f.{k}": v.numpy() for k, v in self._f_state.items()}
        tensors["labels"] = self.labels_.astype(np.int64)
        tensors["n_discovery"] = np.array([self.labels_.size], dtype=np.int64)
        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(run / "state" / "state.tmp"))
        meta = {"fingerprint": self.fingerprint_, "iteration": self.iteration_, "label_names": self.label_names_,
                "n_known": self.n_known_, "history": self.history_, "params": self.get_params()}
        (run / "state" / "meta.tmp").write_text(json.dumps(meta, indent=1, default=str))
        (run / "state" / "state.tmp").replace(run / "state" / "state.safetensors")
        (run / "state" / "meta.tmp").replace(run / "state" / "meta.json")

    def _try_resume(self) -> bool:
        if self.run_dir is None:
            return False
        meta_p = Path(self.run_dir) / "state" / "meta.json"
        if not meta_p.exists():
            return False
        import torch  # heavy: torch
        meta = json.loads(meta_p.read_text())
        if meta["fingerprint"] != self.fingerprint_:
            raise ConfigError(
                f"{self.run_dir}: holds a discovery run on different data or parameters; "
                "use a new run directory or remove that one."
            )
        t = load_file(str(Path(self.run_dir) / "state" / "state.safetensors"))
        self._f_state = {k[2:]: torch.from_numpy(v.copy()) for k, v in t.items() if k.startswith("f.")}
        self.labels_ = t["labels"].astype(np.int64)
        self.iteration_ = int(meta["iteration"])
        self.label_names_ = list(meta["label_names"])
        self.history_ = list(meta["history"])
        self._log(f"resumed {self.run_dir} after iteration {self.iteration_}")
        return True

    # ------------------------------------------------------------ the loop

    def fit(self, X_known: Any, y_known: Any, X: Any, *, eval_labels: Any = None) -> OpenWorldDiscovery:
        """Run (or resume) the loop. ``eval_labels`` (true sources of X, optional) only adds
        purity/NMI to the per-iteration statistics; it never influences the result."""
        self._check_params()
        Xk = np.asarray(X_known, dtype=np.float64)
        Xd = np.asarray(X, dtype=np.float64)
        yk = np.asarray(y_known).astype(str)
        if Xk.ndim != 2 or Xd.ndim != 2 or Xk.shape[1] != Xd.shape[1]:
            raise InputError(f"X_known and X must be 2-D with the same width; got {Xk.shape} and {Xd.shape}.")
        if yk.shape != (Xk.shape[0],):
            raise InputError(f"y_known must have one label per row of X_known ({Xk.shape[0]}); got {yk.shape}.")
        self.known_names_, self._yk = np.unique(yk, return_inverse=True)
        if self.known_names_.size < 1:
            raise InputError("the known set is empty; discovery needs at least one labelled source.")
        self.n_known_ = int(self.known_names_.size)
        both = np.concatenate([Xk, Xd])
        self.mean_ = both.mean(axis=0)
        self.scale_ = np.where(both.std(axis=0) > 1e-12, both.std(axis=0), 1.0)
        self._Xk, self._Xd = self._standardize(Xk), self._standardize(Xd)
        self._eval = None if eval_labels is None else np.asarray(eval_labels).astype(str)
        self.fingerprint_ = self._fingerprint(Xk, yk, Xd)
        if not self._try_resume():
            self._f_state = None
            self.labels_ = np.full(len(Xd), -1, dtype=np.int64)
            self.label_names_ = [str(c) for c in self.known_names_]
            self.iteration_ = 0
            self.history_ = []
        self._run_until(self.n_iterations)
        return self

    def extend(self, X_new: Any, *, n_iterations: int = 1, eval_labels: Any = None) -> OpenWorldDiscovery:
        """Online mode: append new discovery samples (unclustered) and run more iterations;
        finished clusters keep their members."""
        if not hasattr(self, "labels_"):
            raise NotFittedError("call fit() before extend().")
        Xn = self._standardize(np.asarray(X_new, dtype=np.float64))
        self._Xd = np.concatenate([self._Xd, Xn])
        self.labels_ = np.concatenate([self.labels_, np.full(len(Xn), -1, dtype=np.int64)])
        if self._eval is not None:
            self._eval = np.concatenate([self._eval, np.asarray(eval_labels).astype(str)]) if eval_labels is not None else None
        h = hashlib.sha256(self.fingerprint_.encode())
        h.update(np.ascontiguousarray(X_new, dtype=np.float32).tobytes())
        self.fingerprint_ = h.hexdigest()
        self._run_until(self.iteration_ + n_iterations)
        return self

    def _run_until(self, last: int) -> None:
        while self.iteration_ < last:
            if self.iteration_ > 0 and self.history_ and self.history_[-1]["share_unclustered"] <= self.stop_share:
                self._log(f"stop: unclustered share {self.history_[-1]['share_unclustered']:.3f} <= {self.stop_share}")
                break
            self._iterate(self.iteration_ + 1)
            self._save()
        self.features_ = self._embed(self._Xd)

    def _iterate(self, it: int) -> None:
        times: dict[str, float] = {}
        t = time.perf_counter()
        # 1. train on known ∪ clustered
        cl = self.labels_ >= 0
        Xtr = np.concatenate([self._Xk, self._Xd[cl]])
        ytr = np.concatenate([self._yk, self.labels_[cl]])
        n_out = len(self.label_names_)
        self._train(Xtr, ytr, n_out, it)
        Ek, Ed = self._embed(self._Xk), self._embed(self._Xd)
        times["train"] = time.perf_counter() - t

        # 2. OOD on the unclustered pool
        t = time.perf_counter()
        ref_X = np.concatenate([Ek, Ed[cl]])
        ref_y = np.concatenate([self._yk, self.labels_[cl]])
        ood = ClusterOODTest(self.n_hashes, self.window, self.percentile, random_state=self.random_state).fit(
            ref_X, ref_y, n_clusters=n_out)
        pool = np.flatnonzero(self.labels_ < 0)
        n_in = 0
        if pool.size:
            inl = ood.is_inlier(Ed[pool])
            W, b = self._g
            logits = np.maximum(Ed[pool[inl]], 0) @ W.T + b
            self.labels_[pool[inl]] = logits.argmax(axis=1)
            n_in = int(inl.sum())
        times["ood"] = time.perf_counter() - t

        # 3. k-means on the rest
        t = time.perf_counter()
        pool = np.flatnonzero(self.labels_ < 0)
        n_kmeans = 0
        if pool.size >= 2:
            k = int(min(self.n_clusters, pool.size))
            if self.kmeans_min_size:  # a small pool cut into n_clusters pieces only yields clusters below τ
                k = int(max(2, min(k, pool.size // int(self.kmeans_min_size))))
            seed = int(self._rng(it, 1).integers(2**31))
            if pool.size > 20000:  # full Lloyd passes over 10^5 points x 500 centres dominate the iteration
                km = MiniBatchKMeans(n_clusters=k, init="k-means++", n_init=1, batch_size=4096, random_state=seed)
            else:
                km = KMeans(n_clusters=k, init="k-means++", n_init=int(self.kmeans_n_init), random_state=seed)
            space = Ed if self.cluster_space == "embedding" else self._Xd
            assign = km.fit_predict(space[pool])
            base = len(self.label_names_)
            self.labels_[pool] = base + assign
            self.label_names_ += [f"_tmp{j}" for j in range(k)]
            n_kmeans = k
        times["kmeans"] = time.perf_counter() - t

        # 4. merge: among new clusters, then across all
        t = time.perf_counter()
        Md, Mk = (Ed, Ek) if self.merge_space == "embedding" else (self._Xd, self._Xk)
        hasher = WTAHasher(self.n_hashes, self.window, random_state=self.random_state).fit(Md[:1])
        new_ids = np.arange(n_out, len(self.label_names_))
        if self.merge_test:
            self._merge_tested(Md, Mk, hasher, n_out)
        elif new_ids.size > 1:
            cents = np.stack([Md[self.labels_ == j].mean(axis=0) for j in new_ids])
            comp = merge_components(hasher.transform(cents), connectivity=self.merge, window=self.window)
            first = {c: new_ids[np.flatnonzero(comp == c)[0]] for c in np.unique(comp)}
            remap = {int(j): int(first[comp[i]]) for i, j in enumerate(new_ids)}
            self._relabel(remap)
        if self.merge_test:
            self._merge_tested(Md, Mk, hasher, 0)
        else:
            self._merge_all(Md, Mk, hasher, n_out)
        n_after_merge = len(self.label_names_) - self.n_known_
        times["merge"] = time.perf_counter() - t

        # 5. refine with one-vs-rest SVMs
        t = time.perf_counter()
        n_dropped = self._refine(Ed, Ek, it)
        times["refine"] = time.perf_counter() - t

        stats = {
            "iteration": it,
            "n_ood_accepted": n_in,
            "n_kmeans": n_kmeans,
            "n_new_after_merge": n_after_merge,
            "n_new_clusters": len(self.label_names_) - self.n_known_,
            "n_clusters_dropped": n_dropped,
            "share_clustered": float(np.mean(self.labels_ >= 0)) if self.labels_.size else 0.0,
            "share_unclustered": float(np.mean(self.labels_ < 0)) if self.labels_.size else 0.0,
            "seconds": {k: round(v, 3) for k, v in times.items()},
        }
        if self._eval is not None:

            m = clustering_metrics(self._eval, self.labels_, Ed)
            stats.update({k: m[k] for k in ("purity", "purity_unweighted", "nmi", "ari", "sources_discovered", "n_sources")})
        self.history_.append(stats)
        self.iteration_ = it
        self._log(f"iteration {it}: {stats}")

    def _relabel(self, remap: dict[int, int]) -> None:
        """Apply old→new id mapping, then renumber discovered clusters compactly (known ids fixed)."""
        lab = self.labels_.copy()
        for old, new in remap.items():
            if old != new:
                lab[self.labels_ == old] = new
        used = sorted(set(lab[lab >= self.n_known_].tolist()))
        compact = {old: self.n_known_ + i for i, old in enumerate(used)}
        out = lab.copy()
        for old, new in compact.items():
            out[lab == old] = new
        self.labels_ = out
        names = [str(c) for c in self.known_names_]
        # stable names: keep an existing "new-k" name, else give a fresh one
        taken = {n for n in self.label_names_ if n.startswith("new-")}
        nxt = max([int(n[4:]) for n in taken] + [-1]) + 1
        for old in used:
            prev = self.label_names_[old] if old < len(self.label_names_) else ""
            if prev.startswith("new-") and prev not in names:
                names.append(prev)
            else:
                names.append(f"new-{nxt}")
                nxt += 1
        self.label_names_ = names

    def _merge_tested(self, Ed: np.ndarray, Ek: np.ndarray, hasher: WTAHasher, first: int) -> None:
        """Repeated 1-NN merge of the clusters with id >= ``first`` in which an edge j → i
        counts only when j's centroid passes i's percentile test (d_i(c_j) < t_i), until no
        edge is left. Without that guard every round joins mutual nearest neighbours however
        far apart (on the built-in benchmark a never-seen family was merged into a known
        class), and a fine k-means cut of a small pool stays in fragments below τ."""
        with_known = first < self.n_known_
        all_X = np.concatenate([Ed, Ek]) if with_known else Ed
        all_codes = hasher.transform(all_X)  # hashed once: the rounds only relabel
        while True:
            ids = np.array([j for j in range(first, len(self.label_names_))
                            if j < self.n_known_ or np.any(self.labels_ == j)], dtype=np.int64)
            if ids.size < 2 or ids.max() < self.n_known_:
                return
            lab = np.where(np.isin(self.labels_, ids), self.labels_, -1)
            if with_known:
                lab = np.concatenate([lab, self._yk])
            rows = np.flatnonzero(lab >= 0)
            mX, my, codes = all_X[rows], np.searchsorted(ids, lab[rows]), all_codes[rows]
            ood = ClusterOODTest(self.n_hashes, self.window, self.percentile, random_state=self.random_state)
            ood.hasher_ = hasher
            ood.fit_codes(codes, my, ids.size)
            onehot = csr_matrix((np.ones(my.size), (my, np.arange(my.size))), shape=(ids.size, my.size))
            cent = np.asarray(onehot @ mX) / np.maximum(np.bincount(my, minlength=ids.size), 1)[:, None]
            cent_codes = hasher.transform(cent)
            d = hamming_matrix(cent_codes, cent_codes, self.window).astype(np.float64)
            np.fill_diagonal(d, np.inf)
            nn = d.argmin(axis=1)
            marg = ood.margins_codes(cent_codes)
            ok = marg[np.arange(ids.size), nn] < 0
            src = np.flatnonzero(ok)
            if src.size == 0:
                return
            g = csr_matrix((np.ones(src.size), (src, nn[src])), shape=(ids.size, ids.size))
            _, comp = connected_components(g, directed=True, connection=self.merge)
            remap: dict[int, int] = {}
            for c in np.unique(comp):
                members = ids[comp == c]
                known, new = members[members < self.n_known_], members[members >= self.n_known_]
                if known.size == 1:
                    remap.update({int(j): int(known[0]) for j in new})
                elif known.size == 0 and new.size > 1:
                    remap.update({int(j): int(new[0]) for j in new})
            if not any(k != v for k, v in remap.items()):
                return
            self._relabel(remap)

    def _merge_all(self, Ed: np.ndarray, Ek: np.ndarray, hasher: WTAHasher, first: int) -> None:
        n_all = len(self.label_names_)
        if n_all - self.n_known_ < 1:
            return
        cents = []
        for j in range(n_all):
            parts = [Ed[self.labels_ == j]] + ([Ek[self._yk == j]] if j < self.n_known_ else [])
            cents.append(np.concatenate(parts).mean(axis=0))
        comp = merge_components(hasher.transform(np.stack(cents)), connectivity=self.merge, window=self.window)
        remap: dict[int, int] = {}
        for c in np.unique(comp):
            members = np.flatnonzero(comp == c)
            known = members[members < self.n_known_]
            new = members[members >= self.n_known_]
            if members.max() < first:  # settled in an earlier iteration
                continue
            if known.size == 1:
                remap.update({int(j): int(known[0]) for j in new})
            elif known.size == 0 and new.size:
                remap.update({int(j): int(new[0]) for j in new})
            # several known classes in one component: leave everything as it is
        self._relabel(remap)

    def _refine(self, Ed: np.ndarray, Ek: np.ndarray, it: int) -> int:
        rng = self._rng(it, 2)
        cl = np.flatnonzero(self.labels_ >= 0)
        if cl.size == 0:
            return 0
        pos_X = np.concatenate([Ek, Ed[cl]])
        pos_y = np.concatenate([self._yk, self.labels_[cl]])
        is_disc = np.r_[np.zeros(len(Ek), bool), np.ones(cl.size, bool)]
        disc_index = np.r_[np.full(len(Ek), -1), cl]
        dropped_clusters = 0
        kind = self.svm if self.svm != "auto" else ("rbf" if pos_X.shape[0] <= 20000 else "nystroem")
        if kind == "nystroem":
            # one shared kernel map for every cluster: refitting it per cluster was most of the refine time
            fit_rows = rng.choice(pos_X.shape[0], min(pos_X.shape[0], 5000), replace=False)
            gamma = 1.0 / (pos_X.shape[1] * pos_X[fit_rows].var())  # sklearn's gamma="scale"
            pos_X = Nystroem(gamma=gamma, n_components=min(300, fit_rows.size),
                             random_state=int(rng.integers(2**31))).fit(pos_X[fit_rows]).transform(pos_X)
        for j in range(len(self.label_names_)):
            mem = np.flatnonzero(pos_y == j)
            mem_disc = mem[is_disc[mem]]
            if mem_disc.size == 0:
                continue
            new = j >= self.n_known_
            if new and mem_disc.size < self.min_cluster_size:
                self.labels_[disc_index[mem_disc]] = -1
                dropped_clusters += 1
                continue
            neg = np.flatnonzero(pos_y != j)
            if neg.size == 0:
                continue
            m = self.svm_max_samples
            tr_pos = mem if mem.size <= m else rng.choice(mem, m, replace=False)
            tr_neg = neg if neg.size <= m else rng.choice(neg, m, replace=False)
            Xs = np.concatenate([pos_X[tr_pos], pos_X[tr_neg]])
            ys = np.r_[np.ones(tr_pos.size), np.zeros(tr_neg.size)]
            if kind == "rbf":
                clf = SVC(kernel="rbf", gamma="scale", class_weight="balanced").fit(Xs, ys)
            else:
                clf = _BalancedLeastSquares().fit(Xs, ys)
            keep = clf.predict(pos_X[mem_disc]) > 0.5
            if new and keep.mean() < self.min_keep:
                self.labels_[disc_index[mem_disc]] = -1
                dropped_clusters += 1
            else:
                self.labels_[disc_index[mem_disc[~keep]]] = -1
        # a discovered cluster that shrank below the size rule goes back whole
        for j in range(self.n_known_, len(self.label_names_)):
            if 0 < np.count_nonzero(self.labels_ == j) < self.min_cluster_size:
                self.labels_[self.labels_ == j] = -1
                dropped_clusters += 1
        self._relabel({})
        return dropped_clusters

    # ------------------------------------------------------------ results

    def clusters(self) -> list[dict[str, Any]]:
        """One record per label with discovery members: name, known/new, size, member indices."""
        if not hasattr(self, "labels_"):
            raise NotFittedError("OpenWorldDiscovery is not fitted; call fit() first.")
        out = []
        for j, name in enumerate(self.label_names_):
            idx = np.flatnonzero(self.labels_ == j)
            if idx.size:
                out.append({"id": j, "name": name, "known": j < self.n_known_, "size": int(idx.size), "members": idx.tolist()})
        return out
