"""The stored weekly lists read back, and the detection team's reviews recorded on them: what
the HTTP API, the team pages and the exports call (`stored_flag_list`, `stored_flag`,
`record_review`), their results JSON-ready with the reason sentences rendered in the language
asked for. The lists are built and stored by serving.flags (the module docstring there says what
is stored); the queries here read the tables of model.records (flag_lists, flags, reviews),
for the API, the team pages and `ews demo-hints` alike: none of them holds SQL of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, func, insert, select, text

from model.calendar import iso_week, monday_of_week
from model.errors import UserError
from model.records import DECISIONS, SECTIONS, flag_lists, flags, reviews

EARLY_WARNING, STATUTORY, ALREADY_CONCERNING = SECTIONS
NO_MODEL = ""  # flag_lists.model_version of a list made without a champion
WAITS_FOR_MODEL = ("no champion model is promoted yet: the early-warning section waits for a "
                   "promoted model (ews train, ews promote)")
LANGUAGES = ("da", "en")


def stored_flag_list(engine: Engine, school_id: str, week: str,
                     language: str = "da") -> dict[str, Any] | None:
    """The stored list of `school_id` for `week` as JSON-ready data, reason texts in `language`
    ("da" or "en"); None if there is none. Sections keep their rank order."""
    _check_language(language)
    week = _check_week(week)
    with engine.connect() as conn:
        header = conn.execute(select(flag_lists).where(
            flag_lists.c.week == week, flag_lists.c.school_id == school_id)).first()
        if header is None:
            return None
        rows = conn.execute(select(flags).where(flags.c.list_id == header.id)
                            .order_by(flags.c.section, flags.c.rank)).all()
        latest = latest_reviews(conn, school_id, week)
    sections: dict[str, list[dict[str, Any]]] = {name: [] for name in SECTIONS}
    for row in rows:
        sections[row.section].append(_row(row, latest.get(row.pupil_id), language))
    waits = header.model_version == NO_MODEL
    return {
        "week": header.week,
        "school_id": header.school_id,
        "as_of": header.as_of.isoformat(),
        "model_version": None if waits else header.model_version,
        "capacity": header.capacity,
        "pupils_on_roll": header.pupils_on_roll,
        "message": WAITS_FOR_MODEL if waits else None,
        "sections": one_row_per_pupil(sections),
    }


def one_row_per_pupil(sections: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Each pupil once, in the first section that applies (SECTIONS order), with `also`: the
    other sections the pupil is in (a badge) and, from a statutory row folded into an earlier
    one, the statutory level and quarter's rate. Ranks are renumbered 1.. within a section."""
    first: dict[str, dict[str, Any]] = {}
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in SECTIONS}
    for name in SECTIONS:
        for row in sections.get(name, []):
            kept = first.get(row["pupil_id"])
            if kept is None:
                kept = first[row["pupil_id"]] = {**row, "also": []}
                out[name].append(kept)
                continue
            kept["also"].append(name)
            if name == STATUTORY:
                kept["statutory_level"] = row["statutory_level"]
                kept["unauthorised_quarter"] = row["unauthorised_quarter"]
    for rows in out.values():
        for rank, row in enumerate(rows, start=1):
            row["rank"] = rank
    return out


def stored_flag(engine: Engine, flag_id: int, language: str = "da") -> dict[str, Any] | None:
    """One stored flag with its list's week, school, as-of date, model version and section
    (JSON-ready, reason texts in `language`); None if there is no such flag."""
    _check_language(language)
    with engine.connect() as conn:
        row = conn.execute(
            select(flags, flag_lists.c.week, flag_lists.c.school_id, flag_lists.c.as_of,
                   flag_lists.c.model_version)
            .join(flag_lists, flag_lists.c.id == flags.c.list_id)
            .where(flags.c.id == _flag_id(flag_id))).first()
        if row is None:
            return None
        review = latest_reviews(conn, row.school_id, row.week, [row.pupil_id]).get(row.pupil_id)
    return {"week": row.week, "school_id": row.school_id, "as_of": row.as_of.isoformat(),
            "model_version": row.model_version or None, "section": row.section,
            **_row(row, review, language)}


def record_review(engine: Engine, flag_id: int, decision: str, decided_by: str,
                  decided_on: date | str | None = None) -> dict[str, Any]:
    """Record the team's decision about a flag (one of model.records.DECISIONS, dated, by whom:
    a token name and role, never a person's name); returns the review as JSON-ready data.
    UserError for an unknown decision or flag, an empty `decided_by`, or a date that is not
    between the list's Monday and today."""
    if decision not in DECISIONS:
        raise UserError(f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
    who = (decided_by or "").strip()
    if not who or len(who) > 64:
        raise UserError("decided_by must name who decided (1-64 characters)")
    day = _decision_date(decided_on)
    with engine.begin() as conn:
        flag = conn.execute(
            select(flags.c.id, flags.c.pupil_id, flag_lists.c.school_id, flag_lists.c.week)
            .join(flag_lists, flag_lists.c.id == flags.c.list_id)
            .where(flags.c.id == _flag_id(flag_id))).first()
        if flag is None:
            raise UserError(f"no flag with id {flag_id}")
        monday = monday_of_week(flag.week)
        if day < monday:
            raise UserError(f"decided_on {day} is outside the list's week: a decision falls "
                            f"between the list's Monday ({monday}) and today")
        review_id = conn.execute(insert(reviews).values(
            flag_id=flag.id, pupil_id=flag.pupil_id, school_id=flag.school_id, week=flag.week,
            decision=decision, decided_on=day, decided_by=who, created_at=datetime.now(UTC),
        )).inserted_primary_key[0]
    return {"id": int(review_id), "flag_id": int(flag.id), "pupil_id": flag.pupil_id,
            "school_id": flag.school_id, "week": flag.week, "decision": decision,
            "decided_on": day.isoformat(), "decided_by": who}


def _row(row, review: dict[str, Any] | None, language: str) -> dict[str, Any]:
    return {
        "id": int(row.id),
        "pupil_id": row.pupil_id,
        "rank": int(row.rank),
        "grade": int(row.grade),
        "risk": row.risk,
        "band": row.band,
        "reasons": reason_texts(row.reasons or [], language),
        "absence_year": row.absence_year,
        "trend": row.trend,
        "statutory_level": row.statutory_level,
        "unauthorised_quarter": row.unauthorised_quarter,
        "new_this_week": bool(row.new_this_week),
        "review": review,
    }


def reason_texts(reasons: list[dict[str, Any]], language: str = "da") -> list[dict[str, Any]]:
    """Stored reasons as {feature, group, value, effect, text}, the sentence rendered in
    `language` from the stored value, school mean and the values it reads."""
    from model.reasons import render

    out = []
    for r in reasons:
        needs = {k: [_nan(v)] for k, v in (r.get("needs") or {}).items()}
        text = render(r["feature"], [_nan(r.get("value"))], language,
                      comparison=[_nan(r.get("comparison"))], needs=needs)[0]
        out.append({"feature": r["feature"], "group": r["group"], "value": r.get("value"),
                    "effect": r["effect"], "text": text})
    return out


def newest_week(engine: Engine, school_id: str) -> str | None:
    """The week of the school's newest stored list, None if it has none."""
    with engine.connect() as conn:
        return conn.execute(select(func.max(flag_lists.c.week)).where(
            flag_lists.c.school_id == school_id)).scalar()


def school_weeks(engine: Engine, school_id: str) -> list[str]:
    """The weeks with a stored list for the school, newest first."""
    with engine.connect() as conn:
        return [w for (w,) in conn.execute(select(flag_lists.c.week).where(
            flag_lists.c.school_id == school_id).order_by(flag_lists.c.week.desc()))]


def newest_list_flags(engine: Engine, school_id: str) -> tuple[Any, list[Any]] | None:
    """The school's newest stored list (id, week, as_of) and its flags (pupil_id, section,
    rank) in rank order, ties by pupil; None if the school has no stored list."""
    with engine.connect() as conn:
        newest = conn.execute(
            select(flag_lists.c.id, flag_lists.c.week, flag_lists.c.as_of)
            .where(flag_lists.c.school_id == school_id).order_by(flag_lists.c.week.desc()).limit(1)
        ).first()
        if newest is None:
            return None
        rows = conn.execute(
            select(flags.c.pupil_id, flags.c.section, flags.c.rank)
            .where(flags.c.list_id == newest.id).order_by(flags.c.rank, flags.c.pupil_id)
        ).all()
    return newest, rows


def stored_list_state(engine: Engine, school_id: str,
                      week: str) -> tuple[tuple, list[tuple], tuple] | None:
    """What a rendered list depends on, as stored: the list's header row, its flag rows (by id)
    and the count and newest id of the school's reviews up to `week`; None if there is no list.
    Plain SQL on purpose: serving.api.lists.FlagListCache reads this on every recheck."""
    with engine.connect() as conn:
        header = conn.execute(text(
            "SELECT * FROM flag_lists WHERE week = :week AND school_id = :school"),
            {"week": week, "school": school_id}).first()
        if header is None:
            return None
        rows = conn.execute(text("SELECT * FROM flags WHERE list_id = :id ORDER BY id"),
                            {"id": header.id}).all()
        latest = conn.execute(text(
            "SELECT count(*), max(id) FROM reviews WHERE school_id = :school "
            "AND week <= :week"), {"school": school_id, "week": week}).first()
    return tuple(header), [tuple(r) for r in rows], tuple(latest)


def latest_flags(engine: Engine, pupil_id: str, school_id: str) -> list[dict[str, Any]]:
    """The pupil's flag on the school's newest stored list that has the pupil (id, week,
    section, also), for the team page's one decision form: the first section that applies, as
    the list shows it (one_row_per_pupil)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(flags.c.id, flags.c.section, flag_lists.c.week)
            .join(flag_lists, flag_lists.c.id == flags.c.list_id)
            .where(flags.c.pupil_id == pupil_id, flag_lists.c.school_id == school_id)
            .order_by(flag_lists.c.week.desc())).all()
    if not rows:
        return []
    newest = rows[0].week
    found = sorted((dict(r._mapping) for r in rows if r.week == newest),
                   key=lambda r: SECTIONS.index(r["section"]))
    return [{**found[0], "also": [r["section"] for r in found[1:]]}]


def pupil_reviews(engine: Engine, pupil_id: str, school_id: str) -> list[dict[str, Any]]:
    """The team's decisions about the pupil at the school (week, decision, decided_on,
    decided_by), newest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(reviews.c.week, reviews.c.decision, reviews.c.decided_on,
                                   reviews.c.decided_by).where(
            reviews.c.pupil_id == pupil_id, reviews.c.school_id == school_id)
            .order_by(reviews.c.decided_on.desc(), reviews.c.id.desc())).all()
    return [dict(r._mapping) for r in rows]


def early_warnings_per_school(conn, week: str) -> dict[str, int]:
    """Per school with a stored list for `week`: the pupils in its early-warning section."""
    rows = conn.execute(
        select(flag_lists.c.school_id, flags.c.id)
        .join(flags, (flags.c.list_id == flag_lists.c.id) & (flags.c.section == EARLY_WARNING),
              isouter=True)
        .where(flag_lists.c.week == week)).all()
    counts: dict[str, int] = {}
    for school_id, flag_id in rows:
        counts[school_id] = counts.get(school_id, 0) + (flag_id is not None)
    return counts


def latest_reviews(conn, school_id: str, week: str,
                    pupil_ids: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """Per pupil, the latest review at the school recorded for `week` or an earlier week."""
    query = select(reviews.c.pupil_id, reviews.c.decision, reviews.c.decided_on,
                   reviews.c.decided_by).where(reviews.c.school_id == school_id,
                                               reviews.c.week <= week)
    if pupil_ids is not None:
        query = query.where(reviews.c.pupil_id.in_(list(pupil_ids)))
    rows = conn.execute(query.order_by(reviews.c.decided_on, reviews.c.id)).all()
    return {r.pupil_id: {"decision": r.decision, "decided_on": r.decided_on.isoformat(),
                         "decided_by": r.decided_by} for r in rows}


# -- helpers -----------------------------------------------------------------------------------


def _nan(x) -> float:
    return float("nan") if x is None else float(x)


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise UserError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")


def _check_week(week: str) -> str:
    try:
        return iso_week(monday_of_week(week))
    except ValueError as err:
        raise UserError(str(err)) from None
    except AttributeError:
        raise UserError(f"week must look like 2024-W42, not {week!r}") from None


def _flag_id(flag_id) -> int:
    try:
        return int(flag_id)
    except (TypeError, ValueError):
        raise UserError(f"no flag with id {flag_id!r}") from None


def _decision_date(decided_on: date | str | None) -> date:
    if decided_on is None:
        return date.today()
    if isinstance(decided_on, str):
        try:
            decided_on = date.fromisoformat(decided_on)
        except ValueError:
            raise UserError(f"decided_on must be a date like 2024-10-21, not {decided_on!r}"
                            ) from None
    if isinstance(decided_on, datetime):
        decided_on = decided_on.date()
    if decided_on > date.today():
        raise UserError(f"decided_on {decided_on} is in the future")
    return decided_on
