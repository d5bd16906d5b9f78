"""Monitoring, the pure part: reference distributions, population stability and realised
precision. No MLflow and no store writes here, so training (which saves the reference), serving
(which compares a week with it) and the notebooks share one implementation.

Vocabulary
- reference: the distribution of every feature and of the risk score over the training
  window's as-of dates, municipality-wide and per school, as bin edges fixed at training time
  and the share of rows in each bin (plus the share missing). Only aggregates: edges are inner
  deciles (at least a tenth of the rows lie at or beyond each edge on either side, so no edge
  is one pupil's extreme value), proportions are shares of many rows; no pupil id, no row.
- PSI (population stability index) of one feature: sum over bins of (a - e) * ln(a / e), with e
  the reference share and a this week's share, both floored at PSI_FLOOR. Common yardstick:
  < 0.1 stable, 0.1-0.25 a shift worth a look, > 0.25 a real change.
- realised precision of a stored list: the share of its early warnings (with a known outcome)
  whose absence became concerning over the horizon; the alarm-list rules are scored on the
  same pupils on roll and cut at the same list length, so they answer "what if the team had
  used the rule instead".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from model.capacity import list_ranks
from model.feature_registry import FEATURE_NAMES, FEATURES, NOT_A_REASON
from model.rules import ALARM_RULES

REFERENCE_FORMAT = 1
BINS = 10
PSI_FLOOR = 1e-4
SCORE = "score"  # the name of the risk score among the monitored columns
ALL = "all"  # the municipality-wide scope; other scopes are school ids
MODEL_RANKER = "model"
OK, WARNING, ALARM = "ok", "warning", "alarm"
# Features whose value is shared by a class or a school (see `judged`).
COHORT_FEATURES = frozenset(f.name for f in FEATURES if f.group in ("context", "class_wellbeing"))
# Features with one value for everyone in a week (the season): never a distribution to judge.
WEEK_FEATURES = frozenset(f.name for f in FEATURES if f.group in NOT_A_REASON)


# -- reference distributions -------------------------------------------------------------------


def bin_edges(values: np.ndarray, bins: int = BINS) -> list[float]:
    """Inner quantile edges of the non-missing values (deduplicated, never rounded: a rounded
    edge would move rows that sit on it, e.g. 1/120); a value v falls in bin i where
    edges[i-1] < v <= edges[i]; the last bin is open.
    """
    v = np.asarray(values, float)
    v = v[~np.isnan(v)]
    if not len(v):
        return []
    inner = np.quantile(v, np.arange(1, bins) / bins)
    edges = sorted({float(x) for x in inner})
    return edges


def proportions(values: np.ndarray, edges: list[float]) -> tuple[list[float], float]:
    """(share of the non-missing rows in each bin, share of rows missing) for `edges`."""
    v = np.asarray(values, float)
    missing = np.isnan(v)
    n = len(v)
    if not n:
        return [0.0] * (len(edges) + 1), 0.0
    idx = np.searchsorted(np.asarray(edges, float), v[~missing], side="left")
    counts = np.bincount(idx, minlength=len(edges) + 1)
    return [round(float(c) / n, 6) for c in counts], round(float(missing.sum()) / n, 6)


def reference_distributions(frame: pd.DataFrame, score: np.ndarray,
                            columns: Iterable[str] = FEATURE_NAMES, bins: int = BINS,
                            min_rows: int = 50) -> dict[str, Any]:
    """The reference of feature rows (keyed by pupil_id, as_of; with school_id and
    already_concerning if present) and their risk `score`: JSON-ready, aggregates only.

    Proportions are kept for the whole window and per calendar month of its as-of dates
    (year-so-far features and illness are seasonal: November is compared with November), for
    the municipality and per school; a month or school with fewer than `min_rows` rows is left
    out.
    """
    data = {c: frame[c].to_numpy(float) for c in columns}
    data[SCORE] = np.asarray(score, float)
    edges = {c: bin_edges(v, bins) for c, v in data.items()}
    months = (pd.to_datetime(frame["as_of"]).dt.month.to_numpy() if len(frame)
              else np.array([], int))

    def block(mask: np.ndarray) -> dict[str, Any]:
        out = {}
        for c, v in data.items():
            props, missing = proportions(v[mask], edges[c])
            out[c] = {"proportions": props, "missing": missing}
        return out

    def scope(mask: np.ndarray) -> dict[str, Any]:
        by_month = {f"{m:02d}": block(mask & (months == m)) for m in sorted(set(months[mask]))
                    if (mask & (months == m)).sum() >= min_rows}
        return {"rows": int(mask.sum()),
                "already_concerning": round(float(concerning[mask].mean()), 6) if mask.any() else 0.0,
                "mean_score": round(float(np.nanmean(data[SCORE][mask])), 6) if mask.any() else 0.0,
                "columns": block(mask), "months": by_month}

    dates = pd.to_datetime(frame["as_of"]).dt.date if len(frame) else pd.Series([], dtype=object)
    concerning = (frame["already_concerning"].to_numpy(bool) if "already_concerning" in frame
                  else np.zeros(len(frame), bool))
    schools: dict[str, Any] = {}
    if "school_id" in frame:
        ids = frame["school_id"].astype(str).to_numpy()
        for school in sorted(set(ids)):
            if (ids == school).sum() >= min_rows:
                schools[school] = scope(ids == school)
    return {
        "format": REFERENCE_FORMAT,
        "bins": bins,
        "as_of_dates": {"first": str(min(dates)) if len(dates) else None,
                        "last": str(max(dates)) if len(dates) else None,
                        "count": int(dates.nunique()) if len(dates) else 0},
        "edges": edges,
        **scope(np.ones(len(frame), bool)),
        "schools": schools,
    }


def check_reference(reference: Mapping[str, Any]) -> None:
    """ValueError unless `reference` is a reference this code can read."""
    if not isinstance(reference, Mapping) or reference.get("format") != REFERENCE_FORMAT:
        raise ValueError(f"not a reference distribution of format {REFERENCE_FORMAT}")
    for key in ("edges", "columns", "schools"):
        if key not in reference:
            raise ValueError(f"reference distribution without {key!r}")


# -- population stability ----------------------------------------------------------------------


def psi(expected: Iterable[float], actual: Iterable[float], floor: float = PSI_FLOOR) -> float:
    """Population stability index of two distributions over the same bins (shares)."""
    e = np.maximum(np.asarray(list(expected), float), floor)
    a = np.maximum(np.asarray(list(actual), float), floor)
    if e.shape != a.shape:
        raise ValueError(f"bins differ: {e.shape[0]} expected, {a.shape[0]} actual")
    return float(np.sum((a - e) * np.log(a / e)))


def level(value: float, warn: float, limit: float) -> str:
    """Ok below `warn`, warning from `warn`, alarm above `limit`."""
    if value != value:  # NaN: not judged
        return OK
    return ALARM if value > limit else WARNING if value >= warn else OK


def judged(reference: Mapping[str, Any], name: str) -> str | None:
    """None if a drift in `name` is judged, else why not: cohort features have one value per
    class or school a week (a handful of points, never a distribution), and a feature without
    values in the training window was never used by the model, so its change cannot move the
    score.
    """
    if name in COHORT_FEATURES:
        return "one value per class or school"
    if name in WEEK_FEATURES:
        return "one value for every pupil in a week"
    if reference["columns"].get(name, {}).get("missing", 0.0) >= 0.99:
        return "no values in the training window"
    return None


def population_stability(reference: Mapping[str, Any], frame: pd.DataFrame, score: np.ndarray,
                         warn: float = 0.10, limit: float = 0.25, min_rows: int = 50,
                         month: int | None = None) -> pd.DataFrame:
    """PSI of every reference column (the features and `score`) for this week's rows, in the
    bins fixed at training time: municipality-wide (scope `all`) and per school that has a
    reference and at least `min_rows` rows. Compared with the reference of the same calendar
    `month` where it has one (basis `month`), else with the whole window (`window`). Columns:
    scope, name, psi, level (ok/warning/alarm; `ok` for a column not judged), judged (None or
    why not), basis, rows.
    """
    check_reference(reference)
    data = {c: (np.asarray(score, float) if c == SCORE else frame[c].to_numpy(float))
            for c in reference["edges"] if c == SCORE or c in frame}
    ids = frame["school_id"].astype(str).to_numpy() if "school_id" in frame else None
    scopes = [(ALL, np.ones(len(frame), bool), reference)]
    if ids is not None:
        for school, ref in reference["schools"].items():
            scopes.append((school, ids == school, ref))
    key = f"{month:02d}" if month is not None else None
    rows = []
    for scope, mask, ref in scopes:
        n = int(mask.sum())
        if n < min_rows and scope != ALL:
            continue
        basis, columns = ("month", ref["months"][key]) if key in ref.get("months", {}) else (
            "window", ref["columns"])
        for name, values in data.items():
            if name not in columns:
                continue
            props, missing = proportions(values[mask], reference["edges"][name])
            expected = [*columns[name]["proportions"], columns[name]["missing"]]
            value = psi(expected, [*props, missing]) if n else float("nan")
            why_not = judged(reference, name)
            rows.append((scope, name, value, OK if why_not else level(value, warn, limit),
                         why_not, basis, n))
    out = pd.DataFrame(rows, columns=["scope", "name", "psi", "level", "judged", "basis", "rows"])
    # municipality-wide first, then the schools; judged columns first, the largest shift first
    order = out.assign(school=out["scope"] != ALL, unjudged=out["judged"].notna())
    return (order.sort_values(["school", "scope", "unjudged", "psi"],
                              ascending=[True, True, True, False], kind="stable")
            .drop(columns=["school", "unjudged"]).reset_index(drop=True))


# -- realised precision of past lists ----------------------------------------------------------


def realised_precision(labelled: pd.DataFrame, lists: pd.DataFrame,
                       listed: pd.DataFrame) -> pd.DataFrame:
    """Per stored list and ranker: how many were listed, how many of them have a known outcome,
    and how many of those became concerning.

    `labelled`: feature rows with `rule_<name>` scores, `already_concerning` and `label`
    (1/0/NaN) at the lists' as-of dates; `lists`: list_id, week, school_id, as_of (date),
    capacity; `listed`: list_id, pupil_id of the early warnings the team was given. Rules rank
    the school's not-yet-concerning pupils on roll at that date and are cut at the list's
    capacity. Columns: week, school_id, as_of, ranker, listed, known, positives.
    """
    rows = []
    if not len(lists):
        return pd.DataFrame(rows, columns=["week", "school_id", "as_of", "ranker", "listed",
                                           "known", "positives"])
    as_of = pd.to_datetime(labelled["as_of"]).dt.date.to_numpy()
    school = labelled["school_id"].astype(str).to_numpy()
    by_list = listed.groupby("list_id")["pupil_id"].apply(set).to_dict()
    for item in lists.itertuples(index=False):
        mask = (as_of == item.as_of) & (school == str(item.school_id))
        part = labelled.loc[mask].reset_index(drop=True)
        label = part["label"].to_numpy(float)
        on_list = part["pupil_id"].isin(by_list.get(item.list_id, set())).to_numpy()
        n_listed = len(by_list.get(item.list_id, ()))
        rows.append(_counts(item, MODEL_RANKER, n_listed, label[on_list]))
        for rule in ALARM_RULES:
            if not len(part):
                rows.append(_counts(item, f"rule:{rule.name}", 0, np.array([])))
                continue
            rank = list_ranks(part, part[f"rule_{rule.name}"].to_numpy(float), by=None)
            chosen = (rank >= 0) & (rank < int(item.capacity))
            rows.append(_counts(item, f"rule:{rule.name}", int(chosen.sum()), label[chosen]))
    return pd.DataFrame(rows, columns=["week", "school_id", "as_of", "ranker", "listed", "known",
                                       "positives"])


def _counts(item, ranker: str, n_listed: int, labels: np.ndarray) -> tuple:
    known = labels[~np.isnan(labels)]
    return (item.week, str(item.school_id), item.as_of, ranker, int(n_listed), int(len(known)),
            int(known.sum()))


def pooled_precision(per_list: pd.DataFrame) -> pd.DataFrame:
    """Per ranker over all lists: listed, known, positives and precision (positives / known);
    the model first, then the rules by precision.
    """
    if not len(per_list):
        return pd.DataFrame(columns=["ranker", "lists", "listed", "known", "positives", "precision"])
    pooled = per_list.groupby("ranker", sort=False).agg(
        lists=("week", "size"), listed=("listed", "sum"), known=("known", "sum"),
        positives=("positives", "sum")).reset_index()
    pooled["precision"] = np.where(pooled["known"] > 0,
                                   pooled["positives"] / pooled["known"].clip(lower=1), np.nan)
    is_model = pooled["ranker"] == MODEL_RANKER
    return pd.concat([pooled[is_model], pooled[~is_model].sort_values("precision", ascending=False,
                                                                      kind="stable")],
                     ignore_index=True)


def precision_verdict(pooled: pd.DataFrame, margin: float = 0.0,
                      min_known: int = 30) -> tuple[str, str]:
    """(level, sentence): alarm when the model's realised precision is more than `margin` below
    the best rule's at the same list length, judged only with `min_known` known outcomes on the
    model's lists; ok otherwise.
    """
    if not len(pooled) or MODEL_RANKER not in set(pooled["ranker"]):
        return OK, "no stored lists with known outcomes yet"
    model = pooled.loc[pooled["ranker"] == MODEL_RANKER].iloc[0]
    rules = pooled.loc[pooled["ranker"] != MODEL_RANKER].dropna(subset=["precision"])
    if int(model["known"]) < min_known or not len(rules):
        return OK, (f"{int(model['known'])} listed pupils with known outcomes; precision is "
                    f"judged from {min_known}")
    best = rules.iloc[0]
    sentence = (f"realised precision {model['precision']:.3f} over {int(model['lists'])} lists "
                f"vs {best['precision']:.3f} for {best['ranker']} at the same list length")
    if model["precision"] < best["precision"] - margin:
        return ALARM, sentence + f" (more than {margin:.2f} below the best rule)"
    return OK, sentence


def worst(levels: Iterable[str]) -> str:
    """The most serious of ok, warning and alarm."""
    order = {OK: 0, WARNING: 1, ALARM: 2}
    found = max((order[x] for x in levels), default=0)
    return [OK, WARNING, ALARM][found]


def finite(x) -> float | None:
    """A plain float for JSON, None for NaN or missing."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x
