"""The duplicate grid: the register's valid rows as compact arrays, and the cells already seen."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.calendar import school_year_label, school_year_start
from model.store import STRIP_DAYS


@dataclass
class RegisterEntries:
    """The register as arrays, one element per entry (identical duplicates collapsed).

    An entry's strip is (pupil_ids[pupil], school_years[year]) and its place in the strip is
    `day`, the days since 1 August; `status` holds STATUS_CODES and `absent` the absent fraction
    in 1/FRACTION_SCALE of a day (0 for present).
    """

    pupil_ids: np.ndarray
    school_years: list[str]
    pupil: np.ndarray
    year: np.ndarray
    day: np.ndarray
    status: np.ndarray
    absent: np.ndarray

    def __len__(self) -> int:
        return len(self.status)

    def strips(self) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """Keys (pupil_id, school_year) and the status and absent strips (n x STRIP_DAYS), with 0
        on days that have no entry in this delivery.
        """
        n_years = max(len(self.school_years), 1)
        # Strips in (pupil, year) order: a dense mark per pair and its rank, instead of sorting
        # every entry; entries are placed a slice at a time to bound the temporaries.
        has = np.zeros(len(self.pupil_ids) * n_years, bool)
        step = 10_000_000
        for lo in range(0, len(self), step):
            has[self.pupil[lo:lo + step].astype(np.int64) * n_years + self.year[lo:lo + step]] = True
        distinct = np.flatnonzero(has)
        rank = np.cumsum(has, dtype=np.int64) - 1
        del has
        status = np.zeros((len(distinct), STRIP_DAYS), np.uint8)
        absent = np.zeros((len(distinct), STRIP_DAYS), np.uint8)
        for lo in range(0, len(self), step):
            hi = lo + step
            codes = rank[self.pupil[lo:hi].astype(np.int64) * n_years + self.year[lo:hi]]
            status[codes, self.day[lo:hi]] = self.status[lo:hi]
            absent[codes, self.day[lo:hi]] = self.absent[lo:hi]
        keys = pd.DataFrame({
            "pupil_id": self.pupil_ids[distinct // n_years],
            "school_year": np.asarray(self.school_years, object)[distinct % n_years],
        })
        return keys, status, absent


class _RegisterGrid:
    """The valid rows of a streamed register as compact arrays (about 14 bytes a row), and per
    school year a pupil x day-of-year grid of cells already seen, which finds rows that repeat
    a (pupil, date) across chunks without hashing the whole register.
    """

    FIELDS = ("pupil", "start", "day", "status", "absent", "line")

    def __init__(self, pupil_ids: pd.Index, enrolments: pd.DataFrame):
        self.pupil_ids = pd.Index(pupil_ids, dtype=object)
        self.enrolments = enrolments
        self.school_code, self.school_ids = pd.factorize(enrolments["school_id"])
        self._enrolled: dict[int, np.ndarray] = {}
        self._seen: dict[int, np.ndarray] = {}
        self._repeated: dict[int, np.ndarray] = {}
        self._parts: dict[str, list[np.ndarray]] = {name: [] for name in self.FIELDS}
        self._days: dict[int, np.ndarray] = {}  # year -> school x day of the year: a school day
        self.size = 0

    def enrolled(self, start: int) -> np.ndarray:
        """Per pupil (position in pupil_ids): the school code in the school year, -1 if none."""
        if start not in self._enrolled:
            label = school_year_label(start)
            rows = (self.enrolments["school_year"] == label).to_numpy()
            pos = self.pupil_ids.get_indexer(self.enrolments["pupil_id"][rows])
            table = np.full(len(self.pupil_ids) + 1, -1, np.int32)  # last: no pupil
            table[pos[pos >= 0]] = self.school_code[rows][pos >= 0]
            self._enrolled[start] = table
        return self._enrolled[start]

    def add(self, years, pupil, start, day, status, absent, line, school) -> None:
        """Valid rows of one chunk (in line order) whose school years (first calendar year)
        are among `years`.
        """
        for year in years:
            year = int(year)
            rows = start == year
            cell = pupil[rows].astype(np.int64) * STRIP_DAYS + day[rows]
            if year not in self._seen:
                self._seen[year] = np.zeros(len(self.pupil_ids) * STRIP_DAYS, bool)
                self._repeated[year] = np.zeros(len(self.pupil_ids) * STRIP_DAYS, bool)
                self._days[year] = np.zeros((len(self.school_ids) + 1, STRIP_DAYS), bool)
            seen = self._seen[year]
            again = seen[cell]
            # a file in pupil and date order has no repeat within the chunk: no hashing then
            if len(cell) > 1 and not (cell[1:] > cell[:-1]).all():
                again |= pd.Series(cell).duplicated().to_numpy()
            self._repeated[year][cell[again]] = True
            seen[cell] = True
            self._days[year][school[rows], day[rows]] = True
        for name, values, dtype in (("pupil", pupil, np.int32), ("start", start, np.int16),
                                    ("day", day, np.int16), ("status", status, np.uint8),
                                    ("absent", absent, np.uint8), ("line", line, np.int64)):
            self._parts[name].append(np.asarray(values).astype(dtype, copy=False))
        self.size += len(pupil)

    def collect(self) -> None:
        """Join the chunks' arrays (one field at a time, so memory grows by one field only)."""
        for name in self.FIELDS:
            parts = self._parts[name]
            setattr(self, name, np.concatenate(parts) if parts else np.zeros(0, np.int64))
            parts.clear()
        self._seen.clear()

    def repeated(self) -> np.ndarray:
        """Rows whose (pupil, date) occurs more than once in the file."""
        out = np.zeros(self.size, bool)
        for year, grid in self._repeated.items():
            rows = np.flatnonzero(self.start == year)
            out[rows] = grid[self.pupil[rows].astype(np.int64) * STRIP_DAYS + self.day[rows]]
        self._repeated.clear()
        return out

    def cell_key(self, rows: np.ndarray) -> np.ndarray:
        """One int64 per (pupil, date) of the given rows."""
        return ((self.pupil[rows].astype(np.int64) * 10_000 + self.start[rows]) * STRIP_DAYS
                + self.day[rows])

    def years(self) -> list[int]:
        return sorted(int(y) for y in np.unique(self.start)) if self.size else []

    def entries(self, keep: np.ndarray) -> RegisterEntries:
        """The kept rows as RegisterEntries over all known pupil ids."""
        if not self.size or not keep.any():
            empty = np.zeros(0, np.int16)
            return RegisterEntries(np.asarray(self.pupil_ids, object), [], np.zeros(0, np.int32),
                                   empty, empty, np.zeros(0, np.uint8), np.zeros(0, np.uint8))
        starts = self.years()
        index = np.zeros(max(starts) - min(starts) + 1, np.int16)
        index[np.asarray(starts) - min(starts)] = np.arange(len(starts))
        return RegisterEntries(
            pupil_ids=np.asarray(self.pupil_ids, object),
            school_years=[school_year_label(y) for y in starts],
            pupil=self.pupil[keep],
            year=index[self.start[keep] - min(starts)],
            day=self.day[keep],
            status=self.status[keep],
            absent=self.absent[keep],
        )

    def school_days(self) -> pd.DataFrame:
        """(school_id, date) of every school day the valid rows imply, sorted."""
        schools, days = [np.zeros(0, np.int64)], [np.zeros(0, "datetime64[D]")]
        for year, grid in self._days.items():
            school, day = np.nonzero(grid)
            aug1 = np.datetime64(school_year_start(year), "D")
            schools.append(school)
            days.append(aug1 + day.astype("timedelta64[D]"))
        school, day = np.concatenate(schools), np.concatenate(days)
        order = np.lexsort((day, np.asarray(self.school_ids, object)[school].astype(str)
                            if len(school) else school))
        return pd.DataFrame({
            "school_id": pd.Series(np.asarray(self.school_ids, object)[school[order]], dtype=object),
            "date": pd.Series(day[order].astype("datetime64[s]")),
        })
