"""Reasons (begrundelser): why the model ranks a pupil where it does, in one plain sentence each.

The model's margin (log-odds, `RiskModel.decision_function`) is split exactly into one SHAP
contribution per feature with TreeSHAP on the booster: base value + contributions = margin.
Contributions are summed per reason group (`Feature.group`), so a detection team reads one
reason per idea ("ulovligt fravær") rather than five near-duplicate windows of it.

- A *reason* is a group whose summed contribution raises the risk (effect > 0); the sentence
  talks about the group's most contributing feature, with the pupil's own value and, where it
  helps, the school's average of the same feature.
- What lowers the risk is reported apart (`protective_for`), never mixed into the reasons.
- Every feature of the registry renders in Danish and English (model.reason_texts): a specific
  template where one is written, otherwise a sentence driven by the registry's unit and
  description.

Rows of `Explanation.values` follow the rows of the feature frame they were computed from
(`feature_matrix(frame)`); `reasons_for` relies on that order.
"""

from __future__ import annotations

import math
import sys
import threading
import warnings
import weakref
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from model.feature_registry import (
    FEATURE_BY_NAME,
    FEATURE_NAMES,
    FEATURES,
    NOT_A_REASON,
    feature_matrix,
)
from model.reason_texts import LANGUAGES, TEMPLATES, UNKNOWN, _check_language, _template, render
from model.threads import limited_threads

if TYPE_CHECKING:
    from model.estimator import RiskModel

__all__ = [  # the reason texts' names (LANGUAGES, TEMPLATES, UNKNOWN, render) stay importable here
    "GROUPS", "Explanation", "LANGUAGES", "Reason", "TEMPLATES", "UNKNOWN", "dependence_plot",
    "explain", "global_importance", "importance_plot", "protective_for", "reason_columns",
    "reasons_for", "render", "school_means", "summary_plot",
]


# Reason groups in registry order, and each feature's group as an index into them.
GROUPS: tuple[str, ...] = tuple(dict.fromkeys(f.group for f in FEATURES))
_GROUP_OF = np.array([GROUPS.index(f.group) for f in FEATURES])
_MEMBERSHIP = np.zeros((len(FEATURES), len(GROUPS)))
_MEMBERSHIP[np.arange(len(FEATURES)), _GROUP_OF] = 1.0
_NOT_A_REASON = [GROUPS.index(g) for g in NOT_A_REASON if g in GROUPS]
_GROUP_COLUMNS = [np.flatnonzero(np.equal(_GROUP_OF, g)) for g in range(len(GROUPS))]


# -- explanations ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Explanation:
    """SHAP contributions to the margin (log-odds) of n rows: `base_value + values.sum(1)` is
    `model.decision_function(X)`. Columns follow the registry (`FEATURE_NAMES`).

    Attributes
    ----------
    base_value : float
        The explainer's expected margin.
    values : ndarray of shape (n_rows, n_features)
        Each feature's contribution to each row's margin, in log-odds.
    """

    base_value: float
    values: np.ndarray  # (n, n_features), log-odds

    def __len__(self) -> int:
        return len(self.values)

    @property
    def margin(self) -> np.ndarray:
        """The model's margin rebuilt from the contributions."""
        return self.base_value + self.values.sum(axis=1)

    def group_values(self) -> np.ndarray:
        """Contributions summed per reason group, (n, len(GROUPS)), columns in `GROUPS` order."""
        return self.values @ _MEMBERSHIP

    def by_group(self) -> pd.DataFrame:
        """`group_values` as a frame with one column per reason group."""
        return pd.DataFrame(self.group_values(), columns=list(GROUPS))

    def by_feature(self) -> pd.DataFrame:
        """The contributions as a frame with one column per feature."""
        return pd.DataFrame(self.values, columns=FEATURE_NAMES)


# TreeExplainer per booster, so scoring many batches builds it once. Keyed weakly by the booster
# (not the RiskModel): a refit replaces `booster_` and so the explainer, and a model that is
# dropped takes its explainer with it (shap keeps no reference back to a HistGradientBoosting
# booster, so the weak key can die).
_EXPLAINERS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_EXPLAINERS_LOCK = threading.Lock()


def _import_shap() -> None:
    with warnings.catch_warnings():  # shap's colour maps call deprecated matplotlib functions
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import shap  # noqa: F401


def _shap() -> Any:
    """shap, imported on first use (~1-4 s, numba). The first import runs on a thread of its
    own: shap keeps tracebacks of optional imports, whose frames would otherwise keep the
    caller's stack (and the model being explained) alive for the life of the process.
    """
    if "shap" not in sys.modules:
        importer = threading.Thread(target=_import_shap, name="import-shap")
        importer.start()
        importer.join()
    import shap

    return shap


def _explainer(booster: Any) -> Any:
    with _EXPLAINERS_LOCK:
        explainer = _EXPLAINERS.get(booster)
        if explainer is None:
            explainer = _EXPLAINERS[booster] = _shap().TreeExplainer(booster)
        return explainer


def explain(model: RiskModel, X: np.ndarray, n_threads: int = 1) -> Explanation:
    """SHAP contributions of each feature to `model.decision_function(X)` (log-odds, exact).

    TreeSHAP's C core runs on one thread and holds the GIL; `n_threads` only caps the OpenMP and
    BLAS pools around it (oversubscription on a 2-core machine costs more than it gives). To use
    both cores, explain halves of a large batch in two processes.

    Parameters
    ----------
    model : RiskModel
        A fitted model (or a bare booster).
    X : ndarray of shape (n_rows, n_features)
        Feature rows in registry order (`feature_matrix`).
    n_threads : int, default=1
        Threads the OpenMP and BLAS pools may run meanwhile.

    Returns
    -------
    Explanation
        The contributions, one row per row of X.
    """
    # The booster predicts on float32 input widened to float64; explain exactly that input.
    X = np.asarray(X, dtype=np.float32).astype(np.float64)
    if X.ndim != 2 or X.shape[1] != len(FEATURES):
        raise ValueError(f"X must have shape (n, {len(FEATURES)}), got {X.shape}")
    explainer = _explainer(getattr(model, "booster_", model))
    if len(X) == 0:
        values = np.zeros((0, len(FEATURES)))
    else:
        with limited_threads(n_threads):
            values = explainer.shap_values(X, check_additivity=False)
    values = np.asarray(values, dtype=np.float64).reshape(len(X), len(FEATURES))
    if explainer.expected_value is None:  # shap fills it on the first non-empty call
        explainer.shap_values(np.zeros((1, len(FEATURES))), check_additivity=False)
    base = float(np.ravel(explainer.expected_value)[0])
    return Explanation(base, values)


def global_importance(explanation: Explanation) -> pd.DataFrame:
    """Mean |SHAP| (and mean SHAP) per feature and per reason group, largest first per level.

    Columns: level ("feature" or "group"), name, group, mean_abs_shap, mean_shap, rank. A group's
    importance is the mean of |sum of its contributions|, not the sum of its features' means.

    Parameters
    ----------
    explanation : Explanation
        Contributions of many rows (e.g. a test set).

    Returns
    -------
    DataFrame
        The features' rows, then the groups' rows, each level largest first.
    """
    rows = []
    for level, values, names, groups in (
        ("feature", explanation.values, FEATURE_NAMES, [f.group for f in FEATURES]),
        ("group", explanation.group_values(), list(GROUPS), list(GROUPS)),
    ):
        n = max(len(values), 1)
        part = pd.DataFrame({
            "level": level,
            "name": names,
            "group": groups,
            "mean_abs_shap": np.abs(values).sum(axis=0) / n,
            "mean_shap": values.sum(axis=0) / n,
        }).sort_values("mean_abs_shap", ascending=False, kind="stable")
        part["rank"] = np.arange(1, len(part) + 1)
        rows.append(part)
    return pd.concat(rows, ignore_index=True)


# -- reasons ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    """One reason group's contribution for one pupil: `feature` is the group's most contributing
    feature and `value` the pupil's value of it (None if unknown); `effect` is the group's summed
    contribution in log-odds; `text` the sentence shown to the team.

    Attributes
    ----------
    feature : str
        The group's most contributing feature (in the reason's direction).
    group : str
        The reason group (`Feature.group`).
    value : float or None
        The pupil's value of `feature`; None if unknown.
    effect : float
        The group's summed contribution, in log-odds.
    text : str
        The sentence shown to the team.
    """

    feature: str
    group: str
    value: float | None
    effect: float
    text: str

    def as_dict(self) -> dict[str, Any]:
        """The reason as {feature, group, value, effect, text}."""
        return asdict(self)


def reasons_for(
    frame: pd.DataFrame,
    explanation: Explanation,
    language: str = "da",
    top: int = 3,
    context: Mapping[str, Any] | None = None,
    min_effect: float = 0.0,
) -> list[list[Reason]]:
    """Per row of `frame`, up to `top` reasons: the groups whose summed contribution raises the
    risk by more than `min_effect`, largest first.

    `context` gives the comparison shown in the sentences: per feature, the school's mean, either
    as {school_id: mean} or one number for every row. Without it, school means are computed from
    `frame` itself (per school and as-of date) - pass a frame of every pupil on roll then, not a
    short list, or pass `school_means(full_frame)`.

    Parameters
    ----------
    frame : DataFrame
        Feature rows (`FeatureBuilder.build`), in the order `explanation` was computed on.
    explanation : Explanation
        Their contributions (`explain(model, feature_matrix(frame))`).
    language : {"da", "en"}, default="da"
        The language of the sentences.
    top : int, default=3
        Reasons per row at most.
    context : mapping of str to (mapping or float), optional
        Per feature, the comparison shown: {school_id: mean} or one number for every row.
    min_effect : float, default=0.0
        A group's summed contribution must exceed it (log-odds).

    Returns
    -------
    list of list of Reason
        Per row of `frame`, its reasons, largest first.
    """
    return _collect(frame, explanation, +1, language, top, context, min_effect)


def protective_for(
    frame: pd.DataFrame,
    explanation: Explanation,
    language: str = "da",
    top: int = 3,
    context: Mapping[str, Any] | None = None,
    min_effect: float = 0.0,
) -> list[list[Reason]]:
    """Per row, up to `top` groups that lower the risk (effect < -`min_effect`), most lowering
    first; `feature` is the group's most lowering feature.

    Parameters
    ----------
    frame, explanation, language, top, context, min_effect
        As for `reasons_for`.

    Returns
    -------
    list of list of Reason
        Per row of `frame`, the groups that lower its risk; `effect` is negative.
    """
    return _collect(frame, explanation, -1, language, top, context, min_effect)


def reason_columns(reasons: Sequence[Sequence[Reason]], top: int = 3) -> pd.DataFrame:
    """The texts as columns reason_1 ... reason_<top> ("" where a pupil has fewer reasons).

    Parameters
    ----------
    reasons : sequence of sequence of Reason
        Per row, its reasons (`reasons_for`).
    top : int, default=3
        The number of columns.

    Returns
    -------
    DataFrame
        One row per row of `reasons`.
    """
    return pd.DataFrame({
        f"reason_{k + 1}": [r[k].text if len(r) > k else "" for r in reasons] for k in range(top)
    })


def school_means(
    frame: pd.DataFrame, features: Sequence[str] | None = None
) -> dict[str, dict[Hashable, float]]:
    """Per feature, {school_id: mean over the school's pupils} (unknown values skipped): the
    `context` of `reasons_for`. Compute it from every pupil on roll at one as-of date.

    Parameters
    ----------
    frame : DataFrame
        Feature rows with a school_id column.
    features : sequence of str, optional
        The features to average; default every feature of the registry in `frame`.

    Returns
    -------
    dict of str to dict
        Per feature, the mean of each school.
    """
    if features is None:
        features = [f.name for f in FEATURES if f.name in frame.columns]
    names = list(features)
    means = frame.groupby("school_id")[names].mean()
    return {name: means[name].dropna().to_dict() for name in names}


def _select(explanation: Explanation, sign: int, top: int, min_effect: float):
    """Vectorised choice of (row, group, feature, effect) for every shown reason, in order."""
    signed = sign * explanation.group_values()
    signed[:, _NOT_A_REASON] = -np.inf  # inputs, never a reason about the pupil
    n = len(signed)
    top = max(0, min(top, signed.shape[1]))
    eligible = np.where(signed > min_effect, signed, -np.inf)
    order = np.argsort(-eligible, axis=1, kind="stable")[:, :top]
    chosen = np.take_along_axis(eligible, order, axis=1)
    keep = np.isfinite(chosen)  # ranks sorted, so a row's reasons are a prefix
    rows = np.repeat(np.arange(n), top).reshape(n, top)[keep]
    groups = order[keep]
    effects = sign * chosen[keep]
    # The most contributing feature of each group in its direction, for all rows at once.
    best = np.empty((n, len(GROUPS)), dtype=np.intp)
    signed_values = sign * explanation.values
    for g, cols in enumerate(_GROUP_COLUMNS):
        best[:, g] = cols[np.argmax(signed_values[:, cols], axis=1)]
    features = best[rows, groups]
    return rows, groups, features, effects


def _collect(frame: pd.DataFrame, explanation: Explanation, sign: int, language: str, top: int,
             context: Mapping[str, Any] | None, min_effect: float) -> list[list[Reason]]:
    _check_language(language)
    if len(frame) != len(explanation):
        raise ValueError(f"frame has {len(frame)} rows, the explanation {len(explanation)}")
    rows, groups, features, effects = _select(explanation, sign, top, min_effect)
    texts = np.empty(len(rows), dtype=object)
    values = np.empty(len(rows), dtype=np.float64)
    means = _comparisons(frame, {FEATURES[i].name for i in np.unique(features)
                                 if _template(FEATURES[i].name).compare}, context)
    for i in np.unique(features):
        name = FEATURES[i].name
        at = np.flatnonzero(features == i)
        pupil_rows = rows[at]
        values[at] = _column(frame, name)[pupil_rows]
        needs = {need: _column(frame, need)[pupil_rows] for need in _template(name).needs}
        comparison = means[name][pupil_rows] if name in means else None
        texts[at] = render(name, values[at], language, comparison, needs)
    out: list[list[Reason]] = [[] for _ in range(len(frame))]
    names = [FEATURES[i].name for i in features.tolist()]
    group_names = [GROUPS[g] for g in groups.tolist()]
    shown = [None if math.isnan(v) else v for v in values.tolist()]
    for row, name, group, value, effect, text in zip(
        rows.tolist(), names, group_names, shown, effects.tolist(), texts.tolist(), strict=True
    ):
        out[row].append(Reason(name, group, value, effect, text))
    return out


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    return frame[name].to_numpy(np.float64, na_value=np.nan)


def _comparisons(
    frame: pd.DataFrame, names: set[str], context: Mapping[str, Any] | None
) -> dict[str, np.ndarray]:
    """Per feature, the comparison value of each row (NaN where none)."""
    if not names:
        return {}
    if context is not None:
        out = {}
        school = (frame["school_id"] if "school_id" in frame.columns
                  else pd.Series(np.nan, index=frame.index))
        for name in names:
            given = context.get(name)
            if given is None:
                out[name] = np.full(len(frame), np.nan)
            elif isinstance(given, Mapping):
                out[name] = school.map(given).to_numpy(np.float64, na_value=np.nan)
            else:
                out[name] = np.full(len(frame), float(given))
        return out
    if "school_id" not in frame.columns:
        return {}
    keys = ["school_id"] + (["as_of"] if "as_of" in frame.columns else [])
    cols = [n for n in sorted(names) if n in frame.columns]
    means = frame[keys + cols].groupby(keys, sort=False)[cols].transform("mean")
    return {name: means[name].to_numpy(np.float64, na_value=np.nan) for name in cols}


# -- plots for analysts -----------------------------------------------------------------------


def _as_matrix(X: np.ndarray | pd.DataFrame) -> np.ndarray:
    if isinstance(X, pd.DataFrame):
        return feature_matrix(X)
    return np.asarray(X, dtype=np.float64)


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # No pyplot: no global backend or figure state, safe inside the API and in threads.
    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def summary_plot(explanation: Explanation, X: np.ndarray | pd.DataFrame, path: str | Path,
                 max_display: int = 15, seed: int = 0) -> Path:
    """A beeswarm of the `max_display` most important features (mean |SHAP|): one dot per row at
    its contribution, coloured by the feature's value (percentile within the feature; grey =
    unknown).

    Parameters
    ----------
    explanation : Explanation
        Contributions of the rows of X.
    X : ndarray or DataFrame
        The feature rows (a frame is read with `feature_matrix`).
    path : str or Path
        Where the PNG is written.
    max_display : int, default=15
        Features shown.
    seed : int, default=0
        Seed of the vertical jitter.

    Returns
    -------
    Path
        The written file.
    """
    X = _as_matrix(X)
    order = np.argsort(-np.abs(explanation.values).mean(axis=0), kind="stable")[:max_display]
    rng = np.random.default_rng(seed)
    fig = _figure(8, 0.45 * len(order) + 1.5)
    ax = fig.add_subplot()
    import matplotlib as mpl

    cmap = mpl.colormaps["coolwarm"]
    for pos, j in enumerate(order[::-1]):
        shap_j, x_j = explanation.values[:, j], X[:, j]
        known = np.isfinite(x_j)
        colour = np.full(len(x_j), 0.5)
        if known.any():
            ranks = pd.Series(x_j[known]).rank(pct=True).to_numpy()
            colour[known] = ranks
        jitter = rng.uniform(-0.3, 0.3, len(shap_j))
        ax.scatter(shap_j[~known], pos + jitter[~known], s=6, c="0.6", alpha=0.6, linewidths=0)
        ax.scatter(shap_j[known], pos + jitter[known], s=6, c=cmap(colour[known]), alpha=0.7,
                   linewidths=0)
    ax.set_yticks(range(len(order)), [FEATURE_NAMES[j] for j in order[::-1]], fontsize=8)
    ax.axvline(0, color="0.3", linewidth=0.8)
    # Danish first, English in brackets: the analysts' model page shows these plots.
    ax.set_xlabel("SHAP-værdi, bidrag til log-odds (SHAP value, contribution to log-odds)")
    ax.set_title(f"Målenes bidrag, {len(explanation)} rækker: blå = lav værdi, rød = høj, "
                 "grå = ukendt (feature contributions)", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png")
    return path


def importance_plot(explanation: Explanation, path: str | Path, level: str = "group",
                    max_display: int = 20) -> Path:
    """A bar chart of mean |SHAP| per reason group (or per feature, `level="feature"`) as PNG.

    Parameters
    ----------
    explanation : Explanation
        Contributions of many rows.
    path : str or Path
        Where the PNG is written.
    level : {"group", "feature"}, default="group"
        Bars per reason group or per feature.
    max_display : int, default=20
        Bars shown, largest first.

    Returns
    -------
    Path
        The written file.
    """
    imp = global_importance(explanation)
    imp = imp.loc[imp["level"] == level].head(max_display)
    fig = _figure(7, 0.35 * len(imp) + 1.2)
    ax = fig.add_subplot()
    ax.barh(imp["name"][::-1], imp["mean_abs_shap"][::-1], color="#4c72b0")
    ax.set_xlabel("gennemsnitlig |SHAP| (mean |SHAP|, log-odds)")
    ax.set_title(("Betydning pr. begrundelse" if level == "group" else "Betydning pr. mål")
                 + f" (importance per {level})", fontsize=9)
    ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png")
    return path


def dependence_plot(explanation: Explanation, X: np.ndarray | pd.DataFrame, feature: str,
                    path: str | Path, color_by: str | None = None) -> Path:
    """Contribution of `feature` against its value, one dot per row, optionally coloured by
    another feature's value; rows with an unknown value are counted in the title.

    Parameters
    ----------
    explanation : Explanation
        Contributions of the rows of X.
    X : ndarray or DataFrame
        The feature rows.
    feature : str
        The feature shown.
    path : str or Path
        Where the PNG is written.
    color_by : str, optional
        A feature whose value colours the dots.

    Returns
    -------
    Path
        The written file.
    """
    X = _as_matrix(X)
    j = FEATURE_NAMES.index(feature)
    x, y = X[:, j], explanation.values[:, j]
    known = np.isfinite(x)
    fig = _figure(6.5, 4.5)
    ax = fig.add_subplot()
    if color_by is not None:
        c = X[known, FEATURE_NAMES.index(color_by)]
        points = ax.scatter(x[known], y[known], s=8, c=c, cmap="coolwarm", alpha=0.7, linewidths=0)
        fig.colorbar(points, ax=ax, label=color_by)
    else:
        ax.scatter(x[known], y[known], s=8, color="#4c72b0", alpha=0.6, linewidths=0)
    ax.axhline(0, color="0.3", linewidth=0.8)
    ax.set_xlabel(f"{feature} ({FEATURE_BY_NAME[feature].unit})")
    ax.set_ylabel("SHAP-værdi (SHAP value, log-odds)")
    ax.set_title(f"{feature}: {int((~known).sum())} af {len(x)} rækker ukendte "
                 "(rows unknown)", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png")
    return path
