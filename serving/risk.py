"""Risk for one pupil, fast: features built for the pupil's school only, cached per store version.

Every feature of a pupil depends on the pupil's own register, enrolments and concerns, the class
wellbeing survey, and - through the class and school context features - on the other pupils of
the same school in the same school year; nothing else. So a feature builder over one school's
pupils (all their school years, on the municipality's full school-day axis) gives exactly the
rows that the builder over the whole municipality gives for them, at a fraction of the cost.

Caches, all keyed by the *store version* (the newest import batch and the number of pupils), so
an ingest or a pushed register day is seen by the next request:
- one feature builder per (school, school year);
- the school's scored frame per (as-of date, model version), with the school means that the
  reasons compare against;
- one pupil's risk with reasons per (pupil, as-of date, model version, language);
- the school's weekly scores over a school year per model version (for the history).
Each is built once even under concurrent requests (single flight) and evicted least recently used.

The store's other reads that the team pages and the API need (a pupil's concerns in a school
year, the schools' names, which pupils are enrolled at a school) are small functions here too,
beside the reads of enrolments, concerns and schools that build the features.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from model.calendar import iso_week, parse_school_year, school_year_of, school_year_start
from model.estimator import risk_band
from model.features import FeatureBuilder, feature_matrix
from model.labels import LabelSpec, is_already_concerning, trailing_rates
from model.register import register_matrix
from model.store import (
    class_wellbeing,
    concerns,
    enrolments,
    import_batches,
    pupils,
    register,
    school_days,
    schools,
)
from model.threads import limit_threads
from serving.champion import ServedModel
from serving.scoring import score_frame

CHUNK = 500  # ids per IN (...) list, below SQLite's bound-parameter limit


class LruCache:
    """A small thread-safe LRU map whose values are built at most once per key at a time."""

    def __init__(self, size: int):
        self.size = size
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[Hashable, threading.Lock] = {}

    def get_or_build(self, key: Hashable, build: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
            gate = self._building.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                if key in self._data:
                    self._data.move_to_end(key)
                    return self._data[key]
            try:
                value = build()
                with self._lock:
                    self._data[key] = value
                    while len(self._data) > self.size:
                        self._data.popitem(last=False)
            finally:
                with self._lock:
                    self._building.pop(key, None)
            return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


@dataclass(frozen=True)
class StoreSnapshot:
    """What the caches are keyed by: the store version, and the day axis and newest school day
    read once for it."""

    version: tuple[int, int]
    days: np.ndarray  # every school of the municipality's school days (datetime64[D])
    latest_day: date | None  # the newest registered school day, not after today


@dataclass(frozen=True)
class Enrolment:
    """A pupil (as stored: a pseudonym) enrolled at a school in a school year."""

    pupil_id: str
    school_year: str
    school_id: str
    grade: int


@dataclass
class ScoredSchool:
    """Every pupil on roll at one school at one as-of date, scored and explained (SHAP for the
    whole school in one batch: per row the same values as one row at a time); `context` holds
    the school means that reasons compare against. Reasons are rendered per language on first
    use, for every pupil at once."""

    frame: pd.DataFrame
    row_of: dict[str, int]
    context: dict
    explanation: Any  # model.reasons.Explanation, rows as in `frame`
    risk: np.ndarray
    band: np.ndarray
    grade: np.ndarray
    already_concerning: np.ndarray
    _reasons: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reasons(self, language: str) -> list[list[dict]]:
        """Every pupil's top reasons as {feature, group, value, effect, text}, in row order."""
        found = self._reasons.get(language)
        if found is None:
            from model.reasons import reasons_for

            with self._lock:
                found = self._reasons.get(language)
                if found is None:
                    rendered = reasons_for(self.frame, self.explanation, language=language,
                                           top=3, context=self.context)
                    found = self._reasons[language] = [
                        [{"feature": r.feature, "group": r.group, "value": r.value,
                          "effect": r.effect, "text": r.text} for r in row] for row in rendered]
        return found


@dataclass(frozen=True)
class PupilRisk:
    pupil_id: str
    school_id: str
    as_of: date
    grade: int
    risk: float
    band: str
    already_concerning: bool
    reasons: list[dict]
    model_version: str


def _chunks(ids: list[str]):
    for i in range(0, len(ids), CHUNK):
        yield ids[i : i + CHUNK]


def _select_in(conn, table, ids: list[str]) -> pd.DataFrame:
    rows = []
    for part in _chunks(ids):
        rows += conn.execute(select(table).where(table.c.pupil_id.in_(part))).all()
    return pd.DataFrame(rows, columns=[c.name for c in table.columns])


def _select_all(conn, table) -> pd.DataFrame:
    rows = conn.execute(select(table)).all()
    return pd.DataFrame(rows, columns=[c.name for c in table.columns])


def concerns_in_school_year(engine: Engine, pupil_id: str, school_year: str,
                            until: date | None) -> list[Any]:
    """The pupil's coded concerns (date, source, category, severity) dated in the school year,
    up to `until` if given, oldest first."""
    start = parse_school_year(school_year)
    query = select(concerns.c.date, concerns.c.source, concerns.c.category,
                   concerns.c.severity).where(concerns.c.pupil_id == pupil_id,
                                              concerns.c.date >= school_year_start(start),
                                              concerns.c.date < school_year_start(start + 1))
    if until is not None:
        query = query.where(concerns.c.date <= until)
    with engine.connect() as conn:
        return conn.execute(query.order_by(concerns.c.date)).all()


def school_names(engine: Engine) -> list[tuple[str, str]]:
    """Every school's (school_id, name), by school id."""
    with engine.connect() as conn:
        rows = conn.execute(select(schools.c.school_id, schools.c.name)
                            .order_by(schools.c.school_id)).all()
    return [(r.school_id, r.name) for r in rows]


def enrolled_pupils(engine: Engine, school_id: str, school_year: str,
                    pupil_ids: list[str]) -> set[str]:
    """Those of `pupil_ids` (pseudonyms, as stored) enrolled at the school in the school year."""
    enrolled: set[str] = set()
    with engine.connect() as conn:
        for part in _chunks(pupil_ids):
            enrolled |= {p for (p,) in conn.execute(select(enrolments.c.pupil_id).where(
                enrolments.c.school_id == school_id,
                enrolments.c.school_year == school_year,
                enrolments.c.pupil_id.in_(part)))}
    return enrolled


class RiskService:
    """Risk, reasons and weekly history for single pupils, computed from the store's current
    data with the served champion (see the module docstring for what is cached)."""

    def __init__(self, engine: Engine, spec: LabelSpec, *, schools_cached: int = 64,
                 frames_cached: int = 256, pupils_cached: int = 20000,
                 recheck_seconds: float = 1.0, threads: int = 1):
        self.engine = engine
        self.spec = spec
        self.threads = threads
        self.recheck_seconds = recheck_seconds
        self._snapshot: StoreSnapshot | None = None
        self._checked_at = float("-inf")
        self._snapshot_lock = threading.Lock()
        self._builders = LruCache(schools_cached)
        self._scored = LruCache(frames_cached)
        self._pupils = LruCache(pupils_cached)
        self._weekly = LruCache(schools_cached)
        self.warmed_version: str | None = None  # the model version `warm` last finished for

    # -- the store -------------------------------------------------------------------------

    def fresh_snapshot(self) -> StoreSnapshot | None:
        """The snapshot if its version was checked less than `recheck_seconds` ago, else None."""
        if time.monotonic() - self._checked_at < self.recheck_seconds:
            return self._snapshot
        return None

    def invalidate(self) -> None:
        """Check the store version on the next request (after this process changed the store)."""
        self._checked_at = float("-inf")

    def snapshot(self) -> StoreSnapshot:
        """The store as the caches see it; re-read when an import changed it."""
        checked_at = time.monotonic()
        with self.engine.connect() as conn:
            batch = conn.execute(select(func.coalesce(func.max(import_batches.c.id), 0))).scalar()
            count = conn.execute(select(func.count()).select_from(pupils)).scalar()
        version = (int(batch), int(count))
        current = self._snapshot
        if current is not None and current.version == version:
            self._checked_at = checked_at
            return current
        with self._snapshot_lock:
            if self._snapshot is not None and self._snapshot.version == version:
                return self._snapshot
            with self.engine.connect() as conn:
                found = conn.execute(select(school_days.c.date).distinct())
                days = np.array(sorted(d for (d,) in found), dtype="datetime64[D]")
            today = np.datetime64(date.today(), "D")
            past = days[days <= today]
            latest = pd.Timestamp(past[-1]).date() if len(past) else None
            for cache in (self._builders, self._scored, self._pupils, self._weekly):
                cache.clear()
            self._snapshot = StoreSnapshot(version, days, latest)
            self._checked_at = checked_at
            return self._snapshot

    def enrolment(self, pupil_id: str, school_year: str) -> Enrolment | None:
        """Where a pupil (as stored) is enrolled in a school year, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(enrolments.c.school_id, enrolments.c.grade).where(
                enrolments.c.pupil_id == pupil_id, enrolments.c.school_year == school_year)).first()
        if row is None:
            return None
        return Enrolment(pupil_id, school_year, row.school_id, int(row.grade))

    def school_exists(self, school_id: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(schools.c.school_id).where(
                schools.c.school_id == school_id)).first() is not None

    # -- features and scores -----------------------------------------------------------------

    def builder(self, snap: StoreSnapshot, school_id: str, school_year: str) -> FeatureBuilder:
        """The feature builder over the pupils enrolled at `school_id` in `school_year`."""
        return self._builders.get_or_build(
            (snap.version, school_id, school_year),
            lambda: self._build_builder(snap, school_id, school_year))

    def _build_builder(self, snap: StoreSnapshot, school_id: str,
                       school_year: str) -> FeatureBuilder:
        with self.engine.connect() as conn:
            ids = [r for (r,) in conn.execute(select(enrolments.c.pupil_id).where(
                enrolments.c.school_id == school_id, enrolments.c.school_year == school_year))]
            enrol = _select_in(conn, enrolments, ids)
            strips = _select_in(conn, register, ids)
            conc = _select_in(conn, concerns, ids).drop(columns=["id"])
            pup = _select_in(conn, pupils, ids)
            wb = _select_all(conn, class_wellbeing)
        return FeatureBuilder(register_matrix(strips, snap.days), enrol, conc, wb, pup)

    def scored_school(self, snap: StoreSnapshot, served: ServedModel, school_id: str,
                      as_of: date) -> ScoredSchool:
        """Every pupil on roll at the school at `as_of`, scored and explained with the served
        model."""
        from model.reasons import explain, school_means

        def build() -> ScoredSchool:
            limit_threads(self.threads, environment=False)
            builder = self.builder(snap, school_id, school_year_of(as_of))
            frame = score_frame(builder, served.model, as_of, self.spec)
            row_of = {p: i for i, p in enumerate(frame["pupil_id"])}
            explanation = explain(served.model, feature_matrix(frame))
            return ScoredSchool(frame, row_of, school_means(frame), explanation,
                                frame["risk"].to_numpy(np.float64),
                                frame["band"].to_numpy(object),
                                frame["grade"].to_numpy(np.int64),
                                frame["already_concerning"].to_numpy(bool))

        return self._scored.get_or_build((snap.version, served.version, school_id, as_of), build)

    def pupil_risk(self, snap: StoreSnapshot, served: ServedModel, pupil: Enrolment, as_of: date,
                   language: str = "da") -> PupilRisk | None:
        """The pupil's risk, band and reasons at `as_of`; None if not on roll then."""
        scored = self.scored_school(snap, served, pupil.school_id, as_of)
        pos = scored.row_of.get(pupil.pupil_id)
        if pos is None:
            return None
        return PupilRisk(
            pupil_id=pupil.pupil_id, school_id=pupil.school_id, as_of=as_of,
            grade=int(scored.grade[pos]), risk=float(scored.risk[pos]), band=str(scored.band[pos]),
            already_concerning=bool(scored.already_concerning[pos]),
            reasons=scored.reasons(language)[pos], model_version=served.version)

    def pupil_risk_json(self, snap: StoreSnapshot, served: ServedModel, pupil: Enrolment,
                        as_of: date, language: str, schema) -> bytes | None:
        """`pupil_risk` as the API's JSON (validated against `schema`, the API's pydantic model
        serving.api.schemas.PupilRisk), kept as bytes: bytes are invisible to the garbage
        collector, so a cache of thousands of answers never lengthens a collection pause."""

        def build() -> bytes | None:
            found = self.pupil_risk(snap, served, pupil, as_of, language)
            if found is None:
                return None
            return schema.model_validate(
                {**found.__dict__, "language": language}).model_dump_json().encode()

        key = (snap.version, served.version, pupil.pupil_id, pupil.school_id, as_of, language)
        return self._pupils.get_or_build(key, build)

    def warm(self, served: ServedModel | None, languages: tuple[str, ...] = ("da",)) -> int:
        """Build every school's scored and explained frame at the newest registered school day
        (the default as-of date) ahead of the first request; returns the schools warmed."""
        if served is None:
            return 0
        snap = self.snapshot()
        if snap.latest_day is None:
            return 0
        with self.engine.connect() as conn:
            ids = [s for (s,) in conn.execute(select(enrolments.c.school_id).distinct().where(
                enrolments.c.school_year == school_year_of(snap.latest_day)))]
        for school_id in sorted(ids):
            scored = self.scored_school(snap, served, school_id, snap.latest_day)
            for language in languages:
                scored.reasons(language)
        self.warmed_version = served.version
        return len(ids)

    def pupil_rules(self, snap: StoreSnapshot, pupil: Enrolment, as_of: date, language: str,
                    warning: float, notification: float, message: str) -> dict | None:
        """Without a champion (issue 12): what the rules say about the pupil at `as_of` (already
        concerning, the statutory quarter level), risk and band null; None if not on roll."""
        from model.rules import statutory_quarter

        limit_threads(self.threads, environment=False)
        builder = self.builder(snap, pupil.school_id, school_year_of(as_of))
        frame = score_frame(builder, None, as_of, self.spec)
        found = np.flatnonzero(frame["pupil_id"].to_numpy() == pupil.pupil_id)
        if not len(found):
            return None
        pos = int(found[0])
        cols = builder.row_of.get_indexer([pupil.pupil_id])
        level = str(statutory_quarter(builder.rate_sums(), as_of, cols, warning,
                                      notification)["statutory_level"].iloc[0])
        return {"pupil_id": pupil.pupil_id, "school_id": pupil.school_id, "as_of": as_of,
                "grade": int(frame["grade"].iloc[pos]), "risk": None, "band": None,
                "already_concerning": bool(frame["already_concerning"].iloc[pos]),
                "reasons": [], "model_version": None, "language": language,
                "statutory_level": None if level == "none" else level, "message": message}

    # -- history -------------------------------------------------------------------------------

    def weekly_dates(self, snap: StoreSnapshot, school_year: str) -> list[tuple[str, date]]:
        """(ISO week, as-of date) for every week of the school year with a school day up to the
        newest registered one: the week's absence, and the risk as of the Monday after it (what
        that Monday's list uses)."""
        start = parse_school_year(school_year)
        lo, hi = np.datetime64(school_year_start(start)), np.datetime64(school_year_start(start + 1))
        days = snap.days[(snap.days >= lo) & (snap.days < hi)]
        if snap.latest_day is not None:
            days = days[days <= np.datetime64(snap.latest_day, "D")]
        weeks: dict[str, date] = {}
        for d in days:
            day = pd.Timestamp(d).date()
            monday_after = day - timedelta(days=day.weekday()) + timedelta(days=7)
            weeks.setdefault(iso_week(day), monday_after)
        return list(weeks.items())

    def weekly_scores(self, snap: StoreSnapshot, served: ServedModel | None, school_id: str,
                      school_year: str) -> pd.DataFrame:
        """The school's pupils scored at every weekly as-of date of the school year (pupil_id,
        as_of, risk, band, already_concerning), built once per store and model version."""

        def build() -> pd.DataFrame:
            limit_threads(self.threads, environment=False)
            builder = self.builder(snap, school_id, school_year)
            dates = [t for _, t in self.weekly_dates(snap, school_year)]
            frame = builder.build(dates)
            if not len(frame):
                return pd.DataFrame(columns=["pupil_id", "as_of", "risk", "band",
                                             "already_concerning"])
            if served is not None:
                risk = served.model.probability(served.model.decision_function(feature_matrix(frame)),
                                                frame["as_of"].to_numpy())
                band = risk_band(risk)
            else:  # no champion yet: absence and 'already concerning' only
                risk, band = np.full(len(frame), np.nan), np.full(len(frame), None, dtype=object)
            trailing = trailing_rates(frame, builder.day_major, builder.row_of, self.spec)
            return pd.DataFrame({
                "pupil_id": frame["pupil_id"].to_numpy(),
                "as_of": frame["as_of"].dt.date.to_numpy(),
                "risk": risk,
                "band": band,
                "already_concerning": is_already_concerning(trailing, self.spec),
            })

        version = served.version if served is not None else None
        return self._weekly.get_or_build((snap.version, version, school_id, school_year), build)

    def history(self, snap: StoreSnapshot, served: ServedModel | None,
                pupil: Enrolment) -> list[dict]:
        """The pupil's weeks of a school year: absence in the week (share of the pupil's
        registered school days), and risk, band and 'already concerning' as of the Monday after."""
        builder = self.builder(snap, pupil.school_id, pupil.school_year)
        scores = self.weekly_scores(snap, served, pupil.school_id, pupil.school_year)
        mine = scores.loc[scores["pupil_id"] == pupil.pupil_id].set_index("as_of")
        reg = builder.register
        row = int(np.flatnonzero(reg.pupil_ids == pupil.pupil_id)[0]) \
            if (reg.pupil_ids == pupil.pupil_id).any() else None
        weeks = []
        week_of_day = np.array([iso_week(pd.Timestamp(d).date()) for d in reg.days], dtype=object) \
            if row is not None else None
        for week, as_of in self.weekly_dates(snap, pupil.school_year):
            registered = absent = 0.0
            if row is not None:
                in_week = week_of_day == week
                status = reg.status[row, in_week]
                registered = float((status > 0).sum())
                absent = float(reg.absent[row, in_week][status > 0].sum())
            score = mine.loc[as_of] if as_of in mine.index else None
            known = score is not None
            scored = known and score["risk"] == score["risk"]  # NaN without a model
            weeks.append({
                "week": week, "as_of": as_of,
                "school_days_registered": int(registered),
                "days_absent": round(absent, 3),
                "absence": round(absent / registered, 4) if registered else None,
                "risk": float(score["risk"]) if scored else None,
                "band": str(score["band"]) if scored else None,
                "already_concerning": bool(score["already_concerning"]) if known else None,
            })
        return weeks
