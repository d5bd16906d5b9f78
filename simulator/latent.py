"""Stage 3: each pupil's latent propensities and kind (escalating, chronic illness, custody)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.calendar import DemoCalendar
from simulator.parameters import (
    CHRONIC,
    CHRONIC_SHARE,
    CUSTODY,
    CUSTODY_SHARE,
    ESCALATING,
    ESCALATION_BY_GRADE,
    ESCALATIONS_PER_YEAR,
    HIGH_ABSENCE_SHARE,
    HIGH_ILLNESS,
    HIGH_SPREAD,
    HIGH_UNAUTHORISED,
    ILLNESS_BY_GRADE,
    NONE,
    UNAUTHORISED_BY_GRADE,
)
from simulator.population import Population


@dataclass
class LatentRisk:
    """Each pupil's propensities (hazard multipliers) and kind, with the kind's parameters.

    Shared factors make illness, unauthorised absence and leave correlate within a pupil and
    persist across years (with a yearly drift): this is what makes high absence persist from
    one quarter to the next. Axis indices (`onset`, `peak`, `plateau_end`) may be negative for
    escalations that began before the demo.
    """

    illness: np.ndarray  # (pupils, years)
    unauthorised: np.ndarray  # (pupils, years)
    leave: np.ndarray  # (pupils,)
    high: np.ndarray  # (pupils,) in the persistent high-absence group
    kind: np.ndarray  # (pupils,) NONE, ESCALATING, CHRONIC, CUSTODY
    onset: np.ndarray  # escalation: first axis index of the escalation
    ramp: np.ndarray  # escalation: school days from onset to the long spells
    plateau_end: np.ndarray  # escalation: axis index where recovery begins (if it does)
    recovers: np.ndarray
    pattern_day: np.ndarray  # weekday of the same-weekday pattern / appointments
    period: np.ndarray  # chronic illness: weeks between appointments
    phase: np.ndarray  # chronic: week phase of the appointments; custody: away-week parity

    @property
    def peak(self) -> np.ndarray:
        """Escalation: the axis index where the long spells begin (onset + ramp)."""
        return self.onset + self.ramp


def build_latent_risk(cal: DemoCalendar, pop: Population, rng: np.random.Generator,
                      trend: float = 0.0, base_rate: float = 1.0) -> LatentRisk:
    """Stage 3: who is prone to what.

    Each pupil's propensities are log-normal around their group's level (the bulk, or the
    persistent high-absence group), times grade, school area and special needs. Escalations
    start at a random school day of the pupil's school life, at a rate that is higher in
    grades 6-8, for special needs, after a change of school, for disengaged pupils and in
    classes with a poor climate, scaled to ESCALATIONS_PER_YEAR onsets per pupil and year.
    Chronic illness and shared custody are separate kinds that never escalate.
    """
    n, years = pop.grade.shape
    enrolled = pop.grade >= 0
    z_ill, z_engage, z_family, z_level = rng.normal(size=(4, n))
    drift = rng.normal(0.0, 1.0, (n, years))
    grade = np.clip(pop.grade, 0, 10).astype(np.int64)
    school = np.clip(pop.school, 0, None)
    area = pop.school_absence[school]
    special = pop.special_needs
    ever_special = special.any(axis=1)
    older_girl = (pop.gender == "F")[:, None] & (grade >= 7)

    # A persistent high-absence group (child or family): most of the pupils over 10 % a year.
    # A group rather than a long tail keeps the bulk well below the thresholds, so that who
    # crosses them is predictable from the past rather than luck.
    level = 0.45 * z_family + 0.9 * z_level + 0.6 * ever_special
    high = level > np.quantile(level, 1.0 - HIGH_ABSENCE_SHARE)
    # Within the high group the spread is narrower: they sit persistently around 10-15 %.
    spread = np.where(high, HIGH_SPREAD, 1.0)[:, None]
    illness = _lognormal(spread * z_ill[:, None], 0.5, spread * z_family[:, None], 0.2, drift, 0.2)
    illness *= np.where(high, HIGH_ILLNESS, 0.7)[:, None]
    illness *= (
        ILLNESS_BY_GRADE[grade]
        * area
        * np.where(special, 1.2, 1.0)
        * np.where(older_girl, 1.12, 1.0)
    )
    unauthorised = _lognormal(
        spread * z_engage[:, None], 0.75, spread * z_family[:, None], 0.3, drift, 0.2
    )
    unauthorised *= np.where(high, HIGH_UNAUTHORISED, 0.55)[:, None]
    unauthorised *= UNAUTHORISED_BY_GRADE[grade] * area**2 * np.where(special, 1.3, 1.0)
    leave = _lognormal(z_family, 0.75)
    if trend:  # absence rising year on year (issue 12's matrix): the later years' hazards
        rise = (1.0 + trend) ** np.arange(years, dtype=float)[None, :]
        illness, unauthorised = illness * rise, unauthorised * rise

    kind = np.zeros(n, np.int8)
    chronic = rng.random(n) < np.where(ever_special, 2.5, 0.85) * CHRONIC_SHARE
    kind[chronic] = CHRONIC
    kind[(kind == NONE) & (rng.random(n) < CUSTODY_SHARE)] = CUSTODY

    # Escalations happen at a steady rate over each pupil's whole school life, including the
    # years before the demo (approximated as 200 school days each), so that the demo starts in
    # a steady state: some pupils are already escalated, recovered or long-term absent.
    first_year = np.argmax(enrolled, axis=1)
    last_year = years - 1 - np.argmax(enrolled[:, ::-1], axis=1)
    first_grade = grade[np.arange(n), first_year]
    span_lo = cal.year_start[first_year] - 200 * first_grade
    span_hi = np.maximum(cal.year_stop[last_year] - 20, span_lo + 1)
    onset = (span_lo + rng.random(n) * (span_hi - span_lo)).astype(int)
    inside = (onset >= cal.year_start[first_year]) & (onset < len(cal.days))
    onset_year = first_year.copy()
    onset_year[inside] = cal.year[onset[inside]]
    at = (np.arange(n), onset_year)
    onset_grade = np.where(
        inside,
        grade[at],
        np.clip(first_grade - (cal.year_start[first_year] - onset) // 200 - 1, 0, 10),
    )
    climate = pop.classes["climate"].to_numpy()[np.maximum(pop.class_code[at], 0)]
    rate = (
        ESCALATION_BY_GRADE[onset_grade]
        * np.where(special[at], 4.0, 1.0)
        * np.where(pop.changed_school[at] & inside, 1.6, 1.0)
        * np.exp(0.35 * z_engage - 0.8 * climate)
        * (span_hi - span_lo)
    )
    rate[kind != NONE] = 0.0
    # Scale to ESCALATIONS_PER_YEAR onsets per enrolled pupil-year during the demo (a rate, so
    # the figures do not depend on how many years are generated).
    pupil_years = sum(
        (pop.grade[:, y] >= 0).sum() * (cal.year_stop[y] - cal.year_start[y]) / 200.0
        for y in range(years)
    )
    scale = _scale_for_share(rate[onset >= 0], ESCALATIONS_PER_YEAR * base_rate * pupil_years)
    escalating = rng.random(n) < 1.0 - np.exp(-rate * scale)
    kind[escalating] = ESCALATING

    ramp = rng.integers(20, 70, n)
    plateau_end = onset + ramp + rng.integers(30, 120, n)
    return LatentRisk(
        illness=illness.astype(np.float32),
        unauthorised=unauthorised.astype(np.float32),
        leave=leave.astype(np.float32),
        high=high,
        kind=kind,
        onset=onset,
        ramp=ramp,
        plateau_end=plateau_end,
        recovers=rng.random(n) < 0.88,
        pattern_day=rng.integers(0, 5, n).astype(np.int8),
        period=rng.integers(2, 5, n).astype(np.int8),
        phase=rng.integers(0, 4, n).astype(np.int8),
    )


def _scale_for_share(rates: np.ndarray, expected: float) -> float:
    """The scale c with sum(1 - exp(-c * rates)) = expected (bisection; rates >= 0)."""
    lo, hi = 0.0, 1.0
    while hi < 1e12 and (1.0 - np.exp(-rates * hi)).sum() < expected:
        hi *= 2.0
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        if (1.0 - np.exp(-rates * mid)).sum() < expected:
            lo = mid
        else:
            hi = mid
    return hi


def _lognormal(*terms) -> np.ndarray:
    """exp(sum of loading x standard-normal factor), scaled to mean 1: `terms` alternate
    factor, loading, factor, loading, ..."""
    factors, loadings = terms[0::2], terms[1::2]
    total = sum(w * z for z, w in zip(factors, loadings, strict=True))
    return np.exp(total - 0.5 * sum(w * w for w in loadings))
