"""Evaluation on later as-of dates than training: the model against every rule at the same list
length, among pupils who are not yet concerning.

- Ranking: ROC AUC and PR AUC.
- The list handed out: per school and as-of date the team's capacity (default 5 % of the
  school's pupils on roll, at least 3) of the highest-ranked not-yet-concerning pupils; precision
  and recall of that list, per school and overall (top 5 % of the municipality).
- Calibration: Brier score and expected calibration error (ECE, 10 equal-width bins).
- Lead time: for pupils who become concerning during the evaluation period, the school weeks
  between the first time a ranker listed them and the week they became concerning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from model.capacity import Capacity, list_flags
from model.rules import ALARM_RULES

__all__ = ["Capacity", "list_flags", "compare", "evaluate_ranker", "lead_times"]


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate - mean predicted| over equal-width bins, weighted by bin size."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = idx == b
        if mask.any():
            total += mask.sum() * abs(y[mask].mean() - p[mask].mean())
    return float(total / max(len(y), 1))


@dataclass
class RankerResult:
    """Metrics of one ranker (the model or a rule) on the evaluation slice."""

    name: str
    roc_auc: float
    pr_auc: float
    precision_at_capacity: float
    recall_at_capacity: float
    precision_at_5pct: float
    listed: int
    lead_time_median_weeks: float = float("nan")
    lead_time_mean_weeks: float = float("nan")
    detected_before_onset: float = float("nan")
    lead_times: list[float] = field(default_factory=list, repr=False)


def evaluate_ranker(name: str, frame: pd.DataFrame, score: np.ndarray, capacity: Capacity) -> RankerResult:
    """Ranking and list metrics among not-yet-concerning rows with a known label."""
    eligible = ~frame["already_concerning"].to_numpy(bool)
    known = frame["label"].notna().to_numpy()
    mask = eligible & known
    y = frame["label"].to_numpy()[mask].astype(int)
    s = np.asarray(score, float)[mask]
    flags = list_flags(frame, score, capacity)
    overall = list_flags(frame, score, Capacity(capacity.share, 1), by=None)
    listed = flags & known
    positives = max(int(y.sum()), 1)
    return RankerResult(
        name=name,
        roc_auc=float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else float("nan"),
        pr_auc=float(average_precision_score(y, s)) if y.sum() else float("nan"),
        precision_at_capacity=float(frame["label"].to_numpy()[listed].mean()) if listed.any() else 0.0,
        recall_at_capacity=float(frame["label"].to_numpy()[listed].sum() / positives),
        precision_at_5pct=float(np.nanmean(frame["label"].to_numpy()[overall & known]))
        if (overall & known).any() else 0.0,
        listed=int(listed.sum()),
    )


def lead_times(frame: pd.DataFrame, score: np.ndarray, capacity: Capacity,
               listed: np.ndarray | None = None) -> np.ndarray:
    """Weeks between a ranker first listing a pupil and the week the pupil became concerning,
    for every pupil not concerning at the first as-of date who became so later (0 if the ranker
    never listed them before). `listed`: the list's flags if already cut."""
    flags = list_flags(frame, score, capacity) if listed is None else listed
    work = pd.DataFrame({"pupil_id": frame["pupil_id"].to_numpy(), "as_of": frame["as_of"].to_numpy(),
                         "concerning": frame["already_concerning"].to_numpy(bool), "listed": flags})
    first_date = work["as_of"].min()
    start_ok = work.loc[(work["as_of"] == first_date) & ~work["concerning"], "pupil_id"]
    work = work[work["pupil_id"].isin(start_ok)]
    onset = work.loc[work["concerning"]].groupby("pupil_id")["as_of"].min()
    if onset.empty:
        return np.array([])
    work = work.join(onset.rename("onset"), on="pupil_id", how="inner")
    before = work.loc[work["listed"] & (work["as_of"] < work["onset"])]
    first_listed = before.groupby("pupil_id")["as_of"].min()
    weeks = ((onset - first_listed.reindex(onset.index)).dt.days / 7).fillna(0.0)
    return weeks.to_numpy(float)


def calibration_metrics(frame: pd.DataFrame, risk: np.ndarray) -> dict[str, float]:
    known = frame["label"].notna().to_numpy()
    eligible = known & ~frame["already_concerning"].to_numpy(bool)
    y = frame["label"].to_numpy()
    return {
        "brier": float(brier_score_loss(y[known].astype(int), risk[known])),
        "ece": expected_calibration_error(y[known], risk[known]),
        "ece_not_yet_concerning": expected_calibration_error(y[eligible], risk[eligible]),
        "mean_risk": float(np.mean(risk[known])),
        "observed_rate": float(np.mean(y[known])),
    }


def rule_rankers(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each alarm-list rule's score as a ranker."""
    return {f"rule:{r.name}": frame[f"rule_{r.name}"].to_numpy(float) for r in ALARM_RULES}


def compare(test: pd.DataFrame, lead: pd.DataFrame, rankers_test: dict[str, np.ndarray],
            rankers_lead: dict[str, np.ndarray], capacity: Capacity) -> pd.DataFrame:
    """One row per ranker: ranking, list and lead-time metrics."""
    rows = []
    for name, score in rankers_test.items():
        result = evaluate_ranker(name, test, score, capacity)
        listed = list_flags(lead, rankers_lead[name], capacity)  # cut once, read three times
        weeks = lead_times(lead, rankers_lead[name], capacity, listed)
        if len(weeks):
            result.lead_time_median_weeks = float(np.median(weeks))
            result.lead_time_mean_weeks = float(np.mean(weeks))
            result.detected_before_onset = float(np.mean(weeks > 0))
            result.lead_times = weeks.tolist()
        row = dict(result.__dict__)
        row["lead_share"], row["lead_median_weeks"] = held_ahead(
            lead, rankers_lead[name], capacity, listed=listed)
        row["lead_share_2w"], row["lead_median_weeks_2w"] = held_ahead(
            lead, rankers_lead[name], capacity, stayed="weeks", listed=listed)
        rows.append(row)
    table = pd.DataFrame(rows).set_index("name")
    return table


# -- issue 12: lead time of pupils who became concerning and stayed so ---------------------------

LEAD_WEEKS = 2  # "ahead" means listed at least this many weeks before the onset


def held_ahead(frame: pd.DataFrame, score: np.ndarray, capacity: Capacity,
               weeks: int = LEAD_WEEKS, stayed: str = "horizon",
               listed: np.ndarray | None = None) -> tuple[float, float]:
    """Among pupils not concerning at the first as-of date who became concerning later and
    stayed so: the share the list held at least `weeks` weeks before the onset, and the median
    lead in weeks of those it listed before the onset at all (NaN when none).

    The onset is the first as-of date at which the trailing window is at the threshold
    (`already_concerning`). "Stayed so" (`stayed`):

    - ``"horizon"`` (the headline): the absence over the *following* horizon (60 school days)
      is concerning too, i.e. the label at the onset is 1 -- the absence became entrenched,
      not a flu that crossed the line once;
    - ``"weeks"``: the trailing window is still at the threshold `weeks` weeks after the onset
      (the first definition; with a 60-day trailing window this holds for almost every onset).

    `listed`: the list's flags (`list_flags(frame, score, capacity)`) if already cut.
    """
    flags = list_flags(frame, score, capacity) if listed is None else listed
    work = pd.DataFrame({"pupil_id": frame["pupil_id"].to_numpy(), "as_of": frame["as_of"].to_numpy(),
                         "concerning": frame["already_concerning"].to_numpy(bool), "listed": flags,
                         "label": frame["label"].to_numpy(float)})
    first_date, last_date = work["as_of"].min(), work["as_of"].max()
    start_ok = work.loc[(work["as_of"] == first_date) & ~work["concerning"], "pupil_id"]
    work = work[work["pupil_id"].isin(start_ok)]
    first = work.loc[work["concerning"]].sort_values("as_of", kind="stable").groupby("pupil_id").first()
    onset = first["as_of"]
    if stayed == "horizon":
        onset = onset[first["label"] == 1]
    else:
        onset = onset[onset + pd.Timedelta(weeks=weeks) <= last_date]
        later = work.join(onset.rename("onset"), on="pupil_id", how="inner")
        check = later.loc[later["as_of"] == later["onset"] + pd.Timedelta(weeks=weeks)]
        onset = onset[onset.index.isin(check.loc[check["concerning"], "pupil_id"])]
    if onset.empty:
        return float("nan"), float("nan")
    later = work.join(onset.rename("onset"), on="pupil_id", how="inner")
    before = later.loc[later["listed"] & (later["as_of"] < later["onset"])]
    first_listed = before.groupby("pupil_id")["as_of"].min().reindex(onset.index)
    lead = (onset - first_listed).dt.days / 7
    share = float((lead >= weeks).sum() / len(onset))
    listed = lead.dropna()
    return share, float(np.median(listed)) if len(listed) else float("nan")
