"""Feedback in evaluation: what the detection teams did with the lists they were handed, and the
pupils whose later absence is no longer a clean label because a team acted on it.

- Uptake: per school and overall, how many early-warning flags the team reviewed, by decision,
  and how many listed pupils were acted on (decision "investigate").
- Active intervention: a row (pupil, as-of date t) is under an active intervention when the
  pupil's team decided "investigate" on a day d before t with at most `horizon` school days from
  d up to t. The help given changes the absence the label measures, so evaluation marks such rows
  (and reports them), excludes them, or ignores the reviews (`EWS_INTERVENTION_LABELS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from model.records import DECISIONS, flag_lists, flags, reviews

INTERVENTION = "investigate"
MODES = ("mark", "exclude", "ignore")
EARLY_WARNING = "early_warning"
OVERALL = "all"


@dataclass
class Feedback:
    """The stored flags (one row per flag: id, week, school_id, as_of, section, pupil_id) and the
    team's reviews (flag_id, pupil_id, school_id, week, decision, decided_on, created_at)."""

    flags: pd.DataFrame
    reviews: pd.DataFrame

    @classmethod
    def empty(cls) -> Feedback:
        return cls(pd.DataFrame(columns=["flag_id", "week", "school_id", "as_of", "section", "pupil_id"]),
                   pd.DataFrame(columns=["flag_id", "pupil_id", "school_id", "week", "decision",
                                         "decided_on", "created_at"]))

    def known_before(self, day: date) -> Feedback:
        """Only the lists of as-of dates and the decisions made before `day`."""
        f = self.flags[pd.to_datetime(self.flags["as_of"]) < pd.Timestamp(day)]
        r = self.reviews[pd.to_datetime(self.reviews["decided_on"]) < pd.Timestamp(day)]
        return Feedback(f.reset_index(drop=True), r.reset_index(drop=True))


def load_feedback(engine: Engine) -> Feedback:
    """Read every stored flag and review from the store (coded decisions only, no free text)."""
    query = (select(flags.c.id.label("flag_id"), flag_lists.c.week, flag_lists.c.school_id,
                    flag_lists.c.as_of, flags.c.section, flags.c.pupil_id)
             .join(flag_lists, flags.c.list_id == flag_lists.c.id))
    columns = ["flag_id", "pupil_id", "school_id", "week", "decision", "decided_on", "created_at"]
    with engine.connect() as conn:
        flag_rows = pd.DataFrame(conn.execute(query).all(),
                                 columns=["flag_id", "week", "school_id", "as_of", "section", "pupil_id"])
        review_rows = pd.DataFrame(conn.execute(select(*(reviews.c[c] for c in columns))).all(),
                                   columns=columns)
    return Feedback(flag_rows, review_rows)


def review_uptake(feedback: Feedback) -> pd.DataFrame:
    """Per school and overall (`all`): early-warning flags handed out, how many the team reviewed
    (latest decision per flag), the share reviewed, the count per decision, and the listed pupils
    and those acted on ("investigate")."""
    ew = feedback.flags.loc[feedback.flags["section"] == EARLY_WARNING,
                            ["flag_id", "school_id", "pupil_id", "week"]]
    latest = _latest_decision_per_flag(feedback)
    ew = ew.merge(latest, on="flag_id", how="left")
    rows = []
    for school, part in [*sorted(ew.groupby("school_id")), (OVERALL, ew)]:
        reviewed = part["decision"].notna()
        acted = part.loc[part["decision"] == INTERVENTION, "pupil_id"].nunique()
        listed = part["pupil_id"].nunique()
        row = {"school_id": school, "flags": len(part), "reviewed": int(reviewed.sum()),
               "share_reviewed": float(reviewed.mean()) if len(part) else float("nan"),
               **{d: int((part["decision"] == d).sum()) for d in DECISIONS},
               "pupils_listed": listed, "pupils_acted_on": acted,
               "share_acted_on": acted / listed if listed else float("nan")}
        rows.append(row)
    return pd.DataFrame(rows).set_index("school_id")


def _latest_decision_per_flag(feedback: Feedback) -> pd.DataFrame:
    """The latest review of each flag; a review whose flag is gone (flag_id NULL) is matched to
    the flag of the same pupil, school and week."""
    r = feedback.reviews
    if not len(r):
        return pd.DataFrame({"flag_id": pd.Series(dtype=object), "decision": pd.Series(dtype=object)})
    orphans = r[r["flag_id"].isna()].drop(columns=["flag_id"])
    ew = feedback.flags.loc[feedback.flags["section"] == EARLY_WARNING]
    rematched = orphans.merge(ew[["flag_id", "pupil_id", "school_id", "week"]],
                              on=["pupil_id", "school_id", "week"], how="inner")
    linked = pd.concat([r[r["flag_id"].notna()], rematched], ignore_index=True)
    linked = linked.sort_values(["flag_id", "created_at", "decided_on"], kind="stable")
    return linked.groupby("flag_id", as_index=False).last()[["flag_id", "decision"]]


def under_intervention(frame: pd.DataFrame, feedback: Feedback, days: np.ndarray,
                       horizon: int) -> np.ndarray:
    """Per row of `frame` (pupil_id, as_of): True if the pupil's team decided "investigate" on a
    day d < as_of with at most `horizon` school days from d up to the as-of date."""
    decided = feedback.reviews.loc[feedback.reviews["decision"] == INTERVENTION, ["pupil_id", "decided_on"]]
    mask = np.zeros(len(frame), bool)
    if not len(frame) or not len(decided):
        return mask
    rows = pd.DataFrame({"row": np.arange(len(frame)), "pupil_id": frame["pupil_id"].to_numpy(),
                         "as_of": pd.to_datetime(frame["as_of"]).to_numpy("datetime64[D]")})
    rows = rows.merge(decided.assign(decided_on=pd.to_datetime(decided["decided_on"])
                                     .to_numpy("datetime64[D]")), on="pupil_id")
    t = rows["as_of"].to_numpy("datetime64[D]")
    d = rows["decided_on"].to_numpy("datetime64[D]")
    school_days_between = np.searchsorted(days, t, "left") - np.searchsorted(days, d, "left")
    active = (d < t) & (school_days_between <= horizon)
    mask[rows.loc[active, "row"].to_numpy(int)] = True
    return mask


def apply_interventions(frame: pd.DataFrame, feedback: Feedback, days: np.ndarray, horizon: int,
                        mode: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The evaluation frame under `mode` and the intervention mask of the *given* rows:
    `mark` adds a boolean `under_intervention` column, `exclude` drops those rows, `ignore`
    leaves the frame as it is (mask all False)."""
    if mode not in MODES:
        raise ValueError(f"intervention mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "ignore":
        return frame, np.zeros(len(frame), bool)
    mask = under_intervention(frame, feedback, days, horizon)
    if mode == "exclude":
        return frame.loc[~mask].reset_index(drop=True), mask
    return frame.assign(under_intervention=mask), mask


def intervention_summary(frame: pd.DataFrame, mask: np.ndarray, mode: str, model_score: np.ndarray,
                         capacity) -> dict[str, float]:
    """What the interventions did to the evaluation: rows and pupils marked (or excluded) among
    the not-yet-concerning rows with a known label and, when marked, how many of them the model
    listed and the model's precision at list length without them (`frame` and `model_score` as
    evaluated; `mask` over the rows before any exclusion)."""
    from training.evaluation import evaluate_ranker, list_flags

    out: dict[str, float] = {}
    if mode == "ignore":
        return out
    if mode == "exclude":
        out["rows_excluded"] = float(mask.sum())
        return out
    eligible = frame["label"].notna().to_numpy() & ~frame["already_concerning"].to_numpy(bool)
    marked = mask & eligible
    listed = list_flags(frame, model_score, capacity)
    out["rows_marked"] = float(marked.sum())
    out["pupils_marked"] = float(frame.loc[marked, "pupil_id"].nunique())
    out["marked_listed"] = float((marked & listed).sum())
    out["marked_positive"] = float(np.nansum(frame["label"].to_numpy()[marked]))
    if marked.any() and (~marked & eligible).any():
        clean = ~mask
        out["precision_at_capacity_without_marked"] = evaluate_ranker(
            "model", frame.loc[clean].reset_index(drop=True), np.asarray(model_score)[clean],
            capacity).precision_at_capacity
    return out
