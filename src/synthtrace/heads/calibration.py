"""Turn detector scores into probabilities and operating thresholds.

A head's raw output is a ranking, not a probability: balanced training assumes
a 50 % fake prior, and over-confident logits are common. Calibration is fitted
on held-out *validation* scores (never the training set, never the test set):

* :class:`PlattCalibrator` — p = σ(a·s + b), two parameters (Platt, 1999).
  Fixes both scale and offset (e.g. a prior shift).
* :class:`TemperatureCalibrator` — p = σ(s / T), one parameter T > 0 (Guo et
  al., 2017). Fixes only over/under-confidence; cannot move the 0.5 point, so
  it keeps the head's decisions unchanged.
* :func:`thresholds_at_fpr` — raw-score thresholds for a target false-alarm
  rate on reals, which is what a newsroom usually wants to fix.

:class:`Calibration` bundles the chosen method, its parameters and thresholds
as a frozen, JSON-able record for detector bundles.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np
from scipy.optimize import minimize, minimize_scalar

from synthtrace.errors import ConfigError, InputError, NotFittedError

__all__ = [
    "PlattCalibrator",
    "TemperatureCalibrator",
    "thresholds_at_fpr",
    "threshold_key",
    "Calibration",
    "fit_calibration",
    "CALIBRATORS",
]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _check_scores(scores: Any, name: str = "scores") -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise InputError(f"{name} must be 1-D (one score per image); got shape {s.shape}.")
    if not np.all(np.isfinite(s)):
        raise InputError(f"{name} contains NaN or inf; every image needs a finite score.")
    return s


def _check_xy(scores: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    s = _check_scores(scores)
    y = np.asarray(y)
    if y.shape != s.shape:
        raise InputError(f"y has shape {y.shape} but scores has {s.shape}; give one label per score.")
    if y.dtype != bool and not np.all(np.isin(np.unique(y), (0, 1))):
        raise InputError(f"y must contain only 0 (real) and 1 (fake); got {np.unique(y)[:10].tolist()}.")
    return s, y.astype(np.float64)


def _nll(z: np.ndarray, y: np.ndarray) -> float:
    """Mean binary log-loss of logits z — log(1 + e^z) − y·z, computed stably."""
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


class _Calibrator:
    """Shared plumbing: fitted check, ``to_dict``/``from_dict``."""

    method: ClassVar[str]
    param_names: ClassVar[tuple[str, ...]]

    params_: dict[str, float]

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet; call fit(scores, y) on "
                "validation scores, or build it with from_dict()."
            )

    def to_dict(self) -> dict[str, Any]:
        """``{"method": ..., "params": {...}}``, JSON-able."""
        self._check_fitted()
        return {"method": self.method, "params": dict(self.params_)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> _Calibrator:
        """Inverse of :meth:`to_dict`; ConfigError on unknown or missing keys."""
        valid = ("method", "params")
        unknown = sorted(set(d) - set(valid))
        if unknown or "params" not in d:
            raise ConfigError(
                f"{cls.__name__}.from_dict got keys {sorted(d)}; valid keys: {list(valid)} "
                "(params required)."
            )
        if d.get("method", cls.method) != cls.method:
            raise ConfigError(
                f"{cls.__name__}.from_dict got method {d['method']!r}; expected {cls.method!r}."
            )
        obj = cls()
        obj._set_params(_check_params(cls.method, cls.param_names, d["params"]))
        return obj

    def _set_params(self, params: dict[str, float]) -> None:
        self.params_ = params

    def transform(self, scores: Any) -> np.ndarray:
        """Calibrated probability of "fake" for each score."""
        self._check_fitted()
        return _sigmoid(self._logit(_check_scores(scores)))

    def fit(self, scores: Any, y: Any) -> _Calibrator:  # pragma: no cover - abstract
        raise NotImplementedError

    def _logit(self, s: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


def _check_params(method: str, names: tuple[str, ...], params: Any) -> dict[str, float]:
    if not isinstance(params, dict) or set(params) != set(names):
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ConfigError(f"{method!r} calibration params must have exactly keys {list(names)}; got {got}.")
    out = {k: float(params[k]) for k in names}
    if not all(math.isfinite(v) for v in out.values()):
        raise ConfigError(f"{method!r} calibration params must be finite; got {out}.")
    if method == "temperature" and out["temperature"] <= 0:
        raise ConfigError(f"temperature must be > 0; got {out['temperature']}.")
    return out


class PlattCalibrator(_Calibrator):
    """p = σ(a·s + b), fitted by maximum likelihood on validation (score, label) pairs.

    Plain MLE (no Platt target smoothing), so on data drawn from a logistic
    model it recovers a and b. If every validation score is perfectly separated
    the MLE diverges; LBFGS then stops at a large but finite slope.

    Attributes: ``a_``, ``b_``, ``params_ = {"a": a_, "b": b_}``.
    """

    method = "platt"
    param_names = ("a", "b")

    def fit(self, scores: Any, y: Any) -> PlattCalibrator:
        s, y = _check_xy(scores, y)
        if np.unique(y).size != 2:
            raise InputError("Platt calibration needs both real (0) and fake (1) validation scores.")
        # Standardise the scores so LBFGS sees a well-conditioned problem.
        mu, sd = float(s.mean()), float(s.std()) or 1.0
        u = (s - mu) / sd

        def f(theta: np.ndarray) -> tuple[float, np.ndarray]:
            z = theta[0] * u + theta[1]
            r = _sigmoid(z) - y
            return _nll(z, y), np.array([np.mean(r * u), np.mean(r)])

        res = minimize(f, np.zeros(2), jac=True, method="L-BFGS-B")
        a = float(res.x[0] / sd)
        b = float(res.x[1] - res.x[0] * mu / sd)
        self._set_params({"a": a, "b": b})
        return self

    def _set_params(self, params: dict[str, float]) -> None:
        self.params_ = params
        self.a_ = params["a"]
        self.b_ = params["b"]

    def _logit(self, s: np.ndarray) -> np.ndarray:
        return self.a_ * s + self.b_


class TemperatureCalibrator(_Calibrator):
    """p = σ(s / T) with a single T > 0 minimising validation log-loss.

    ``scores`` must be logits (e.g. ``LinearProbe.decision_function``). T > 1
    softens an over-confident head; the decision at logit 0 never changes.
    T is searched over [1e-3, 1e3] (bounded Brent on log T).

    Attributes: ``temperature_``, ``params_ = {"temperature": temperature_}``.
    """

    method = "temperature"
    param_names = ("temperature",)

    def fit(self, scores: Any, y: Any) -> TemperatureCalibrator:
        s, y = _check_xy(scores, y)
        if s.size == 0:
            raise InputError("Temperature scaling needs at least one validation score.")
        res = minimize_scalar(
            lambda log_t: _nll(s * math.exp(-log_t), y),
            bounds=(math.log(1e-3), math.log(1e3)),
            method="bounded",
            options={"xatol": 1e-8},
        )
        self._set_params({"temperature": float(math.exp(res.x))})
        return self

    def _set_params(self, params: dict[str, float]) -> None:
        self.params_ = params
        self.temperature_ = params["temperature"]

    def _logit(self, s: np.ndarray) -> np.ndarray:
        return s / self.temperature_


CALIBRATORS: dict[str, type[_Calibrator]] = {
    PlattCalibrator.method: PlattCalibrator,
    TemperatureCalibrator.method: TemperatureCalibrator,
}


# ---------------------------------------------------------------- thresholds


def threshold_key(fpr: float) -> str:
    """Key under which :func:`thresholds_at_fpr` stores a target: 0.01 → ``"fpr_0.01"``."""
    return f"fpr_{fpr:g}"


def thresholds_at_fpr(
    y_true: Any, scores: Any, fprs: tuple[float, ...] = (0.01, 0.05)
) -> dict[str, float]:
    """Score thresholds meeting a false-positive-rate target on the given reals.

    For each target f, with k = ⌊f · n_real⌋ reals allowed to be flagged, the
    threshold t is the *lowest observed real score* such that at most k reals
    score ≥ t (images are flagged fake when ``score >= t``). If no observed
    real score qualifies (k = 0, or ties at the top exceed k), t is the
    smallest float above the highest real score, so no real is flagged.
    Guarantee: on this data the share of reals with score ≥ t is ≤ f. Fakes
    in ``y_true`` are ignored.

    Few reals: the achievable FPR moves in steps of 1/n_real. With
    n_real < 1/f (e.g. fewer than 100 reals for 1 %), k = 0 and the threshold
    sits just above the highest real score — on new data its FPR is about
    1/(n_real + 1) on average, which may be far above f; a RuntimeWarning says
    so. Use ≳ 10/f reals (1,000 for 1 %) for a threshold you can quote.

    Keys are :func:`threshold_key` (``"fpr_0.01"``); thresholds are on the same
    scale as ``scores`` (use raw logits: probabilities saturate near 1 and lose
    resolution at low FPR).
    """
    s, y = _check_xy(scores, y_true)
    reals = np.sort(s[y == 0])  # ascending
    vals = np.unique(reals)
    n_real = reals.size
    if n_real == 0:
        raise InputError(
            "thresholds_at_fpr needs real (label 0) validation images; got none. "
            "An FPR cannot be controlled without reals."
        )
    out: dict[str, float] = {}
    for f in fprs:
        if not 0.0 <= f < 1.0:
            raise InputError(f"FPR targets must lie in [0, 1); got {f!r}.")
        k = int(math.floor(f * n_real + 1e-9))
        if k == 0 and f > 0:
            warnings.warn(
                f"Only {n_real} real images for a {f:g} FPR target: the threshold lies "
                f"above every real score, and its FPR on new data is roughly 1/{n_real + 1}, "
                f"possibly far above {f:g}. Use at least {math.ceil(10 / f)} reals.",
                RuntimeWarning,
                stacklevel=2,
            )
        # Lowest observed real score v with #{reals >= v} <= k; counts fall as v
        # rises, so the qualifying values form a suffix of the sorted unique scores.
        count_ge = n_real - np.searchsorted(reals, vals, side="left")
        ok = count_ge <= k
        t = float(vals[ok][0]) if ok.any() else float(np.nextafter(reals[-1], np.inf))
        out[threshold_key(f)] = t
    return out


# ---------------------------------------------------------------- record


@dataclass(frozen=True)
class Calibration:
    """A fitted calibration as stored in a detector bundle.

    ``method``: a key of :data:`CALIBRATORS` ("platt" or "temperature");
    ``params``: that calibrator's parameters; ``thresholds``: raw-score
    thresholds from :func:`thresholds_at_fpr` (same scale as the scores passed
    to :meth:`probability`, not probabilities).
    """

    method: str
    params: dict[str, float]
    thresholds: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in CALIBRATORS:
            raise ConfigError(
                f"Unknown calibration method {self.method!r}; valid: {sorted(CALIBRATORS)}."
            )
        cal = CALIBRATORS[self.method]
        object.__setattr__(self, "params", _check_params(self.method, cal.param_names, self.params))
        object.__setattr__(self, "thresholds", {str(k): float(v) for k, v in self.thresholds.items()})

    def calibrator(self) -> _Calibrator:
        """The fitted calibrator object these parameters describe."""
        return CALIBRATORS[self.method].from_dict({"method": self.method, "params": self.params})

    def probability(self, scores: Any) -> np.ndarray:
        """Calibrated probability of "fake" for raw scores."""
        return self.calibrator().transform(scores)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "params": dict(self.params), "thresholds": dict(self.thresholds)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibration:
        """Inverse of :meth:`to_dict`; unknown or missing keys raise ConfigError."""
        valid = [f.name for f in fields(cls)]
        if not isinstance(d, dict):
            raise ConfigError(f"Calibration.from_dict expects a dict; got {type(d).__name__}.")
        unknown = sorted(set(d) - set(valid))
        if unknown:
            raise ConfigError(f"Unknown Calibration key(s) {unknown}; valid keys: {valid}.")
        missing = sorted({"method", "params"} - set(d))
        if missing:
            raise ConfigError(f"Calibration is missing key(s) {missing}; valid keys: {valid}.")
        return cls(method=d["method"], params=dict(d["params"]), thresholds=dict(d.get("thresholds", {})))


def fit_calibration(
    y_val: Any,
    val_scores: Any,
    method: str = "platt",
    *,
    fprs: tuple[float, ...] = (0.01, 0.05),
) -> Calibration:
    """Fit ``method`` on validation scores and compute FPR thresholds on them.

    ``val_scores`` should be raw logits from the head. Note the argument order
    (labels first), matching the metrics module.
    """
    if method not in CALIBRATORS:
        raise ConfigError(f"Unknown calibration method {method!r}; valid: {sorted(CALIBRATORS)}.")
    cal = CALIBRATORS[method]().fit(val_scores, y_val)
    return Calibration(
        method=method,
        params=dict(cal.params_),
        thresholds=thresholds_at_fpr(y_val, val_scores, fprs),
    )
