"""Attribution head: which known source (or family) made an image, or "unknown generator".

scikit-learn style. A multinomial logistic regression on standardised features gives
closed-set probabilities over the known labels. Unknown rejection uses one of three
OOD scores (higher = more likely unknown):

- ``"wta"`` (default, open-world spec §2): the per-cluster percentile WTA-hash test,
  with the known classes as clusters; score = min_j d_j(x) − t_j.
- ``"msp"``: 1 − max softmax probability (baseline).
- ``"energy"``: −logsumexp(logits) (baseline).

The decision threshold on that score is calibrated on validation data of known
classes with :meth:`AttributionHead.calibrate` so that ``known_tpr`` (default 95 %)
of them are kept; before calibration the WTA test uses its own rule (score < 0) and
the baselines reject nothing. Serialisation: ``get_params()`` (JSON) +
``state_dict()`` (numpy arrays for safetensors), rebuilt by :meth:`from_state`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from synthtrace.discovery.wta import ClusterOODTest, WTAHasher
from synthtrace.errors import ConfigError, InputError, NotFittedError

__all__ = ["AttributionHead", "UNKNOWN", "attribution_records"]

UNKNOWN = "unknown"
_SCORES = ("wta", "msp", "energy")
_LEVELS = ("source", "family")
_FEATURES = ("fingerprint", "backbone", "learned")


def _logsumexp(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]


class AttributionHead:
    """Closed-set attribution + unknown-source rejection on feature vectors.

    Parameters
    ----------
    level : "source" or "family" (what the labels are; recorded in bundles).
    unknown_score : "wta", "msp" or "energy" (see module docstring).
    C : inverse L2 strength of the logistic regression.
    n_hashes, window, percentile : the WTA test (paper: 2048, 2, 0.9).
    known_tpr : share of known validation samples kept by the calibrated threshold.
    features : what the head was fitted on, so that a bundle's head is fed the same:
        ``"fingerprint"`` (``synthtrace.features.fingerprint``, the default),
        ``"backbone"`` (the bundle's cnn-small backbone, mean-pooled) or ``"learned"``
        (the learned fingerprint stored in the bundle's ``fingerprint/`` folder,
        ``synthtrace.heads.learned_fingerprint``).
    random_state : seed of the hash permutations.

    Attributes after fit: ``classes_`` (label strings), ``coef_``, ``intercept_``,
    ``mean_``, ``scale_``, ``ood_`` (ClusterOODTest), ``threshold_`` (None until calibrated).
    """

    def __init__(
        self,
        level: str = "source",
        *,
        unknown_score: str = "wta",
        C: float = 1.0,
        n_hashes: int = 2048,
        window: int = 2,
        percentile: float = 0.9,
        known_tpr: float = 0.95,
        max_iter: int = 2000,
        features: str = "fingerprint",
        random_state: int | None = 0,
    ) -> None:
        self.level = level
        self.unknown_score = unknown_score
        self.C = C
        self.n_hashes = n_hashes
        self.window = window
        self.percentile = percentile
        self.known_tpr = known_tpr
        self.max_iter = max_iter
        self.features = features
        self.random_state = random_state

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "level", "unknown_score", "C", "n_hashes", "window", "percentile", "known_tpr", "max_iter", "features", "random_state")}

    def set_params(self, **params: Any) -> AttributionHead:
        valid = self.get_params()
        for k, v in params.items():
            if k not in valid:
                raise ConfigError(f"Unknown AttributionHead parameter {k!r}; valid: {sorted(valid)}.")
            setattr(self, k, v)
        return self

    # ------------------------------------------------------------ fitting

    def _check_params(self) -> None:
        if self.unknown_score not in _SCORES:
            raise ConfigError(f"AttributionHead unknown_score={self.unknown_score!r}; expected one of {list(_SCORES)}.")
        if self.level not in _LEVELS:
            raise ConfigError(f"AttributionHead level={self.level!r}; expected one of {list(_LEVELS)}.")
        if self.features not in _FEATURES:
            raise ConfigError(f"AttributionHead features={self.features!r}; expected one of {list(_FEATURES)}.")
        if not 0 < float(self.known_tpr) <= 1:
            raise ConfigError(f"AttributionHead known_tpr must be in (0, 1]; got {self.known_tpr!r}.")

    def _check_X(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise InputError(f"X must be 2-D (n_samples, n_features); got shape {X.shape}. Use X.reshape(1, -1) for one vector.")
        if not np.all(np.isfinite(X)):
            raise InputError("X contains NaN or inf; features must be finite (re-extract them).")
        if hasattr(self, "n_features_in_") and X.shape[1] != self.n_features_in_:
            raise InputError(f"X has {X.shape[1]} features but this AttributionHead was fitted on {self.n_features_in_}; "
                             "use features from the same backbone.")
        return X

    def fit(self, X: Any, y: Any) -> AttributionHead:
        """Fit on features of known sources; ``y`` are label strings (source or family names)."""
        self._check_params()
        for attr in ("n_features_in_",):
            self.__dict__.pop(attr, None)
        X = self._check_X(X)
        y = np.asarray(y).astype(str)
        if y.shape != (X.shape[0],):
            raise InputError(f"y must have one label per row of X ({X.shape[0]}); got shape {y.shape}.")
        if UNKNOWN in set(y.tolist()):
            raise InputError(f"{UNKNOWN!r} is reserved for rejected samples; rename that label.")
        self.classes_, yi = np.unique(y, return_inverse=True)
        if self.classes_.size < 2:
            raise InputError(f"attribution needs at least 2 known labels; got {self.classes_.tolist()}.")
        self.mean_ = X.mean(axis=0)
        self.scale_ = np.where(X.std(axis=0) > 1e-12, X.std(axis=0), 1.0)
        Z = (X - self.mean_) / self.scale_
        lr = LogisticRegression(C=float(self.C), max_iter=self.max_iter).fit(Z, yi)
        self.coef_, self.intercept_ = lr.coef_.astype(np.float64), lr.intercept_.astype(np.float64)
        if self.classes_.size == 2:  # sklearn keeps one row for binary problems
            self.coef_ = np.vstack([-self.coef_ / 2, self.coef_ / 2])
            self.intercept_ = np.array([-self.intercept_[0] / 2, self.intercept_[0] / 2])
        self.ood_ = ClusterOODTest(self.n_hashes, self.window, self.percentile, random_state=self.random_state).fit(
            Z, yi, n_clusters=self.classes_.size)
        self.n_features_in_ = int(X.shape[1])
        self.threshold_ = None
        return self

    def calibrate(self, X_val: Any, y_val: Any | None = None) -> AttributionHead:
        """Set ``threshold_`` so that ``known_tpr`` of known validation samples are accepted.

        Rows of ``y_val`` whose label is not a known class are ignored (pass only knowns
        or labelled data with extra sources)."""
        self._check_fitted()
        s = self.unknown_scores(X_val)
        if y_val is not None:
            keep = np.isin(np.asarray(y_val).astype(str), self.classes_)
            s = s[keep]
        if s.size == 0:
            raise InputError("calibration needs validation samples of known classes; got none.")
        self.threshold_ = float(np.quantile(s, float(self.known_tpr), method="higher"))
        return self

    # ------------------------------------------------------------ inference

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError("This AttributionHead is not fitted; call fit(X, y) or AttributionHead.from_state(...).")

    def _z(self, X: Any) -> np.ndarray:
        self._check_fitted()
        return (self._check_X(X) - self.mean_) / self.scale_

    def decision_function(self, X: Any) -> np.ndarray:
        """(n, n_classes) logits."""
        return self._z(X) @ self.coef_.T + self.intercept_

    def predict_proba(self, X: Any) -> np.ndarray:
        """(n, n_classes) closed-set softmax probabilities in ``classes_`` order."""
        z = self.decision_function(X)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def unknown_scores(self, X: Any, method: str | None = None) -> np.ndarray:
        """OOD score per row (higher = more likely an unknown source)."""
        method = method or self.unknown_score
        if method == "wta":
            return self.ood_.score_samples(self._z(X))
        if method == "msp":
            return 1.0 - self.predict_proba(X).max(axis=1)
        if method == "energy":
            return -_logsumexp(self.decision_function(X))
        raise ConfigError(f"unknown_score method {method!r}; expected one of {list(_SCORES)}.")

    def is_unknown(self, X: Any) -> np.ndarray:
        s = self.unknown_scores(X)
        if self.threshold_ is None:
            return s >= 0 if self.unknown_score == "wta" else np.zeros(s.shape, dtype=bool)
        return s > self.threshold_

    def predict(self, X: Any, *, closed_set: bool = False) -> np.ndarray:
        """Label per row, or ``"unknown"`` where rejected (``closed_set=True``: never reject)."""
        p = self.predict_proba(X)
        labels = self.classes_[p.argmax(axis=1)].astype(object)
        if not closed_set:
            labels[self.is_unknown(X)] = UNKNOWN
        return labels

    def top_k(self, X: Any, k: int = 3) -> list[list[tuple[str, float]]]:
        """Per row, the k most probable known labels with their probabilities."""
        p = self.predict_proba(X)
        order = np.argsort(-p, axis=1, kind="stable")[:, :k]
        return [[(str(self.classes_[j]), float(p[i, j])) for j in row] for i, row in enumerate(order)]

    # ------------------------------------------------------------ serialisation

    def state_dict(self) -> dict[str, np.ndarray]:
        self._check_fitted()
        return {
            "coef": np.ascontiguousarray(self.coef_), "intercept": np.ascontiguousarray(self.intercept_),
            "mean": np.ascontiguousarray(self.mean_), "scale": np.ascontiguousarray(self.scale_),
            "wta_indices": np.ascontiguousarray(self.ood_.hasher_.indices_),
            "wta_dist": np.ascontiguousarray(self.ood_.dist_), "wta_thresholds": np.ascontiguousarray(self.ood_.thresholds_),
            "wta_counts": np.ascontiguousarray(self.ood_.counts_),
            "threshold": np.array([np.nan if self.threshold_ is None else self.threshold_]),
        }

    def label_map(self) -> list[str]:
        """Class index → label (stored as JSON in bundles)."""
        self._check_fitted()
        return [str(c) for c in self.classes_]

    @classmethod
    def from_state(cls, params: dict[str, Any], tensors: dict[str, np.ndarray], labels: list[str]) -> AttributionHead:
        valid = sorted(cls().get_params())
        if unknown := sorted(set(params) - set(valid)):
            raise ConfigError(f"Unknown AttributionHead parameter(s) {unknown}; valid: {valid}.")
        need = set(cls._TENSORS)
        if missing := sorted(need - set(tensors)):
            raise ConfigError(f"AttributionHead tensors missing {missing}; expected {sorted(need)}.")
        head = cls(**params)
        head._check_params()
        head.coef_ = np.asarray(tensors["coef"], dtype=np.float64)
        head.intercept_ = np.asarray(tensors["intercept"], dtype=np.float64)
        head.mean_ = np.asarray(tensors["mean"], dtype=np.float64)
        head.scale_ = np.asarray(tensors["scale"], dtype=np.float64)
        head.classes_ = np.asarray(labels, dtype=str)
        if head.coef_.shape[0] != head.classes_.size:
            raise ConfigError(f"AttributionHead: {head.coef_.shape[0]} weight rows but {head.classes_.size} labels.")
        head.n_features_in_ = int(head.coef_.shape[1])
        ood = ClusterOODTest(head.n_hashes, head.window, head.percentile, random_state=head.random_state)
        ood.hasher_ = WTAHasher(head.n_hashes, head.window, random_state=head.random_state)
        ood.hasher_.indices_ = np.asarray(tensors["wta_indices"], dtype=np.int64)
        ood.hasher_.n_features_in_ = head.n_features_in_
        ood.dist_ = np.asarray(tensors["wta_dist"], dtype=np.float64)
        ood.thresholds_ = np.asarray(tensors["wta_thresholds"], dtype=np.float64)
        ood.counts_ = np.asarray(tensors["wta_counts"], dtype=np.int64)
        ood.n_clusters_ = int(ood.dist_.shape[0])
        head.ood_ = ood
        t = float(np.asarray(tensors["threshold"]).reshape(-1)[0])
        head.threshold_ = None if np.isnan(t) else t
        return head

    _TENSORS = ("coef", "intercept", "mean", "scale", "wta_indices", "wta_dist", "wta_thresholds", "wta_counts", "threshold")


def attribution_records(head: AttributionHead, X: Any, *, top_k: int = 3) -> list[dict[str, Any]]:
    """Per row: ``answer`` (a known label or ``"unknown"``), ``unknown`` flag, the OOD score and
    threshold, and the ``top_k`` known labels with their closed-set probabilities."""
    unknown = head.is_unknown(X)
    scores = head.unknown_scores(X)
    out = []
    for unk, sc, top in zip(unknown.tolist(), scores.tolist(), head.top_k(X, k=top_k)):
        out.append({
            "answer": UNKNOWN if unk else top[0][0], "unknown": bool(unk), "level": head.level,
            "unknown_score": float(sc), "unknown_method": head.unknown_score, "threshold": head.threshold_,
            "top_k": [{"source": lab, "probability": round(p, 6)} for lab, p in top],
        })
    return out
