"""The school calendar: school years, school days, ISO weeks, quarters, holiday adjacency.

Vocabulary
- school year: 1 August to 31 July, written "2024/25".
- school day: a date on which the school registers attendance. In the store, the school days are
  the dates that occur in the register; `danish_school_days` gives the usual Danish calendar for
  demo data (about 200 days).
- as-of date: the moment a score or feature is computed for; only earlier school days count.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, timedelta

import numpy as np
from dateutil.easter import easter as easter_sunday

SCHOOL_YEAR_PATTERN = re.compile(r"^(\d{4})/(\d{2})$")
WEEK_PATTERN = re.compile(r"^(\d{4})-W(\d{2})$")


def school_year_of(day: date) -> str:
    """The school year a date belongs to: 1 Aug 2024 - 31 Jul 2025 is "2024/25"."""
    start = day.year if day.month >= 8 else day.year - 1
    return f"{start}/{(start + 1) % 100:02d}"


def parse_school_year(text: str) -> int:
    """The first calendar year of a school year written "2024/25"; ValueError if malformed."""
    m = SCHOOL_YEAR_PATTERN.match(text.strip())
    if not m or (int(m.group(1)) + 1) % 100 != int(m.group(2)):
        raise ValueError(f"school year must look like 2024/25, not {text!r}")
    return int(m.group(1))


def school_year_start(year: str | int) -> date:
    """1 August of a school year, given as "2024/25" or by its first calendar year (2024)."""
    return date(parse_school_year(year) if isinstance(year, str) else int(year), 8, 1)


def school_year_label(start_year: int) -> str:
    """The school year that starts in `start_year`: 2024 -> "2024/25"."""
    return f"{start_year}/{(start_year + 1) % 100:02d}"


def previous_school_year(text: str) -> str:
    """The school year before one written "2024/25": "2023/24"."""
    return school_year_label(parse_school_year(text) - 1)


def day_of_school_year(day: date) -> int:
    """Days since 1 August of the date's school year (0-365): the index into a register strip."""
    return (day - school_year_start(school_year_of(day))).days


def iso_week(day: date) -> str:
    """ISO week label, e.g. "2024-W42"."""
    y, w, _ = day.isocalendar()
    return f"{y}-W{w:02d}"


def monday_of_week(week: str) -> date:
    """The Monday of an ISO week written "2024-W42"; ValueError if malformed."""
    m = WEEK_PATTERN.match(week.strip())
    if not m:
        raise ValueError(f"week must look like 2024-W42, not {week!r}")
    year, number = int(m.group(1)), int(m.group(2))
    weeks = weeks_in_iso_year(year)
    if not 1 <= number <= weeks:
        raise ValueError(f"week {week.strip()} does not exist: {year} has ISO weeks 1-{weeks}")
    return date.fromisocalendar(year, number, 1)


def weeks_in_iso_year(year: int) -> int:
    """52 or 53: the ISO weeks of a year (28 December always lies in its last week)."""
    return date(year, 12, 28).isocalendar()[1]


def quarter_of(day: date) -> tuple[int, int]:
    """(calendar year, quarter 1-4): the unit of the statutory absence rule."""
    return day.year, (day.month - 1) // 3 + 1


def quarter_start(day: date) -> date:
    """The first day of the calendar quarter of `day`."""
    year, q = quarter_of(day)
    return date(year, 3 * (q - 1) + 1, 1)


def _week_days(year: int, week: int) -> set[date]:
    monday = date.fromisocalendar(year, week, 1)
    return {monday + timedelta(days=i) for i in range(5)}


def danish_holidays(start_year: int) -> set[date]:
    """Weekdays without school in the usual Danish folkeskole calendar for one school year."""
    spring = start_year + 1
    off: set[date] = set()
    off |= _week_days(start_year, 42)  # autumn break
    christmas = date(start_year, 12, 21)
    off |= {d for d in (christmas + timedelta(days=i) for i in range(14)) if d < date(spring, 1, 3)}
    off |= _week_days(spring, 7)  # winter break
    easter = easter_sunday(spring)  # Gregorian (western) Easter
    off |= {easter - timedelta(days=d) for d in range(1, 7)}  # the week before Easter
    off.add(easter + timedelta(days=1))  # Easter Monday
    ascension = easter + timedelta(days=39)
    off |= {ascension, ascension + timedelta(days=1)}
    off.add(easter + timedelta(days=50))  # Whit Monday
    off.add(date(spring, 6, 5))  # Constitution Day
    if spring <= 2023:
        off.add(easter + timedelta(days=26))  # Great Prayer Day, abolished from 2024
    return off


def first_school_day(start_year: int) -> date:
    """The Monday on or after 8 August (school starts the second week of August)."""
    d = date(start_year, 8, 8)
    return d + timedelta(days=(7 - d.weekday()) % 7)


def last_school_day(start_year: int) -> date:
    """The last Friday on or before 27 June of the following year."""
    d = date(start_year + 1, 6, 27)
    return d - timedelta(days=(d.weekday() - 4) % 7)


def danish_school_days(school_year: str) -> list[date]:
    """The usual Danish school days of one school year (about 200 weekdays)."""
    start_year = parse_school_year(school_year)
    off = danish_holidays(start_year)
    day, end = first_school_day(start_year), last_school_day(start_year)
    days = []
    while day <= end:
        if day.weekday() < 5 and day not in off:
            days.append(day)
        day += timedelta(days=1)
    return days


def to_day_numbers(days: Iterable[date]) -> np.ndarray:
    """Dates as numpy datetime64[D]."""
    return np.array(list(days), dtype="datetime64[D]")


def holiday_adjacent(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sorted school days (datetime64[D]): whether each day comes right after a break
    (the previous school day is more than 3 calendar days back, i.e. more than a weekend) and
    whether it comes right before one. The first and last days of the axis count as adjacent.
    """
    gaps = np.diff(days).astype(int)
    after = np.concatenate([[True], gaps > 3])
    before = np.concatenate([gaps > 3, [True]])
    return after, before


def weekday(days: np.ndarray) -> np.ndarray:
    """Monday=0 ... Sunday=6 for datetime64[D] values."""
    return ((days.astype("datetime64[D]").astype(np.int64) + 3) % 7).astype(np.int8)
