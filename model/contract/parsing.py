"""Parsing a column's distinct values: canonical text, dates, numbers, school years."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd

from model.contract.specs import ISO_DATE


@dataclass
class _Coded:
    """A column as codes per row into distinct canonical strings ('' = blank)."""

    codes: np.ndarray
    uniques: np.ndarray

    def rows(self) -> np.ndarray:
        return self.uniques[self.codes]

    def blank_rows(self) -> np.ndarray:
        return (self.uniques == "")[self.codes]


def _coded(column: pd.Series | None, n: int = 0) -> _Coded:
    """Factorize a column and canonicalise its distinct values to stripped strings; a missing
    optional column is all blank.
    """
    if column is None:
        return _Coded(np.zeros(n, np.int32), np.array([""], object))
    codes, uniques = pd.factorize(column)
    canon = _canonical(uniques)
    if (codes < 0).any():
        canon = np.append(canon, np.array([""], object))
        codes = np.where(codes < 0, len(canon) - 1, codes)
    dense, distinct = pd.factorize(canon)
    return _Coded(dense[codes].astype(np.int32), np.asarray(distinct, object))


def _canonical(uniques) -> np.ndarray:
    """Distinct values as the text a CSV would hold (Parquet's typed values included)."""
    kind = uniques.dtype
    if pd.api.types.is_string_dtype(kind) and not pd.api.types.is_object_dtype(kind):
        return np.asarray(pd.Index(uniques).str.strip(), dtype=object)
    return np.array([_as_text(v) for v in uniques], dtype=object)


def _as_text(value) -> str:
    if value is None or value is pd.NaT or value is pd.NA:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return ""
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, datetime | pd.Timestamp):
        ts = pd.Timestamp(value)
        return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return "" if np.isnat(value) else _as_text(pd.Timestamp(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").strip()
    return str(value).strip()


def _parse_dates(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per distinct value: the date (datetime64[D], NaT if blank or bad) and whether it is bad
    (not blank and not an ISO 8601 date).
    """
    s = pd.Series(values, dtype=object)
    blank = (s == "").to_numpy()
    iso = s.str.fullmatch(ISO_DATE).fillna(False).astype(bool)
    parsed = pd.to_datetime(s.where(iso), format="%Y-%m-%d", errors="coerce")
    days = parsed.to_numpy().astype("datetime64[D]")
    return days, ~blank & np.isnat(days)


def _parse_numbers(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per distinct value: the number (NaN if blank or bad; a decimal comma is fine) and
    whether it is bad (not blank and not a finite number).
    """
    s = pd.Series(values, dtype=object)
    blank = (s == "").to_numpy()
    text = s.str.replace(",", ".", regex=False).where(~blank)
    number = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return number, ~blank & ~np.isfinite(number)


def _parse_whole_numbers(values: np.ndarray, low: int, high: int) -> tuple[np.ndarray, np.ndarray]:
    """Per distinct value: the number as `_parse_numbers` gives it, and whether it is bad (not
    blank and not a whole number from `low` to `high`).
    """
    number, nan = _parse_numbers(values)
    with np.errstate(invalid="ignore"):
        outside = (number != np.round(number)) | (number < low) | (number > high)
    return number, nan | ~np.isnan(number) & outside


def _parse_school_years(values: np.ndarray) -> np.ndarray:
    """Per distinct value: whether it is a well-formed school year like '2024/25'."""
    ok = np.zeros(len(values), bool)
    for i, v in enumerate(values):
        m = re.fullmatch(r"(\d{4})/(\d{2})", v)
        ok[i] = bool(m) and (int(m.group(1)) + 1) % 100 == int(m.group(2))
    return ok


def _school_years_of(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For valid datetime64[D] values: the school year's first calendar year and the day of the
    school year (days since 1 August: the index into a register strip).
    """
    year = days.astype("datetime64[Y]").astype(np.int64) + 1970
    month = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    start = np.where(month >= 8, year, year - 1)
    aug1 = (start - 1970).astype("datetime64[Y]").astype("datetime64[M]") + np.timedelta64(7, "M")
    return start, (days - aug1.astype("datetime64[D]")).astype(np.int64)
