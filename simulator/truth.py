"""The generator's latent truth (issue 12): the oracle rankers' expected absence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from model.calendar import (
    weekday,
)
from simulator.parameters import (
    AUTHORISED_DAY,
    CHRONIC,
    CUSTODY,
    ESCALATING,
    HIGH_PARTIAL,
    ILLNESS_SPELL,
    ILLNESS_START,
    KIND_NAMES,
    LATE_ARRIVAL,
    RNG_BLOCK,
    UNAUTHORISED_DAY,
)
from simulator.register import DemoPlan, escalation_intensity

TRUTH_DIR = "_truth"  # beside the contract's files; not part of the contract, never ingested
ORACLE_HORIZON = 60  # school days, as the label's default horizon


def expected_daily_absence(plan: DemoPlan, idx: np.ndarray, escalation_part: bool = False):
    """The expected absent fraction of pupils `idx` on each school day from their latent risk
    (the hazards of stage 4 times the mean spell lengths), without the day's luck.

    With `escalation_part`, also the part of it that an escalation adds (0 before its onset),
    so an oracle can leave out escalations that have not begun by an as-of date."""
    cal, pop, risk = plan.calendar, plan.population, plan.risk
    grade = pop.grade[idx][:, cal.year]
    m_ill = risk.illness[idx][:, cal.year]
    m_un = risk.unauthorised[idx][:, cal.year]
    kind, high = risk.kind[idx], risk.high[idx]
    e = ILLNESS_START * ILLNESS_SPELL * m_ill * cal.illness_season[None, :]
    e *= np.where(kind == CHRONIC, 1.8, 1.0)[:, None]
    e += UNAUTHORISED_DAY * 1.3 * m_un + AUTHORISED_DAY * 1.3 * risk.leave[idx][:, None]
    e += LATE_ARRIVAL * np.sqrt(m_un) * np.where(high, HIGH_PARTIAL, 1.0)[:, None] * 0.3
    e += np.where(kind == CHRONIC, 0.08, 0.0)[:, None] + np.where(kind == CUSTODY, 0.05, 0.0)[:, None]
    rows = np.flatnonzero(kind == ESCALATING)
    base = np.minimum(e, 1.0)
    if len(rows):
        s, rising = escalation_intensity(risk, idx[rows], len(cal.days))
        hazard = np.where(s > 0, (0.01 + 0.13 * s) * (1.0 + rising * (1.0 - s) * 1.6), 0.0)
        late = rising * (0.02 + 0.5 * s * (1.0 - s)) * 0.4
        e[rows] += np.minimum(hazard * (1.0 + 6.0 * s**2), 1.0) + late
    e = np.minimum(e, 1.0)
    e[grade < 0] = np.nan
    if not escalation_part:
        return e.astype(np.float32)
    return e.astype(np.float32), np.nan_to_num(e - base).astype(np.float32)


def latent_truth(plan: DemoPlan, horizon: int = ORACLE_HORIZON) -> pd.DataFrame:
    """Per pupil and weekly as-of date (Mondays with a school day in their week): the expected
    absence share over the next `horizon` school days from the latent risk, the pupil's kind and
    the school year.

    Two oracles rank by it. `latent_rate` knows everything the generator drew, including an
    escalation that begins after the as-of date (a clairvoyant: no ranker can know such an onset,
    which is a future event). `latent_rate_as_of` knows the latent state *at* the as-of date:
    every propensity and every escalation that has begun, however faint its signs so far, but
    not one that begins later (its expected share is left out: at about 4.5 onsets per 100
    pupils a year it would move a pupil's 60-day expectation by well under a percentage point)."""
    cal = plan.calendar
    days = cal.days
    if not len(days):
        return pd.DataFrame(columns=["pupil_id", "as_of", "school_year", "kind", "latent_rate",
                                     "latent_rate_as_of"])
    first = days[0] - np.timedelta64(int(weekday(days[:1])[0]), "D")
    mondays = np.arange(first, days[-1] + np.timedelta64(1, "D"), np.timedelta64(7, "D"))
    pos = np.searchsorted(days, mondays)
    has_day = np.searchsorted(days, mondays + np.timedelta64(7, "D")) > pos
    mondays, pos = mondays[has_day], pos[has_day]
    stop = np.minimum(pos + horizon, len(days))

    def window_sum(daily: np.ndarray) -> np.ndarray:
        """Per pupil row and as-of date: the sum of `daily` over the next `horizon` days."""
        cum = np.concatenate([np.zeros((len(daily), 1)), np.cumsum(daily, axis=1)], axis=1)
        return cum[:, stop] - cum[:, pos]

    frames = []
    years = np.array(cal.school_years, dtype=object)
    n = len(plan.population.pupil_ids)
    for lo in range(0, n, RNG_BLOCK):
        idx = np.arange(lo, min(lo + RNG_BLOCK, n))
        e, escalation = expected_daily_absence(plan, idx, escalation_part=True)
        enrolled = ~np.isnan(e)

        total = window_sum(np.nan_to_num(e).astype(np.float64))
        registered = window_sum(enrolled.astype(np.float64))
        not_begun = plan.risk.onset[idx][:, None] >= pos[None, :]
        total_as_of = total - np.where(not_begun, window_sum(escalation.astype(np.float64)), 0.0)
        on_roll = enrolled[:, np.minimum(pos, len(days) - 1)]
        known = (registered > 0) & on_roll
        rate = np.where(known, np.clip(total / np.maximum(registered, 1), 0.0, 1.0), np.nan)
        rate_as_of = np.where(known, np.clip(total_as_of / np.maximum(registered, 1), 0.0, 1.0),
                              np.nan)
        p, w = np.nonzero(~np.isnan(rate))
        frames.append(pd.DataFrame({
            "pupil_id": plan.population.pupil_ids[idx[p]],
            "as_of": mondays[w],
            "school_year": years[cal.year[np.minimum(pos[w], len(days) - 1)]],
            "kind": KIND_NAMES[plan.risk.kind[idx[p]]],
            "latent_rate": rate[p, w].astype(np.float32),
            "latent_rate_as_of": rate_as_of[p, w].astype(np.float32),
        }))
    return pd.concat(frames, ignore_index=True)


def write_latent_truth(plan: DemoPlan, path: Path) -> Path:
    """Write `latent_truth` to a Parquet side file (owner-only: it is keyed by pupil)."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    latent_truth(plan).to_parquet(path, index=False)
    os.chmod(path, 0o600)
    return path
