"""Stage 4: the daily register, generated per chunk of pupils (vectorised, bounded memory)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from model.calendar import (
    holiday_adjacent,
)
from simulator.calendar import DemoCalendar, build_calendar
from simulator.latent import LatentRisk, build_latent_risk
from simulator.parameters import (
    AUTHORISED,
    AUTHORISED_DAY,
    CHRONIC,
    CUSTODY,
    ESCALATING,
    HIGH_PARTIAL,
    ILLNESS,
    ILLNESS_SPELL,
    ILLNESS_START,
    LATE_ARRIVAL,
    MISSING_CLASS_DAY,
    MISSING_PUPIL_DAY,
    PRESENT,
    PUPIL_CHUNK,
    RNG_BLOCK,
    STATUS_NAMES,
    TRIPS_PER_YEAR,
    UNAUTHORISED,
    UNAUTHORISED_DAY,
)
from simulator.population import Population, build_population


@dataclass(frozen=True)
class DemoPlan:
    """Everything but the daily register: what the daily and later stages draw from."""

    seed: int
    calendar: DemoCalendar
    population: Population
    risk: LatentRisk
    missing_class_days: np.ndarray  # (classes, days) bool: a whole class not registered


@dataclass(frozen=True)
class DemoOptions:
    """What a demo municipality is made from: the one signature of `plan_demo`,
    `simulate_municipality`, `generate_demo` and `write_demo_municipality`, which take these
    fields as keyword arguments (an unknown one is a TypeError). The same options always give
    the same municipality."""

    pupils: int = 6000  # enrolled each school year
    schools: int = 12
    years: int = 3  # school years, ending with the one holding `until`
    seed: int = 7
    until: date | None = None  # the register's last day (default, and at the latest: yesterday)
    cpr: bool = False  # synthetic CPR numbers as pupil ids
    trend: float = 0.0  # absence rising year on year: the hazards grow by this share a year (>= 0)
    base_rate: float = 1.0  # escalations to concerning absence, times the tuned rate (> 0)


def plan_demo(**options) -> DemoPlan:
    """Stages 1-3 (calendar, population, latent risk): small, held in memory at any scale.
    `options`: the fields of `DemoOptions`."""
    o = DemoOptions(**options)
    pupils, schools, years, seed, cpr = o.pupils, o.schools, o.years, o.seed, o.cpr
    if pupils < 1 or schools < 1 or years < 1:
        raise ValueError("pupils, schools and years must be positive")
    yesterday = date.today() - timedelta(days=1)
    until = o.until or yesterday
    if until > yesterday:
        raise ValueError(
            f"until must be yesterday or earlier (no register in the future), not {until}"
        )
    cal = build_calendar(years, until, np.random.default_rng([seed, 1]))
    pop = build_population(pupils, schools, cal.school_years, cpr, np.random.default_rng([seed, 2]))
    if o.trend < 0 or o.base_rate <= 0:
        raise ValueError("trend must be >= 0 and base rate > 0")
    risk = build_latent_risk(cal, pop, np.random.default_rng([seed, 3]), o.trend, o.base_rate)
    missing = (
        np.random.default_rng([seed, 4]).random((len(pop.classes), len(cal.days)))
        < MISSING_CLASS_DAY
    )
    return DemoPlan(seed, cal, pop, risk, missing)


@dataclass
class RegisterChunk:
    """The register of a chunk of pupils as matrices over the calendar's day axis."""

    pupils: np.ndarray  # population indices
    status: np.ndarray  # (pupils, days) int8: 0 = no entry, else PRESENT..UNAUTHORISED
    absent: np.ndarray  # (pupils, days) float32

    def to_frame(self, plan: DemoPlan) -> pd.DataFrame:
        """The contract's long form: one row per registered pupil and school day."""
        p, d = np.nonzero(self.status)
        return pd.DataFrame(
            {
                "pupil_id": _strings(plan.population.pupil_ids[self.pupils], p),
                "date": plan.calendar.days[d],
                "status": _strings(STATUS_NAMES, self.status[p, d]),
                "absent_fraction": self.absent[p, d].astype(np.float64),
            }
        )


def _strings(values: np.ndarray, codes: np.ndarray) -> pd.arrays.ArrowStringArray:
    """values[codes] as a pandas string column, built in Arrow (10x faster than from objects)."""
    import pyarrow as pa

    taken = pa.array(values, type=pa.large_string()).take(pa.array(codes))
    return pd.array(taken, dtype=pd.StringDtype("pyarrow", na_value=np.nan))


def iter_register(plan: DemoPlan) -> Iterator[RegisterChunk]:
    """Stage 4 per block of RNG_BLOCK pupils, each block from its own random stream, so the
    register never depends on how it is batched (memory ~ block x days)."""
    n = len(plan.population.pupil_ids)
    for k, lo in enumerate(range(0, n, RNG_BLOCK)):
        idx = np.arange(lo, min(lo + RNG_BLOCK, n))
        yield daily_register(plan, idx, np.random.default_rng([plan.seed, 5, k]))


def iter_attendance_chunks(plan: DemoPlan, chunk_size: int = PUPIL_CHUNK) -> Iterator[pd.DataFrame]:
    """attendance.csv in chunks of about `chunk_size` pupils (whole blocks of RNG_BLOCK), for
    writing at national scale; the chunks concatenated are always the same register."""
    blocks_per_chunk = max(1, -(-chunk_size // RNG_BLOCK))
    frames = []
    for block in iter_register(plan):
        frames.append(block.to_frame(plan))
        if len(frames) == blocks_per_chunk:
            yield pd.concat(frames, ignore_index=True)
            frames = []
    if frames:
        yield pd.concat(frames, ignore_index=True)


def _spells(
    starts: np.ndarray, lengths: np.ndarray, stop: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Days covered by spells that start where `starts` is set and last `lengths` school days
    (cut at the end of the school year), and per day the axis index of the latest start."""
    t = np.arange(starts.shape[1])
    end = np.where(starts, np.minimum(t + lengths, stop), 0)
    covered = np.maximum.accumulate(end, axis=1) > t
    latest = np.maximum.accumulate(np.where(starts, t, 0), axis=1)
    return covered, latest


class _Marks:
    """A chunk's status and absent matrices being filled in; a later mark overrides an earlier.

    `mark(mask, code, fraction, rows)`: set the days in `mask` (shape: all rows, or only the
    pupils `rows`); code and fraction are scalars or one value per marked day (C order).
    """

    def __init__(self, n: int, days: int) -> None:
        self.status = np.full((n, days), PRESENT, np.int8)
        self.absent = np.zeros((n, days), np.float32)

    def mark(self, mask: np.ndarray, code, fraction, rows: np.ndarray | None = None) -> None:
        if rows is None:
            self.status[mask] = code
            self.absent[mask] = fraction
        else:
            r, d = np.nonzero(mask)
            self.status[rows[r], d] = code
            self.absent[rows[r], d] = fraction


def daily_register(plan: DemoPlan, idx: np.ndarray, rng: np.random.Generator) -> RegisterChunk:
    """Stage 4: the register of pupils `idx` on every school day, from their latent risk.

    Components, later ones overriding earlier ones on the same day: partial days, single days
    of authorised leave and of unauthorised absence, shared custody, chronic illness
    appointments, illness spells (season x flu), the escalation, family trips. Then days
    without enrolment and missing registrations are blanked.
    """
    cal, pop, risk = plan.calendar, plan.population, plan.risk
    n, D = len(idx), len(cal.days)
    grade = pop.grade[idx][:, cal.year]
    enrolled = grade >= 0
    if D == 0 or n == 0:
        return RegisterChunk(idx, np.zeros((n, D), np.int8), np.zeros((n, D), np.float32))
    out = _Marks(n, D)
    stop = cal.stop_of_day[None, :]
    wd = cal.weekday[None, :]
    monfri = (wd == 0) | (wd == 4)
    adjacent = (cal.after_break | cal.before_break)[None, :]
    m_ill = risk.illness[idx][:, cal.year]
    m_un = risk.unauthorised[idx][:, cal.year]
    m_leave = risk.leave[idx][:, None]
    kind = risk.kind[idx]
    high = risk.high[idx]

    def uniform() -> np.ndarray:
        return rng.random((n, D), dtype=np.float32)

    # Partial days: late arrivals and lessons missed, mostly unauthorised. Frequent in the
    # high-absence group, where much of the absence is partial rather than whole days.
    late = uniform() < LATE_ARRIVAL * np.sqrt(m_un) * np.where(high, HIGH_PARTIAL, 1.0)[:, None]
    k = int(late.sum())
    late_high = high[np.nonzero(late)[0]]
    out.mark(
        late,
        np.where(rng.random(k) < 0.7, UNAUTHORISED, ILLNESS),
        np.where(late_high, 0.25, 0.125) * rng.integers(1, 3, k),
    )
    # Single days: leave next to breaks (long weekends); truancy on Mondays, Fridays and after
    # breaks.
    out.mark(uniform() < AUTHORISED_DAY * m_leave * np.where(adjacent, 3.5, 1.0), AUTHORISED, 1.0)
    h_un = (
        UNAUTHORISED_DAY * m_un * np.where(monfri, 1.5, 1.0) * np.where(cal.after_break, 1.8, 1.0)
    )
    out.mark(uniform() < h_un, UNAUTHORISED, 1.0)

    _custody(out, rng, cal, np.flatnonzero(kind == CUSTODY), risk.phase[idx], wd)
    _chronic_appointments(out, rng, cal, np.flatnonzero(kind == CHRONIC), risk, idx, wd)

    # Illness spells: the pupil's proneness x the month x the flu waves; chronic illness flares.
    h_ill = ILLNESS_START * m_ill * cal.illness_season[None, :]
    h_ill *= np.where(kind == CHRONIC, 1.8, 1.0)[:, None]
    starts = uniform() < h_ill
    lengths = np.zeros((n, D), np.int32)
    lengths[starts] = np.minimum(rng.geometric(1.0 / ILLNESS_SPELL, int(starts.sum())), 10)
    out.mark(_spells(starts, lengths, stop)[0], ILLNESS, 1.0)

    _escalation(out, rng, cal, risk, idx, grade, wd, monfri, stop)
    _family_trips(out, rng, cal, m_leave[:, 0], enrolled)

    missing = np.zeros((n, D), bool)
    code = pop.class_code[idx][:, cal.year]
    missing[enrolled] = plan.missing_class_days[code[enrolled], np.nonzero(enrolled)[1]]
    missing |= uniform() < MISSING_PUPIL_DAY
    out.status[~enrolled | missing] = 0
    out.absent[out.status <= PRESENT] = 0.0
    return RegisterChunk(idx, out.status, out.absent)


def _custody(out: _Marks, rng, cal: DemoCalendar, rows: np.ndarray, phase: np.ndarray, wd) -> None:
    """Shared custody, every other week: mild absence at the handovers (Mondays and Fridays of
    the weeks with the other parent): some late arrivals, now and then a whole day."""
    if len(rows) == 0:
        return
    away = ((cal.week[None, :] + phase[rows][:, None]) % 2 == 1) & ((wd == 0) | (wd == 4))
    u = rng.random(away.shape, dtype=np.float32)
    out.mark(away & (u < 0.22), UNAUTHORISED, 0.25, rows)
    whole = away & (u >= 0.22) & (u < 0.3)
    out.mark(whole, np.where(rng.random(int(whole.sum())) < 0.5, ILLNESS, UNAUTHORISED), 1.0, rows)


def _chronic_appointments(
    out: _Marks, rng, cal: DemoCalendar, rows, risk: LatentRisk, idx, wd
) -> None:
    """Chronic illness: an appointment on the same weekday every 2-4 weeks, a partial or whole
    day of illness; stable over time (it never escalates)."""
    if len(rows) == 0:
        return
    who = idx[rows]
    appt = (
        (wd == risk.pattern_day[who][:, None])
        & ((cal.week[None, :] - risk.phase[who][:, None]) % risk.period[who][:, None] == 0)
        & (rng.random((len(rows), len(cal.days)), dtype=np.float32) < 0.9)
    )
    k = int(appt.sum())
    fraction = np.where(rng.random(k) < 0.4, 1.0, rng.choice([0.25, 0.375, 0.5], k))
    out.mark(appt, ILLNESS, fraction, rows)


def escalation_intensity(
    risk: LatentRisk, who: np.ndarray, days: int
) -> tuple[np.ndarray, np.ndarray]:
    """Intensity s (0-1) of pupils `who` on each axis day, and whether they are still rising.

    Rising from onset to peak as ((t - onset) / ramp)^1.5; 1 on the plateau; then two in three
    recover (an intervention works) to a residual 0.1 over 40 school days, the others ease only
    to 0.6 over a year (long-term absence).
    """
    t = np.arange(days)[None, :]
    onset, ramp = risk.onset[who][:, None], risk.ramp[who][:, None]
    end = risk.plateau_end[who][:, None]
    rising = (t >= onset) & (t < onset + ramp)
    s = np.where(t >= onset, np.clip((t - onset) / ramp, 0.0, 1.0) ** 1.5, 0.0)
    after = np.where(
        risk.recovers[who][:, None],
        np.maximum(0.1, 1.0 - 0.9 * (t - end) / 40.0),
        np.maximum(0.25, 1.0 - 0.75 * (t - end) / 200.0),
    )
    s = np.where(t > end, after, s)
    return s.astype(np.float32), rising


def _escalation(
    out: _Marks, rng, cal: DemoCalendar, risk: LatentRisk, idx, grade, wd, monfri, stop
) -> None:
    """Escalating absence. Intensity s rises from 0 at onset to 1 over `ramp` school days.

    Early (s small): short 1-2 day spells concentrated on Mondays, Fridays, the pupil's own
    weekday and the day after a break, and late arrivals (a quarter to a half day). Later:
    more spells and longer ones (mean ~7 days at s = 1), increasingly unauthorised.
    """
    rows = np.flatnonzero(risk.kind[idx] == ESCALATING)
    if len(rows) == 0:
        return
    who = idx[rows]
    shape = (len(rows), len(cal.days))
    s, rising = escalation_intensity(risk, who, len(cal.days))
    own_day = wd == risk.pattern_day[who][:, None]
    signs = 2.5 * monfri + 3.0 * cal.after_break[None, :] + 2.5 * own_day
    hazard = np.where(s > 0, (0.01 + 0.13 * s) * (1.0 + rising * (1.0 - s) * signs), 0.0)
    starts = rng.random(shape, dtype=np.float32) < hazard
    lengths = np.zeros(shape, np.int32)
    lengths[starts] = np.minimum(rng.geometric(1.0 / (1.0 + 6.0 * s[starts] ** 2)), 25)
    covered, latest = _spells(starts, lengths, stop)
    # Each spell is called in as illness (a stomach-ache) or not at all (unauthorised); the
    # older the pupil and the further the escalation, the more often not at all.
    p_illness = 0.7 - 0.35 * s - 0.15 * (grade[rows] >= 7)
    spell_status = np.where(rng.random(shape, dtype=np.float32) < p_illness, ILLNESS, UNAUTHORISED)
    spell_status = np.take_along_axis(spell_status.astype(np.int8), latest, axis=1)

    # Late arrivals grow with the escalation and give way to whole days near the peak.
    late_hazard = (0.02 + 0.5 * s * (1.0 - s)) * np.where(monfri | own_day, 2.0, 0.6)
    late = rising & ~covered & (rng.random(shape, dtype=np.float32) < late_hazard)
    k = int(late.sum())
    out.mark(
        late,
        np.where(rng.random(k) < 0.5, UNAUTHORISED, ILLNESS),
        rng.choice([0.25, 0.375, 0.5], k),
        rows,
    )
    out.mark(covered, spell_status[covered], 1.0, rows)


def _family_trips(out: _Marks, rng, cal: DemoCalendar, leave: np.ndarray, enrolled) -> None:
    """Family trips: runs of 3-5 authorised days right before or after a break, more often at
    the longer breaks (autumn, Christmas, winter, Easter, summer). Trips are planned on the
    whole school year; in the current year only the days up to `until` are kept."""
    for y in range(len(cal.school_years)):
        lo, hi = cal.year_start[y], cal.year_stop[y]
        full = cal.full_years[y]
        if hi <= lo:
            continue
        after, before = holiday_adjacent(full)
        gaps = np.diff(full).astype(int)
        gap_after = np.concatenate([[60], gaps])  # the first day of the year follows summer
        gap_before = np.concatenate([gaps, [60]])
        position = np.arange(len(full))
        anchors = np.concatenate([position[after], position[before]])
        direction = np.concatenate([np.ones(after.sum(), int), -np.ones(before.sum(), int)])
        weight = np.minimum(np.concatenate([gap_after[after], gap_before[before]]), 16.0) ** 1.5
        trips = np.minimum(rng.poisson(TRIPS_PER_YEAR * leave), 2) * enrolled[:, lo]
        travellers = np.flatnonzero(trips)
        if len(travellers) == 0:
            continue
        who = np.repeat(np.arange(len(travellers)), trips[travellers])
        pick = rng.choice(len(anchors), size=len(who), p=weight / weight.sum())
        length = rng.integers(3, 6, len(who))
        start = np.clip(
            np.where(direction[pick] > 0, anchors[pick], anchors[pick] - length + 1),
            0,
            len(full) - 1,
        )
        starts = np.zeros((len(travellers), len(full)), bool)
        lengths = np.zeros((len(travellers), len(full)), np.int32)
        starts[who, start] = True
        np.maximum.at(lengths, (who, start), length)
        covered, _ = _spells(starts, lengths, np.array([[len(full)]]))
        mask = np.zeros((len(travellers), len(cal.days)), bool)
        mask[:, lo:hi] = covered[:, : hi - lo]
        out.mark(mask, AUTHORISED, 1.0, travellers)
