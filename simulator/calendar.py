"""Stage 1: the demo's school calendar (school days, breaks, illness season, flu waves)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from model.calendar import (
    danish_school_days,
    holiday_adjacent,
    parse_school_year,
    school_year_label,
    school_year_of,
    school_year_start,
    to_day_numbers,
    weekday,
)
from simulator.parameters import FLU_HEIGHT, ILLNESS_BY_MONTH


@dataclass(frozen=True)
class DemoCalendar:
    """The school days of the demo on one axis (all school years, sorted, none after `until`).

    Per day: the index of its school year, weekday, month, whether it is next to a break, a
    week number (for every-n-weeks patterns) and the illness multiplier (season x flu waves).
    `history` holds the school days of the year before the demo, so that an escalation that
    began before the first day still has a date.
    """

    school_years: list[str]
    until: date
    days: np.ndarray
    year: np.ndarray
    year_start: np.ndarray  # per school year: first axis index
    year_stop: np.ndarray  # per school year: one past the last axis index
    complete: np.ndarray  # per school year: all its school days are on or before `until`
    weekday: np.ndarray
    month: np.ndarray
    after_break: np.ndarray
    before_break: np.ndarray
    week: np.ndarray
    illness_season: np.ndarray
    history: np.ndarray
    full_years: list[np.ndarray]  # per school year: all its school days, also those after `until`

    @property
    def stop_of_day(self) -> np.ndarray:
        """Per day: one past the last axis index of its school year (spells never cross summer)."""
        return self.year_stop[self.year]

    def date_of(self, index: np.ndarray) -> np.ndarray:
        """Dates of axis indices; negative indices count back into the year before the demo,
        and before that at five school days a week."""
        index = np.asarray(index)
        out = np.empty(index.shape, "datetime64[D]")
        inside = index >= 0
        out[inside] = self.days[np.minimum(index[inside], len(self.days) - 1)]
        back = len(self.history) + index[~inside]
        older = np.minimum(back, 0)
        out[~inside] = self.history[np.maximum(back, 0)] + (older * 7) // 5
        return out


def demo_school_years(years: int, until: date) -> list[str]:
    """The `years` school years ending with the one that contains `until`."""
    last = parse_school_year(school_year_of(until))
    return [school_year_label(last - years + 1 + i) for i in range(years)]


def build_calendar(years: int, until: date, rng: np.random.Generator) -> DemoCalendar:
    """Stage 1: the Danish school calendar for the demo years, cut at `until`.

    Break adjacency is computed on each full school year before cutting, so the cut itself
    does not count as a break. Flu waves are municipality-wide: one or two a winter, a week or
    two long, between December and mid-March.
    """
    labels = demo_school_years(years, until)
    cut = np.datetime64(until, "D")
    parts, year_of, after, before, complete, season, fulls = [], [], [], [], [], [], []
    for y, label in enumerate(labels):
        full = to_day_numbers(danish_school_days(label))
        fulls.append(full)
        a, b = holiday_adjacent(full)
        keep = full <= cut
        complete.append(bool(keep.all()))
        month = full.astype("datetime64[M]").astype(int) % 12 + 1
        mult = np.array([ILLNESS_BY_MONTH[m] for m in month])
        mult *= _flu_waves(full, rng)
        parts.append(full[keep])
        year_of.append(np.full(keep.sum(), y, np.int16))
        after.append(a[keep])
        before.append(b[keep])
        season.append(mult[keep])
    days = np.concatenate(parts)
    year = np.concatenate(year_of)
    counts = np.array([len(p) for p in parts])
    stops = np.cumsum(counts)
    first = days[0] if len(days) else np.datetime64(school_year_start(labels[0]), "D")
    origin = first - weekday(np.array([first]))[0].astype(int)
    return DemoCalendar(
        school_years=labels,
        until=until,
        days=days,
        year=year,
        year_start=stops - counts,
        year_stop=stops,
        complete=np.array(complete),
        weekday=weekday(days),
        month=(days.astype("datetime64[M]").astype(int) % 12 + 1).astype(np.int8),
        after_break=np.concatenate(after),
        before_break=np.concatenate(before),
        week=((days - origin).astype(int) // 7).astype(np.int32),
        illness_season=np.concatenate(season).astype(np.float32),
        history=to_day_numbers(
            danish_school_days(school_year_label(parse_school_year(labels[0]) - 1))
        ),
        full_years=fulls,
    )


def _flu_waves(days: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Illness multiplier of one winter's flu waves: bell-shaped bursts over ~1-2 weeks."""
    mult = np.ones(len(days))
    winter = np.flatnonzero(
        (days.astype("datetime64[M]").astype(int) % 12 + 1 <= 3)
        | (days.astype("datetime64[M]").astype(int) % 12 + 1 == 12)
    )
    winter = winter[days[winter] < days[winter][0] + 105] if len(winter) else winter
    if len(winter) == 0:
        return mult
    t = np.arange(len(days))
    for _ in range(1 + int(rng.random() < 0.35)):
        peak = rng.choice(winter)
        width = rng.uniform(2.5, 4.5)
        height = rng.uniform(*FLU_HEIGHT)
        mult += height * np.exp(-0.5 * ((t - peak) / width) ** 2)
    return mult
