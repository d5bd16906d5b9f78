"""Weekly flag lists (ugelister) per school, and the detection team's reviews of them.

Every week each school's detection team gets one list as of the Monday of the week, in three
sections that are never mixed:

1. `early_warning` (tidlig opsporing): pupils who are not yet concerning, ranked by the
   champion's risk and cut at the school's capacity (`model.capacity`), each with its band, the
   top reasons, the absence this school year and the trend;
2. `statutory` (lovkrav): pupils at or over 10 % / 15 % unauthorised absence in the calendar
   quarter so far (`model.rules.statutory_quarter`): a rule, not a prediction;
3. `already_concerning` (allerede bekymrende): known cases, for follow-up.

What is stored (model.records):
- `scores`: every pupil scored, keyed by (as_of, pupil, model version). Reasons are the
  structured SHAP contributions [{feature, group, value, effect, comparison?, needs?}] -
  `comparison` (the school mean) and `needs` (other values the sentence reads) are what it takes
  to render the sentence again in any language on read. SHAP runs for the pupils on an
  early-warning list only (about 1 ms a pupil: 100 s for 100,000); other scores carry [].
- `flag_lists` / `flags`: one list per (week, school), one flag per (list, pupil, section). A
  re-run of a week updates the list and its flags in place by that key, so flag ids - and the
  reviews that point at them - survive; a flag that drops off is deleted (its reviews keep their
  pupil, school and week, and are linked again if the flag comes back).
- `reviews`: one row per decision, never overwritten. A row shows the pupil's latest review at
  that school recorded for that week or earlier, so what a list says about reviews does not
  depend on flag ids either.

A row is *new this week* when the school's previous stored list (the latest week before) did not
have the pupil in the same section.

One row a pupil (issue 17): a pupil can meet more than one section (most statutory pupils are
also already concerning). The store keeps a flag per (pupil, section), but a list is handed out
with each pupil once, in the first section that applies in the list's order (early warning,
statutory, already concerning), its `also` naming the others as a badge; counts are of distinct
pupils (`one_row_per_pupil`, `FlagList.rows`).

Without a champion (issue 12) the lists still hold the statutory and already-concerning sections,
which are rules and need no model; the early-warning section is empty and the list's model
version is stored as NO_MODEL ("") and handed out as null with `WAITS_FOR_MODEL`.

Reading the stored lists back and recording the team's reviews (`stored_flag_list`,
`stored_flag`, `record_review`: what the API, the pages and the exports call) is
serving.stored_lists; this module builds and stores the lists.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, bindparam, delete, insert, select, update

from model.calendar import iso_week, monday_of_week
from model.capacity import Capacity, list_ranks, tiebreak
from model.errors import UserError
from model.features import feature_matrix
from model.inputs import Inputs, load_inputs
from model.labels import LabelSpec
from model.records import SECTIONS, flag_lists, flags, reviews, scores
from model.rules import statutory_quarter
from model.threads import limited_threads
from serving.scoring import score_frame
from serving.stored_lists import (
    ALREADY_CONCERNING,
    EARLY_WARNING,
    NO_MODEL,
    STATUTORY,
    WAITS_FOR_MODEL,
    latest_reviews,
)

TOP_REASONS = 3
LEVEL_ORDER = {"notification": 0, "warning": 1}
IN_CHUNK = 500  # ids per IN (...) clause, below SQLite's bound-parameter limit
WHOLE_REGISTER_PUPILS = 150_000  # score_week builds all day-major sums at once up to this many
LIST_COLUMNS = ["pupil_id", "school_id", "grade", "risk", "band", "total_rate_year", "trend_4w",
                "unauthorised_quarter", "statutory_level", "already_concerning", "early_rank"]
FLAG_VALUES = ("rank", "grade", "risk", "band", "reasons", "absence_year", "trend",
               "statutory_level", "unauthorised_quarter", "new_this_week")


@dataclass
class Flag:
    """One row of a weekly list: a pupil in one section. `reasons` are structured (see the module
    docstring); `review` is the pupil's latest review ({decision, decided_on, decided_by})."""

    pupil_id: str
    section: str
    rank: int
    grade: int
    risk: float | None = None
    band: str | None = None
    reasons: list[dict[str, Any]] = field(default_factory=list)
    absence_year: float | None = None
    trend: float | None = None
    statutory_level: str | None = None
    unauthorised_quarter: float | None = None
    new_this_week: bool = True
    id: int | None = None
    review: dict[str, Any] | None = None

    def values(self) -> dict[str, Any]:
        """The flags table's value columns."""
        return {name: getattr(self, name) for name in FLAG_VALUES}


@dataclass
class FlagList:
    """One school's list for one ISO week, as of the Monday of that week."""

    week: str
    school_id: str
    as_of: date
    model_version: str
    capacity: int
    pupils_on_roll: int
    flags: list[Flag]
    id: int | None = None

    def section(self, name: str) -> list[Flag]:
        return [f for f in self.flags if f.section == name]

    def rows(self) -> dict[str, list[Flag]]:
        """The flags as handed out: each pupil once, in the first section that applies."""
        seen: set[str] = set()
        out: dict[str, list[Flag]] = {name: [] for name in SECTIONS}
        for name in SECTIONS:
            for f in self.section(name):
                if f.pupil_id not in seen:
                    seen.add(f.pupil_id)
                    out[name].append(f)
        return out

    def pupils(self) -> list[str]:
        """The distinct pupils on the list, in list order."""
        return [f.pupil_id for rows in self.rows().values() for f in rows]

    def summary(self) -> str:
        """One line for the command line; every count is of distinct pupils."""
        rows = self.rows()
        early, statutory = rows[EARLY_WARNING], rows[STATUTORY]
        notify = sum(f.statutory_level == "notification" for f in statutory)
        new = sum(f.new_this_week for part in rows.values() for f in part)
        waits = f"; {WAITS_FOR_MODEL}" if self.model_version == NO_MODEL else ""
        return (f"{self.school_id} {self.week}: {len(early)} early warnings (capacity "
                f"{self.capacity} of {self.pupils_on_roll} pupils on roll), {len(statutory)} "
                f"statutory ({notify} notification), {len(rows[ALREADY_CONCERNING])} already "
                f"concerning; {len(self.pupils())} pupils listed, {new} new this week{waits}")


# -- building the lists ------------------------------------------------------------------------


def resolve_week(week: str | None, today: date | None = None) -> tuple[str, date]:
    """The ISO week (default: the current one) and its Monday; UserError if malformed or the
    week has not begun."""
    today = today or date.today()
    if week is None:
        week = iso_week(today)
    try:
        monday = monday_of_week(week)
    except ValueError as err:  # malformed, or a week number the year does not have
        raise UserError(str(err)) from None
    if monday > today:
        raise UserError(f"week {week} has not begun (its Monday is {monday})")
    return iso_week(monday), monday


def build_weekly_lists(settings, engine: Engine, champion, week: str | None = None,
                       school: str | None = None, *, inputs: Inputs | None = None,
                       today: date | None = None) -> list[FlagList]:
    """Score every pupil on roll on the Monday of `week` (default: this week) with the champion,
    store the scores and one list per school (or only `school`), and return the lists. With
    `champion` None (none promoted yet) the lists hold the rules' sections only, and no scores
    are stored.

    Running a week again gives the same lists and replaces that week's stored rows in one
    transaction (flags updated in place, reviews kept). `inputs` skips reading the store's
    register (tests, benchmarks). UserError: bad week, unknown school, nobody on roll."""
    week, as_of = resolve_week(week, today)
    if inputs is None:
        inputs = load_inputs(engine)
    if school is not None and school not in set(inputs.enrolments["school_id"]):
        raise UserError(f"unknown school {school!r}")
    model = champion.model if champion is not None else None
    version = str(champion.version) if champion is not None else NO_MODEL
    with limited_threads(settings.threads):
        frame = score_week(settings, inputs, model, as_of, school)
        if not len(frame):
            where = f" at school {school!r}" if school else ""
            raise UserError(f"no pupils on roll{where} on {as_of} (week {week})")
        lists = plan_lists(frame, Capacity.from_settings(settings), week, as_of, version)
        reasons = explain_listed(frame, lists, model) if model is not None else {}
    for flag_list in lists:
        for flag in flag_list.section(EARLY_WARNING):
            flag.reasons = reasons[flag.pupil_id]
    with engine.begin() as conn:
        if model is not None:
            _store_scores(conn, frame, reasons, as_of, version, school)
        created_at = datetime.now(UTC)
        for flag_list in lists:
            _store_list(conn, flag_list, created_at)
    return lists


def score_week(settings, inputs: Inputs, model, as_of: date, school: str | None = None
               ) -> pd.DataFrame:
    """Feature rows of every pupil on roll at `as_of` (of `school`, if given) with `risk`,
    `margin`, `band`, `already_concerning`, the statutory quarter rule (`unauthorised_quarter`,
    `statutory_level`) and `early_rank` (0-based among the school's not-yet-concerning pupils,
    -1 for the others, and for everyone without a model)."""
    builder = inputs.feature_builder(before=as_of)
    # score_frame reads the whole register's day-major sums (trailing rate) and so does the
    # statutory rule: up to WHOLE_REGISTER_PUPILS, build the features on those too, not on pupil
    # chunks first (at 100,000 pupils the sums would otherwise be built twice, ~5 s). Beyond,
    # features go by chunk and the rates read only three sums (national: 2 GB instead of 6).
    if len(builder.row_of) <= WHOLE_REGISTER_PUPILS:
        builder.chunk_pupils = max(builder.chunk_pupils, len(builder.row_of))
    frame = score_frame(builder, model, as_of, LabelSpec.from_settings(settings), school)
    if not len(frame):
        return frame
    cols = builder.row_of.get_indexer(frame["pupil_id"].to_numpy())
    rule = statutory_quarter(builder.rate_sums(), as_of, cols, settings.statutory_warning,
                             settings.statutory_notification)
    frame["unauthorised_quarter"] = rule["unauthorised_rate"].to_numpy(np.float64)
    frame["statutory_level"] = rule["statutory_level"].to_numpy()
    frame["early_rank"] = (list_ranks(frame, frame["risk"].to_numpy()) if model is not None
                           else np.full(len(frame), -1))
    return frame


def plan_lists(frame: pd.DataFrame, capacity: Capacity, week: str, as_of: date,
               model_version: str) -> list[FlagList]:
    """One list per school from a scored frame (`score_week`), without reasons or storage."""
    rows = frame[LIST_COLUMNS].assign(tie=tiebreak(frame))
    on_roll = rows.groupby("school_id", sort=True).size()
    caps = {s: capacity.for_school(int(n), str(s)) for s, n in on_roll.items()}
    early = rows.loc[(rows["early_rank"] >= 0)
                     & (rows["early_rank"] < rows["school_id"].map(caps).to_numpy())]
    early = early.sort_values(["school_id", "early_rank"], kind="stable")
    statutory = rows.loc[rows["statutory_level"].isin(list(LEVEL_ORDER))]
    statutory = statutory.assign(level=statutory["statutory_level"].map(LEVEL_ORDER)).sort_values(
        ["school_id", "level", "unauthorised_quarter", "pupil_id"],
        ascending=[True, True, False, True], kind="stable")
    known = rows.loc[rows["already_concerning"].to_numpy(bool)].sort_values(
        ["school_id", "risk", "tie"], ascending=[True, False, False], kind="stable")
    by_school: dict[str, list[Flag]] = {str(s): [] for s in on_roll.index}
    for section, part in ((EARLY_WARNING, early), (STATUTORY, statutory),
                          (ALREADY_CONCERNING, known)):
        for school_id, flag in _flags(part, section):
            by_school[school_id].append(flag)
    return [FlagList(week, str(s), as_of, model_version, caps[s], int(n), by_school[str(s)])
            for s, n in on_roll.items()]


def _flags(part: pd.DataFrame, section: str) -> list[tuple[str, Flag]]:
    """Flags of one section, ranked within each school in the rows' order. Statutory rows are
    the rule's facts and carry no risk: the section is a rule, not a prediction."""
    statutory = section == STATUTORY
    ranks = part.groupby("school_id", sort=False).cumcount().to_numpy() + 1
    columns = [part[c].tolist() for c in LIST_COLUMNS]
    out = []
    for rank, values in zip(ranks.tolist(), zip(*columns, strict=True), strict=True):
        row = dict(zip(LIST_COLUMNS, values, strict=True))
        out.append((str(row["school_id"]), Flag(
            pupil_id=str(row["pupil_id"]),
            section=section,
            rank=rank,
            grade=int(row["grade"]),
            risk=None if statutory else _number(row["risk"]),
            band=None if statutory or _number(row["risk"]) is None else str(row["band"]),
            absence_year=_number(row["total_rate_year"]),
            trend=_number(row["trend_4w"]),
            statutory_level=str(row["statutory_level"]) if statutory else None,
            unauthorised_quarter=_number(row["unauthorised_quarter"]) if statutory else None,
        )))
    return out


def explain_listed(frame: pd.DataFrame, lists: list[FlagList], model) -> dict[str, list[dict]]:
    """Structured top reasons of every pupil on an early-warning list, by pupil id. School means
    (the sentences' comparison) come from every pupil on roll, not only those listed."""
    from model.reasons import TEMPLATES, explain, reasons_for, school_means

    listed = {f.pupil_id for fl in lists for f in fl.section(EARLY_WARNING)}
    rows = frame.loc[frame["pupil_id"].isin(listed)].reset_index(drop=True)
    if not len(rows):
        return {}
    context = school_means(frame)
    explanation = explain(model, feature_matrix(rows))
    found = reasons_for(rows, explanation, top=TOP_REASONS, context=context)
    out: dict[str, list[dict]] = {}
    for i, (pupil_id, school_id) in enumerate(zip(rows["pupil_id"], rows["school_id"],
                                                  strict=True)):
        items = []
        for reason in found[i]:
            item: dict[str, Any] = {"feature": reason.feature, "group": reason.group,
                                    "value": _number(reason.value),
                                    "effect": float(reason.effect)}
            comparison = _number(context.get(reason.feature, {}).get(school_id))
            if comparison is not None:
                item["comparison"] = comparison
            template = TEMPLATES.get(reason.feature)
            if template is not None and template.needs:
                item["needs"] = {n: _number(rows.at[i, n]) for n in template.needs}
            items.append(item)
        out[str(pupil_id)] = items
    return out


# -- storing -----------------------------------------------------------------------------------


def _store_scores(conn, frame: pd.DataFrame, reasons: dict[str, list[dict]], as_of: date,
                  version: str, school: str | None) -> None:
    """Replace this as-of date's scores of this model version for the pupils scored."""
    ids = frame["pupil_id"].astype(str).tolist()
    base = delete(scores).where(scores.c.as_of == as_of, scores.c.model_version == version)
    if school is None:
        conn.execute(base)
    else:
        for chunk in _chunks(ids):
            conn.execute(base.where(scores.c.pupil_id.in_(chunk)))
    columns = [frame[c].tolist() for c in
               ("school_id", "grade", "risk", "margin", "band", "already_concerning")]
    rows = [(as_of, pid, version, str(school_id), int(grade), float(risk), float(margin),
             str(band), bool(concerning), reasons.get(pid, []))
            for pid, school_id, grade, risk, margin, band, concerning
            in zip(ids, *columns, strict=True)]
    _insert_scores(conn, rows)


_SCORE_ROW = ("as_of", "pupil_id", "model_version", "school_id", "grade", "risk", "margin",
                 "band", "already_concerning", "reasons")


def _insert_scores(conn, rows: list[tuple]) -> None:
    """Insert score rows (in _SCORE_ROW order). On SQLite and PostgreSQL through the driver's
    executemany: SQLAlchemy's per-row parameter processing costs ~25 us a row, 2.5 s of a weekly
    run for 100,000 pupils, the driver a tenth of that."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        conn.execute(insert(scores), [dict(zip(_SCORE_ROW, r, strict=True)) for r in rows])
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (f"INSERT INTO {scores.name} ({', '.join(_SCORE_ROW)}) "
           f"VALUES ({', '.join([mark] * len(_SCORE_ROW))})")
    if dialect == "sqlite":  # as SQLAlchemy stores them there: ISO dates, 0/1, JSON text
        rows = [(r[0].isoformat(), *r[1:8], int(r[8]), json.dumps(r[9])) for r in rows]
    else:
        rows = [(*r[:9], json.dumps(r[9])) for r in rows]
    conn.exec_driver_sql(sql, rows)


def _store_list(conn, flag_list: FlagList, created_at: datetime) -> None:
    """Insert or update the (week, school) list and its flags in place; set the flags' ids,
    `new_this_week` and `review`."""
    fl = flag_list
    header = {"as_of": fl.as_of, "model_version": fl.model_version, "capacity": fl.capacity,
              "pupils_on_roll": fl.pupils_on_roll}
    found = conn.execute(select(flag_lists.c.id).where(
        flag_lists.c.week == fl.week, flag_lists.c.school_id == fl.school_id)).first()
    if found is None:
        fl.id = int(conn.execute(insert(flag_lists).values(
            week=fl.week, school_id=fl.school_id, created_at=created_at, **header,
        )).inserted_primary_key[0])
    else:
        fl.id = int(found.id)
        conn.execute(update(flag_lists).where(flag_lists.c.id == fl.id).values(**header))

    before = _previous_keys(conn, fl.school_id, fl.week)
    for f in fl.flags:
        f.new_this_week = (f.pupil_id, f.section) not in before

    existing = _flag_ids(conn, fl.id)
    wanted = {(f.pupil_id, f.section) for f in fl.flags}
    stale = [i for key, i in existing.items() if key not in wanted]
    for chunk in _chunks(stale):
        conn.execute(delete(flags).where(flags.c.id.in_(chunk)))
    changed = [{"b_id": existing[(f.pupil_id, f.section)], **{f"b_{k}": v for k, v in
                                                              f.values().items()}}
               for f in fl.flags if (f.pupil_id, f.section) in existing]
    if changed:
        conn.execute(update(flags).where(flags.c.id == bindparam("b_id"))
                     .values({k: bindparam(f"b_{k}") for k in FLAG_VALUES}), changed)
    new = [{"list_id": fl.id, "pupil_id": f.pupil_id, "section": f.section, **f.values()}
           for f in fl.flags if (f.pupil_id, f.section) not in existing]
    if new:
        conn.execute(insert(flags), new)
    ids = _flag_ids(conn, fl.id)
    for f in fl.flags:
        f.id = ids[(f.pupil_id, f.section)]
    _relink_reviews(conn, fl)
    latest = latest_reviews(conn, fl.school_id, fl.week)
    for f in fl.flags:
        f.review = latest.get(f.pupil_id)


def _previous_keys(conn, school_id: str, week: str) -> set[tuple[str, str]]:
    """(pupil, section) of the school's latest stored list before `week`."""
    previous = conn.execute(
        select(flag_lists.c.id).where(flag_lists.c.school_id == school_id,
                                      flag_lists.c.week < week)
        .order_by(flag_lists.c.week.desc()).limit(1)).scalar()
    if previous is None:
        return set()
    return set(_flag_ids(conn, previous))


def _flag_ids(conn, list_id: int) -> dict[tuple[str, str], int]:
    rows = conn.execute(select(flags.c.id, flags.c.pupil_id, flags.c.section)
                        .where(flags.c.list_id == list_id)).all()
    return {(r.pupil_id, r.section): int(r.id) for r in rows}


def _relink_reviews(conn, fl: FlagList) -> None:
    """Reviews of this list whose flag was dropped by an earlier re-run point at the pupil's flag
    again, once the pupil is back on the list (their first section in list order)."""
    orphans = conn.execute(select(reviews.c.id, reviews.c.pupil_id).where(
        reviews.c.flag_id.is_(None), reviews.c.school_id == fl.school_id,
        reviews.c.week == fl.week)).all()
    first: dict[str, int] = {}
    for f in fl.flags:
        first.setdefault(f.pupil_id, f.id)
    for review_id, pupil_id in orphans:
        if pupil_id in first:
            conn.execute(update(reviews).where(reviews.c.id == review_id)
                         .values(flag_id=first[pupil_id]))


# -- helpers -----------------------------------------------------------------------------------


def _number(x) -> float | None:
    """A plain float for JSON and the store; None for a missing value."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def _chunks(items: list, size: int = IN_CHUNK) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i: i + size]


def as_dict(flag_list: FlagList) -> dict[str, Any]:
    """A built list as plain data (dates as ISO text), e.g. to compare two runs."""
    data = asdict(flag_list)
    data["as_of"] = flag_list.as_of.isoformat()
    return data
