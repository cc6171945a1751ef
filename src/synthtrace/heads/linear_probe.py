"""Linear probe on frozen backbone features (UnivFD / COCOFake protocol, spec §1).

Logistic regression, L2 penalty, LBFGS, on L2-normalised features. The probe is
deliberately simple: with a good frozen backbone, a linear head generalises to
unseen generators better than a fine-tuned network, and it trains in seconds on
a CPU.

Labels: 1 = fake/generated, 0 = real. ``decision_function`` is the logit of
"fake", so the calibration module and the metrics can use it directly.

Serialisation never uses pickle: :meth:`LinearProbe.state_dict` returns plain
numpy arrays (for ``safetensors``) and :meth:`get_params` a JSON-able dict;
:meth:`LinearProbe.from_state` rebuilds the fitted head from the two.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from synthtrace.errors import ConfigError, InputError, NotFittedError

__all__ = ["LinearProbe", "l2_normalize"]

Balance = Literal["subsample", "weight", "none"]
_BALANCES = ("subsample", "weight", "none")
_TENSORS = ("coef", "intercept", "classes")


def l2_normalize(X: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit L2 norm (all-zero rows stay zero).

    CLIP-style embeddings carry their information in direction; their norm
    varies with image content and preprocessing, which a probe would otherwise
    learn as a spurious cue.
    """
    X = np.asarray(X, dtype=np.float64)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.maximum(norms, eps)


class LinearProbe(ClassifierMixin, BaseEstimator):
    """Real-vs-fake logistic-regression head on frozen features.

    Parameters
    ----------
    C : inverse L2 regularisation strength (sklearn's ``C``).
    balance : how to handle unequal class counts.
        ``"subsample"`` (UnivFD protocol): keep every sample of the minority
        class and draw, without replacement, as many from the majority class
        (one random fake per real when fakes outnumber reals, and vice versa);
        ``"weight"``: keep all samples, ``class_weight="balanced"``;
        ``"none"``: fit on the data as given (the head then learns the class prior).
    normalize : L2-normalise each feature vector (at fit and predict time).
    max_iter : LBFGS iteration limit.
    random_state : seed for the subsampling.

    Attributes (after ``fit``)
    --------------------------
    coef_ : (1, n_features) weights; intercept_ : (1,); classes_ : array([0, 1]);
    n_features_in_ : int; n_samples_fit_ : samples actually used after balancing;
    n_iter_ : LBFGS iterations.
    """

    def __init__(
        self,
        C: float = 1.0,
        *,
        balance: Balance = "subsample",
        normalize: bool = True,
        max_iter: int = 1000,
        random_state: int | None = 0,
    ) -> None:
        self.C = C
        self.balance = balance
        self.normalize = normalize
        self.max_iter = max_iter
        self.random_state = random_state

    # ------------------------------------------------------------ fitting

    def _check_params(self) -> None:
        if self.balance not in _BALANCES:
            raise ConfigError(
                f"LinearProbe balance={self.balance!r} is not valid; expected one of {list(_BALANCES)}."
            )
        if not (isinstance(self.C, (int, float)) and self.C > 0):
            raise ConfigError(f"LinearProbe C must be a positive number; got {self.C!r}.")
        if not (isinstance(self.max_iter, int) and self.max_iter > 0):
            raise ConfigError(f"LinearProbe max_iter must be a positive int; got {self.max_iter!r}.")

    def _check_X(self, X: Any, *, fitting: bool) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise InputError(
                f"X must be 2-D (n_samples, n_features); got shape {X.shape}. "
                "Reshape a single feature vector with X.reshape(1, -1)."
            )
        if not np.all(np.isfinite(X)):
            raise InputError("X contains NaN or inf; features must be finite (re-extract them).")
        if not fitting and X.shape[1] != self.n_features_in_:
            raise InputError(
                f"X has {X.shape[1]} features but this LinearProbe was fitted on "
                f"{self.n_features_in_}; use features from the same backbone and layer."
            )
        return l2_normalize(X) if self.normalize else X

    def _balanced_indices(self, y: np.ndarray) -> np.ndarray:
        idx = np.arange(y.shape[0])
        if self.balance != "subsample":
            return idx
        pos, neg = idx[y == 1], idx[y == 0]
        if pos.size == neg.size:
            return idx
        rng = np.random.default_rng(self.random_state)
        small, big = (pos, neg) if pos.size < neg.size else (neg, pos)
        keep = rng.choice(big, size=small.size, replace=False)
        return np.sort(np.concatenate([small, keep]))

    def fit(self, X: Any, y: Any) -> LinearProbe:
        """Fit on features ``X`` (n, d) and labels ``y`` (n,), 1 = fake. Returns self."""
        self._check_params()
        X = self._check_X(X, fitting=True)
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise InputError(f"y must be 1-D with one label per row of X ({X.shape[0]}); got shape {y.shape}.")
        if y.dtype != bool and not np.all(np.isin(np.unique(y), (0, 1))):
            raise InputError(
                f"y must contain only 0 (real) and 1 (fake); got {np.unique(y)[:10].tolist()}."
            )
        y = y.astype(np.int64)
        if np.unique(y).size != 2:
            raise InputError(
                f"LinearProbe needs both real (0) and fake (1) samples; got only class {int(y[0]) if y.size else '(none)'}."
            )
        idx = self._balanced_indices(y)
        lr = LogisticRegression(
            C=float(self.C),
            solver="lbfgs",
            max_iter=self.max_iter,
            class_weight="balanced" if self.balance == "weight" else None,
        )
        lr.fit(X[idx], y[idx])
        self.coef_ = lr.coef_.astype(np.float64)
        self.intercept_ = lr.intercept_.astype(np.float64)
        self.classes_ = np.array([0, 1], dtype=np.int64)
        self.n_features_in_ = int(X.shape[1])
        self.n_samples_fit_ = int(idx.size)
        self.n_iter_ = int(np.max(lr.n_iter_))
        return self

    # ------------------------------------------------------------ inference

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError(
                "This LinearProbe is not fitted yet; call fit(X, y) or load one with "
                "LinearProbe.from_state(params, tensors)."
            )

    def decision_function(self, X: Any) -> np.ndarray:
        """Logit of "fake" for each row, shape (n,)."""
        self._check_fitted()
        X = self._check_X(X, fitting=False)
        return X @ self.coef_[0] + self.intercept_[0]

    def predict_proba(self, X: Any) -> np.ndarray:
        """(n, 2) probabilities, columns in ``classes_`` order: [real, fake].

        These are the uncalibrated logistic outputs; with ``balance`` they assume
        a 50 % fake prior. Use ``synthtrace.heads.calibration`` for probabilities
        you can quote.
        """
        z = self.decision_function(X)
        p = 0.5 * (1.0 + np.tanh(0.5 * z))  # stable sigmoid
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        """1 (fake) where the logit is > 0, else 0 (real)."""
        return (self.decision_function(X) > 0).astype(np.int64)

    # ------------------------------------------------------------ serialisation

    def state_dict(self) -> dict[str, np.ndarray]:
        """Learned arrays for ``safetensors.numpy.save_file`` (contiguous copies)."""
        self._check_fitted()
        return {
            "coef": np.ascontiguousarray(self.coef_, dtype=np.float64),
            "intercept": np.ascontiguousarray(self.intercept_, dtype=np.float64),
            "classes": np.ascontiguousarray(self.classes_, dtype=np.int64),
        }

    @classmethod
    def from_state(cls, params: dict[str, Any], tensors: dict[str, np.ndarray]) -> LinearProbe:
        """Rebuild a fitted probe from ``get_params()`` and ``state_dict()`` output.

        Unknown parameter or tensor names raise ConfigError listing the valid
        ones, so a bundle written by a different version fails loudly.
        """
        valid = sorted(cls().get_params())
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise ConfigError(f"Unknown LinearProbe parameter(s) {unknown}; valid: {valid}.")
        missing = sorted(set(_TENSORS) - set(tensors))
        extra = sorted(set(tensors) - set(_TENSORS))
        if missing or extra:
            raise ConfigError(
                f"LinearProbe tensors must be exactly {list(_TENSORS)}; "
                f"missing {missing}, unexpected {extra}."
            )
        coef = np.asarray(tensors["coef"], dtype=np.float64)
        intercept = np.asarray(tensors["intercept"], dtype=np.float64).reshape(-1)
        if coef.ndim != 2 or coef.shape[0] != 1 or intercept.shape != (1,):
            raise ConfigError(
                f"LinearProbe tensors have wrong shapes: coef {coef.shape} (expected (1, d)), "
                f"intercept {intercept.shape} (expected (1,))."
            )
        probe = cls(**params)
        probe._check_params()
        probe.coef_ = coef.copy()
        probe.intercept_ = intercept.copy()
        probe.classes_ = np.asarray(tensors["classes"], dtype=np.int64).copy()
        probe.n_features_in_ = int(coef.shape[1])
        return probe
