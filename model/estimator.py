"""The estimator: a monotone gradient-boosted model with a temporally calibrated probability.

Follows scikit-learn's contract: hyperparameters in `__init__`, learned state in attributes
ending in `_`, `fit` returns `self`. `decision_function` is the booster's margin (log-odds), which
SHAP explains exactly; `predict_proba` maps it through a Platt calibration fitted on a *later*
temporal slice (`calibrate`), so the ranking is the booster's and the probability is honest.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from model.features import FEATURE_NAMES, MONOTONIC_CST


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


class RiskModel(ClassifierMixin, BaseEstimator):
    """Risk of concerning absence over the horizon, from the registry's features (in order).

    Monotonic constraints come from each feature's direction, so e.g. more recent absence never
    lowers the risk.
    """

    def __init__(self, max_iter: int = 300, learning_rate: float = 0.05, max_leaf_nodes: int = 15,
                 min_samples_leaf: int = 100, l2_regularization: float = 1.0,
                 monotonic: bool = True, random_state: int = 0):
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.monotonic = monotonic
        self.random_state = random_state

    def fit(self, X, y) -> RiskModel:
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y).astype(int)
        # A feature never observed in training (e.g. no wellbeing survey yet) carries nothing
        # to learn; it is held at 0 in training and prediction alike.
        self.unobserved_ = np.flatnonzero(np.isnan(X).all(axis=0))
        X = self._prepare(X)
        self.booster_ = HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            monotonic_cst=MONOTONIC_CST if self.monotonic else None,
            early_stopping=False,
            random_state=self.random_state,
        ).fit(X, y)
        self.classes_ = self.booster_.classes_
        self.n_features_in_ = X.shape[1]
        self.feature_names_ = list(FEATURE_NAMES)
        self.calibration_ = (1.0, 0.0)  # identity until `calibrate`
        return self

    def calibrate(self, X, y) -> RiskModel:
        """Fit the Platt map margin -> probability on a later temporal slice."""
        check_is_fitted(self, "booster_")
        margin = self.decision_function(X).reshape(-1, 1)
        platt = LogisticRegression(C=1e6, max_iter=1000).fit(margin, np.asarray(y).astype(int))
        self.calibration_ = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))
        return self

    def _prepare(self, X) -> np.ndarray:
        X = np.array(X, dtype=np.float32, copy=True)
        if len(self.unobserved_):
            X[:, self.unobserved_] = 0.0
        return X

    def decision_function(self, X) -> np.ndarray:
        """The booster's margin in log-odds (what the reasons explain)."""
        check_is_fitted(self, "booster_")
        return self.booster_.decision_function(self._prepare(X))

    def probability(self, margin: np.ndarray) -> np.ndarray:
        """The calibrated risk for margins already computed (saves a second pass of the trees)."""
        a, b = self.calibration_
        return _sigmoid(a * np.asarray(margin, dtype=float) + b)

    def predict_proba(self, X) -> np.ndarray:
        p = self.probability(self.decision_function(X))
        return np.column_stack([1 - p, p])

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


RISK_BANDS = ((0.5, "high"), (0.25, "raised"), (0.10, "watch"), (0.0, "low"))
BAND_DA = {"high": "høj", "raised": "forhøjet", "watch": "opmærksomhed", "low": "lav"}


def risk_band(risk: np.ndarray) -> np.ndarray:
    """The risk band of calibrated probabilities: high >= 50 %, raised >= 25 %, watch >= 10 %."""
    risk = np.asarray(risk)
    out = np.full(risk.shape, "low", dtype=object)
    for cut, name in reversed(RISK_BANDS[:-1]):
        out[risk >= cut] = name
    return out
