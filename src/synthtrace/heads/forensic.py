"""A logistic-regression head on standardised forensic features (features/forensic.py).

Deliberately linear: a few dozen hand-built numbers and a few thousand training
images from the real world leave no room for a flexible model, and a linear head's
weights can be read (docs/real-world.md lists which features carry it).

Labels: 1 = generated, 0 = camera. ``decision_function`` is the logit of "generated".
Serialisation is numpy arrays for safetensors plus a JSON-able params dict; no pickle.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from synthtrace.errors import BundleError, InputError, NotFittedError

__all__ = ["ForensicHead"]

_TENSORS = ("mean", "scale", "coef", "intercept")


class ForensicHead(ClassifierMixin, BaseEstimator):
    """Standardise each feature, then L2-penalised logistic regression with balanced class weights.

    Parameters
    ----------
    C : inverse L2 regularisation strength (sklearn's ``C``).
    max_iter : LBFGS iteration limit.
    """

    def __init__(self, C: float = 1.0, max_iter: int = 5000):
        self.C = C
        self.max_iter = max_iter

    def fit(self, X: np.ndarray, y: np.ndarray) -> ForensicHead:
        X, y = self._check_X(X), np.asarray(y).astype(int).ravel()
        if len(X) != len(y):
            raise InputError(f"{len(X)} feature rows but {len(y)} labels")
        if set(np.unique(y)) != {0, 1}:
            raise InputError(f"labels {sorted(set(np.unique(y).tolist()))}: expected both 0 (camera) and 1 (generated)")
        self.mean_ = X.mean(axis=0)
        self.scale_ = np.where(X.std(axis=0) > 1e-9, X.std(axis=0), 1.0)
        lr = LogisticRegression(C=self.C, max_iter=self.max_iter, class_weight="balanced")
        lr.fit((X - self.mean_) / self.scale_, y)
        self.coef_ = lr.coef_.ravel().astype(np.float64)
        self.intercept_ = float(lr.intercept_[0])
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self, "coef_"):
            raise NotFittedError("ForensicHead is not fitted; call fit(X, y) first")
        X = self._check_X(X)
        if X.shape[1] != len(self.coef_):
            raise InputError(f"{X.shape[1]} features per row, but the head was fitted on {len(self.coef_)}")
        return ((X - self.mean_) / self.scale_) @ self.coef_ + self.intercept_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - p, p])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.decision_function(X) >= 0).astype(int)

    def state_dict(self) -> dict[str, np.ndarray]:
        if not hasattr(self, "coef_"):
            raise NotFittedError("ForensicHead is not fitted; nothing to save")
        return {"mean": self.mean_.astype(np.float64), "scale": self.scale_.astype(np.float64),
                "coef": self.coef_.astype(np.float64), "intercept": np.array([self.intercept_], np.float64)}

    @classmethod
    def from_state(cls, params: dict, state: dict[str, np.ndarray], *, where: str = "weights") -> ForensicHead:
        missing = [k for k in _TENSORS if k not in state]
        if missing:
            raise BundleError(f"{where}: forensic head tensors {missing} are missing; re-create the bundle")
        shapes = {len(state[k]) for k in ("mean", "scale", "coef")}
        if len(shapes) != 1:
            raise BundleError(f"{where}: forensic head tensors disagree in length ({sorted(shapes)}); the bundle is damaged")
        head = cls(**params)
        head.mean_, head.scale_, head.coef_ = (np.asarray(state[k], np.float64) for k in ("mean", "scale", "coef"))
        head.intercept_ = float(np.asarray(state["intercept"]).ravel()[0])
        head.classes_ = np.array([0, 1])
        return head

    @staticmethod
    def _check_X(X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or not len(X):
            raise InputError(f"expected a non-empty 2-D feature matrix, got shape {X.shape}")
        if not np.isfinite(X).all():
            raise InputError("feature matrix holds NaN or infinite values")
        return X
