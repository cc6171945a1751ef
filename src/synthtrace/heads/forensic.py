"""A boosted-trees head on forensic features (features/forensic.py).

scikit-learn's histogram gradient boosting, fitted with balanced class weights, then
kept as plain arrays (each tree's split feature, threshold, children, leaf values),
so that a bundle is safetensors + JSON and scoring needs no pickle and no
scikit-learn object. On the real-world dev set, trees beat a linear head on the same
features (docs/real-world.md): the traces interact (a re-sampling ratio means
something else at another residual level).

Labels: 1 = generated, 0 = camera. ``decision_function`` is the logit of "generated".
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier

from synthtrace.errors import BundleError, InputError, NotFittedError

__all__ = ["ForensicHead"]

_TENSORS = ("feature", "threshold", "left", "right", "is_leaf", "value", "missing_left", "baseline")


class ForensicHead(ClassifierMixin, BaseEstimator):
    """Gradient-boosted trees (scikit-learn's ``HistGradientBoostingClassifier``) as arrays.

    Parameters are HistGradientBoostingClassifier's; ``class_weight`` is always "balanced".
    """

    def __init__(self, max_iter: int = 300, learning_rate: float = 0.05, max_leaf_nodes: int = 15,
                 random_state: int = 0):
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> ForensicHead:
        X, y = self._check_X(X), np.asarray(y).astype(int).ravel()
        if len(X) != len(y):
            raise InputError(f"{len(X)} feature rows but {len(y)} labels")
        if set(np.unique(y)) != {0, 1}:
            raise InputError(f"labels {sorted(set(np.unique(y).tolist()))}: expected both 0 (camera) and 1 (generated)")
        gb = HistGradientBoostingClassifier(
            max_iter=self.max_iter, learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes,
            class_weight="balanced", early_stopping=False, random_state=self.random_state).fit(X, y)
        trees = [pred[0].nodes for pred in gb._predictors]
        width = max(len(t) for t in trees)

        def pad(field: str, dtype) -> np.ndarray:
            out = np.zeros((len(trees), width), dtype)
            for i, t in enumerate(trees):
                out[i, : len(t)] = t[field]
            return out

        self.feature_, self.threshold_ = pad("feature_idx", np.int64), pad("num_threshold", np.float64)
        self.left_, self.right_ = pad("left", np.int64), pad("right", np.int64)
        self.is_leaf_, self.value_ = pad("is_leaf", np.uint8), pad("value", np.float64)
        self.missing_left_ = pad("missing_go_to_left", np.uint8)
        self.baseline_ = float(np.ravel(gb._baseline_prediction)[0])
        self.n_features_in_ = X.shape[1]
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self, "feature_"):
            raise NotFittedError("ForensicHead is not fitted; call fit(X, y) first")
        X = self._check_X(X)
        if X.shape[1] != self.n_features_in_:
            raise InputError(f"{X.shape[1]} features per row, but the head was fitted on {self.n_features_in_}")
        n, trees = len(X), np.arange(len(self.feature_))[None, :]
        node = np.zeros((n, len(self.feature_)), np.int64)
        rows = np.arange(n)[:, None]
        # every tree walked at once, one level per step, until all samples sit on leaves
        for _ in range(self.left_.shape[1]):
            leaf = self.is_leaf_[trees, node].astype(bool)
            if leaf.all():
                break
            x = X[rows, self.feature_[trees, node]]
            go_left = np.where(np.isnan(x), self.missing_left_[trees, node].astype(bool), x <= self.threshold_[trees, node])
            node = np.where(leaf, node, np.where(go_left, self.left_[trees, node], self.right_[trees, node]))
        return self.baseline_ + self.value_[trees, node].sum(axis=1)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - p, p])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.decision_function(X) >= 0).astype(int)

    def state_dict(self) -> dict[str, np.ndarray]:
        if not hasattr(self, "feature_"):
            raise NotFittedError("ForensicHead is not fitted; nothing to save")
        return {"feature": self.feature_, "threshold": self.threshold_, "left": self.left_, "right": self.right_,
                "is_leaf": self.is_leaf_, "value": self.value_, "missing_left": self.missing_left_,
                "baseline": np.array([self.baseline_], np.float64)}

    @classmethod
    def from_state(cls, params: dict, state: dict[str, np.ndarray], *, n_features: int,
                   where: str = "weights") -> ForensicHead:
        missing = [k for k in _TENSORS if k not in state]
        if missing:
            raise BundleError(f"{where}: forensic head tensors {missing} are missing; re-create the bundle")
        shapes = {np.shape(state[k]) for k in _TENSORS if k != "baseline"}
        if len(shapes) != 1:
            raise BundleError(f"{where}: forensic head tensors disagree in shape ({sorted(shapes)}); the bundle is damaged")
        head = cls(**params)
        head.feature_, head.threshold_ = np.asarray(state["feature"], np.int64), np.asarray(state["threshold"], np.float64)
        head.left_, head.right_ = np.asarray(state["left"], np.int64), np.asarray(state["right"], np.int64)
        head.is_leaf_, head.value_ = np.asarray(state["is_leaf"], np.uint8), np.asarray(state["value"], np.float64)
        head.missing_left_ = np.asarray(state["missing_left"], np.uint8)
        head.baseline_ = float(np.asarray(state["baseline"]).ravel()[0])
        width = head.feature_.shape[1]
        if head.feature_.min() < 0 or head.feature_.max() >= n_features or head.left_.max() >= width or head.right_.max() >= width:
            raise BundleError(f"{where}: forensic head trees point outside their {n_features} features or {width} nodes; "
                              "the bundle is damaged")
        head.n_features_in_ = n_features
        head.classes_ = np.array([0, 1])
        return head

    @staticmethod
    def _check_X(X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or not len(X):
            raise InputError(f"expected a non-empty 2-D feature matrix, got shape {X.shape}")
        if np.isinf(X).any():
            raise InputError("feature matrix holds infinite values")
        return X
