"""CPR numbers are replaced at the door by a keyed pseudonym (HMAC-SHA256) and never kept.

A CPR number is DDMMYY-SSSS or DDMMYYSSSS, or any other notation of the ten digits (a space, dots or
an underscore between the groups, full-width or other Unicode digits): it is normalised first
(`model.identifiers.cpr_digits`), then hashed, so every notation gets the same pseudonym. The 7th
digit with YY gives the century, and an odd last digit means male. The modulus-11 check is not
guaranteed since 2007, so it is never used.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date

import numpy as np
import pandas as pd

from model.identifiers import cpr_digits

CPR_PATTERN = re.compile(r"^(\d{2})(\d{2})(\d{2})-?(\d)(\d{3})$")
PSEUDONYM_PREFIX = "p-"


def century(yy: int, seventh: int) -> int:
    """The birth century from the two-digit year and the 7th digit (cpr.dk's table)."""
    if seventh <= 3:
        return 1900
    if seventh in (4, 9):
        return 2000 if yy <= 36 else 1900
    # 5-8
    return 2000 if yy <= 57 else 1800


def parse_cpr(value: str) -> tuple[date, str] | None:
    """Birth date and gender ('F'/'M') of a CPR number, or None if `value` is not one."""
    digits = cpr_digits(value)
    m = CPR_PATTERN.match(digits) if digits else None
    if not m:
        return None
    dd, mm, yy, seventh, rest = (int(g) for g in m.groups())
    try:
        born = date(century(yy, seventh) + yy, mm, dd)
    except ValueError:
        return None
    return born, ("M" if int(str(rest)[-1]) % 2 else "F")


def is_cpr(value: str) -> bool:
    """Whether `value` is a CPR number with a valid birth date."""
    return parse_cpr(value) is not None


def pseudonymise(value: str, key: bytes) -> str:
    """The pseudonym of a CPR number (every notation gives the same); other ids pass unchanged."""
    value = value.strip()
    if not is_cpr(value):
        return value
    digits = cpr_digits(value)
    digest = hmac.new(key, digits.encode(), hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIX + digest[:20]


def pseudonymise_series(ids: pd.Series, key: bytes) -> pd.Series:
    """Vectorised `pseudonymise` for a column of ids; only distinct values are hashed."""
    codes, uniques = pd.factorize(ids.astype(str).str.strip())
    mapped = np.array([pseudonymise(u, key) for u in uniques], dtype=object)
    return pd.Series(mapped[codes], index=ids.index, dtype=object)
