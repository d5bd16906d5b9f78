"""The estimator: a monotone gradient-boosted model with a temporally calibrated probability.

Follows scikit-learn's contract: hyperparameters in `__init__`, learned state in attributes
ending in `_`, `fit` returns `self`. `decision_function` is the booster's margin (log-odds), which
SHAP explains exactly; `predict_proba` maps it through a Platt calibration fitted on a *later*
temporal slice (`calibrate`), so the ranking is the booster's and the probability is honest.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from model.feature_registry import FEATURE_NAMES, MONOTONIC_CST


def _logit(p):
    return np.log(p / (1.0 - p))


def _months(as_of) -> np.ndarray:
    """Calendar month (1-12) of one date or of an array/Series of dates."""
    import pandas as pd

    values = pd.to_datetime(pd.Series(np.atleast_1d(np.asarray(as_of, dtype="datetime64[ns]"))))
    return values.dt.month.to_numpy()


class RiskModel(ClassifierMixin, BaseEstimator):
    """Risk of concerning absence over the horizon, from the registry's features (in order).

    Monotonic constraints come from each feature's direction, so e.g. more recent absence never
    lowers the risk. The first five parameters are passed on to
    :class:`~sklearn.ensemble.HistGradientBoostingClassifier` (without early stopping).

    Parameters
    ----------
    max_iter : int, default=300
        Boosting iterations: the number of trees.
    learning_rate : float, default=0.05
        Shrinkage of each tree's contribution.
    max_leaf_nodes : int, default=15
        Leaves per tree at most.
    min_samples_leaf : int, default=100
        Feature rows per leaf at least.
    l2_regularization : float, default=1.0
        L2 penalty on the leaf values.
    monotonic : bool, default=True
        Constrain each feature by its registry direction (`Feature.direction`); False learns
        every feature freely.
    random_state : int, default=0
        Seed of the booster, for reproducible fits.

    Attributes
    ----------
    booster_ : HistGradientBoostingClassifier
        The fitted booster; its margin is `decision_function`.
    classes_ : ndarray of shape (2,)
        The class labels, 0 and 1.
    n_features_in_ : int
        Features seen in `fit`, the length of the registry.
    feature_names_ : list of str
        The registry's feature names, in the order of the columns of X.
    unobserved_ : ndarray of int
        Columns that were unknown (NaN) in every training row; they are held at 0 in training
        and prediction alike.
    calibration_ : tuple of (float, float)
        Slope and intercept of the Platt map from margin to probability; (1.0, 0.0) until
        `calibrate` or `calibrate_margins`.
    season_ : ndarray of shape (13,)
        Per calendar month (index 1-12), the log-odds offset of the target's season; set by
        `fit_season`, absent otherwise.
    season_weight_ : float
        The season offset's weight in the calibration; set by `calibrate_margins`.
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
        """Fit the booster on feature rows and their labels; the calibration is reset.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
            Feature rows in registry order (`feature_matrix`); NaN where unknown.
        y : array-like of shape (n_rows,)
            Known labels, 1 where the absence became concerning over the horizon.

        Returns
        -------
        RiskModel
            The fitted model (self).
        """
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
        """Fit the Platt map margin -> probability on a later temporal slice.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
            Feature rows of as-of dates after the training rows'.
        y : array-like of shape (n_rows,)
            Their known labels.

        Returns
        -------
        RiskModel
            The calibrated model (self).
        """
        check_is_fitted(self, "booster_")
        margin = self.decision_function(X).reshape(-1, 1)
        platt = LogisticRegression(C=1e6, max_iter=1000).fit(margin, np.asarray(y).astype(int))
        self.calibration_ = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))
        return self

    # -- issue 12: calibration from out-of-fold margins, with the season as an input -----------

    def fit_season(self, as_of, y) -> RiskModel:
        """The season of the target: per calendar month of the as-of date, the log-odds of the
        training labels' rate against the overall rate (0 for months without rows). The label
        window after an autumn as-of date holds the winter's illness, after a spring one the
        calm months, so the same margin means a different risk by season.

        Parameters
        ----------
        as_of : array-like of dates, shape (n_rows,)
            The as-of date of each training row.
        y : array-like of shape (n_rows,)
            Their known labels.

        Returns
        -------
        RiskModel
            The model (self), with `season_` and `season_months_` (the months with rows) set.
        """
        month = _months(as_of)
        y = np.asarray(y, dtype=float)
        overall = _logit(np.clip(np.mean(y), 1e-4, 1 - 1e-4))
        season, known = np.zeros(13), []
        for m in range(1, 13):
            rows = month == m
            if rows.sum() >= 50:
                # shrunk towards the overall rate (100 pseudo-rows)
                rate = (y[rows].sum() + 100 * np.mean(y)) / (rows.sum() + 100)
                season[m] = _logit(np.clip(rate, 1e-4, 1 - 1e-4)) - overall
                known.append(m)
        self.season_ = season
        self.season_months_ = known
        return self

    def knows_season(self, as_of) -> bool:
        """Whether the season table was fitted on every calendar month of `as_of` (a month
        without training rows has offset 0: the level of the months that had them).

        Parameters
        ----------
        as_of : array-like of dates
            The as-of dates to be scored.

        Returns
        -------
        bool
            True if every month of `as_of` had its own training rows.
        """
        known = getattr(self, "season_months_", None)
        return known is not None and set(np.unique(_months(as_of)).tolist()) <= set(known)

    def season_offset(self, as_of) -> np.ndarray:
        """The season's log-odds offset of each as-of date.

        Parameters
        ----------
        as_of : date or array-like of dates, or None
            The as-of dates of the rows.

        Returns
        -------
        ndarray or None
            One offset per as-of date; None for a model without a season or without dates.
        """
        season = getattr(self, "season_", None)
        if season is None or as_of is None:
            return None
        return season[_months(as_of)]

    def calibrate_margins(self, margin, y, as_of=None) -> RiskModel:
        """Fit the calibration map on margins computed elsewhere: out-of-fold margins of the same
        recipe on later as-of dates than each fold's training (issue 12). With `as_of` and a
        fitted season, the season's offset is the map's second input.

        Parameters
        ----------
        margin : array-like of shape (n_rows,)
            Out-of-fold margins (log-odds).
        y : array-like of shape (n_rows,)
            Their known labels.
        as_of : array-like of dates, shape (n_rows,), optional
            The rows' as-of dates, for the season's offset.

        Returns
        -------
        RiskModel
            The calibrated model (self).
        """
        margin = np.asarray(margin, dtype=float).reshape(-1, 1)
        offset = self.season_offset(as_of)
        X = margin if offset is None else np.column_stack([margin, offset])
        platt = LogisticRegression(C=1e6, max_iter=1000).fit(X, np.asarray(y).astype(int))
        self.calibration_ = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))
        self.season_weight_ = float(platt.coef_[0, 1]) if offset is not None else 0.0
        return self

    def anchor_level(self, margin, y, as_of, scored_as_of) -> RiskModel:
        """Set the map's intercept so that the mean risk over the booster's own training rows is
        their label rate; the slope and the season's weight stay as `calibrate_margins` fitted
        them (issue 12). Nothing changes where the season table lacks a month of `scored_as_of`
        (`knows_season`): the training months' level would stand for that month's.

        The slope and the season's weight transfer from out-of-fold margins, but the level does
        not: those margins come from boosters trained on other stretches of time, and how much
        concerning absence a stretch holds varies from year to year (the winter's flu waves, a
        trend). A boosted model trained with log-loss reproduces its training rows' rate, so the
        level is taken from the booster's own training window, which ends next to the weeks it
        scores.

        Parameters
        ----------
        margin : array-like of shape (n_rows,)
            The booster's margins on its own training rows.
        y : array-like of shape (n_rows,)
            Their known labels.
        as_of : array-like of dates, shape (n_rows,)
            The rows' as-of dates, for the season's offset.
        scored_as_of : array-like of dates
            The as-of dates the model will score (a fold's test weeks, or every as-of date).

        Returns
        -------
        RiskModel
            The model (self), with the intercept of `calibration_` moved where the season is known.
        """
        if not self.knows_season(scored_as_of):
            return self
        from scipy.optimize import brentq

        z = self._log_odds_without_intercept(margin, as_of)
        rate = float(np.clip(np.mean(np.asarray(y, dtype=float)), 1e-6, 1 - 1e-6))
        # the mean risk rises with the intercept from ~0 to ~1 over this bracket
        intercept = brentq(lambda b: float(np.mean(expit(z + b))) - rate, -30.0, 30.0)
        self.calibration_ = (self.calibration_[0], float(intercept))
        return self

    def _log_odds_without_intercept(self, margin, as_of) -> np.ndarray:
        """The slope times the margin, plus the season's weighted offset where the model has one."""
        z = self.calibration_[0] * np.asarray(margin, dtype=float)
        offset = self.season_offset(as_of)
        if offset is not None and getattr(self, "season_weight_", 0.0):
            z = z + self.season_weight_ * offset
        return z

    def _prepare(self, X) -> np.ndarray:
        X = np.array(X, dtype=np.float32, copy=True)
        if len(self.unobserved_):
            X[:, self.unobserved_] = 0.0
        return X

    def decision_function(self, X) -> np.ndarray:
        """The booster's margin in log-odds (what the reasons explain).

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
            Feature rows in registry order.

        Returns
        -------
        ndarray of shape (n_rows,)
            The margin of each row.
        """
        check_is_fitted(self, "booster_")
        return self.booster_.decision_function(self._prepare(X))

    def probability(self, margin: np.ndarray, as_of=None) -> np.ndarray:
        """The calibrated risk for margins already computed (saves a second pass of the trees);
        `as_of` (dates of the rows) adds the season's offset where the model has one.

        Parameters
        ----------
        margin : array-like of shape (n_rows,)
            Margins from `decision_function`.
        as_of : array-like of dates, shape (n_rows,), optional
            The rows' as-of dates.

        Returns
        -------
        ndarray of shape (n_rows,)
            The calibrated probability of concerning absence over the horizon.
        """
        return expit(self._log_odds_without_intercept(margin, as_of) + self.calibration_[1])

    def predict_proba(self, X) -> np.ndarray:
        """Calibrated class probabilities (without the season's offset).

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
            Feature rows in registry order.

        Returns
        -------
        ndarray of shape (n_rows, 2)
            The probabilities of class 0 and class 1.
        """
        p = self.probability(self.decision_function(X))
        return np.column_stack([1 - p, p])

    def predict(self, X) -> np.ndarray:
        """Class 1 where the calibrated risk is at least 50 %.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
            Feature rows in registry order.

        Returns
        -------
        ndarray of shape (n_rows,)
            0 or 1 per row.
        """
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


RISK_BANDS = ((0.5, "high"), (0.25, "raised"), (0.10, "watch"), (0.0, "low"))
BAND_DA = {"high": "høj", "raised": "forhøjet", "watch": "opmærksomhed", "low": "lav"}


def risk_band(risk: np.ndarray) -> np.ndarray:
    """The risk band of calibrated probabilities: high >= 50 %, raised >= 25 %, watch >= 10 %.

    Parameters
    ----------
    risk : array-like
        Calibrated probabilities.

    Returns
    -------
    ndarray of object
        "high", "raised", "watch" or "low", of the shape of `risk`.
    """
    risk = np.asarray(risk)
    out = np.full(risk.shape, "low", dtype=object)
    for cut, name in reversed(RISK_BANDS[:-1]):
        out[risk >= cut] = name
    return out
