"""Pseudonymising pupil ids as they are read: CPR numbers become keyed pseudonyms."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.contract.parsing import _coded
from model.identifiers import cpr_digits
from model.pseudonym import parse_cpr, pseudonymise


@dataclass
class PupilIds:
    """A pupil_id column after pseudonymisation: `codes` per row into `values` (distinct ids).

    Per distinct value: `bad_cpr` if the raw id had the shape of a CPR number but no valid birth
    date (rejected, as it may be a mistyped CPR number), and the birth date (NaT if none) and
    gender ('' if none) derived from a CPR number.
    """

    codes: np.ndarray
    values: np.ndarray
    bad_cpr: np.ndarray
    born: np.ndarray
    gender: np.ndarray

    def blank_rows(self) -> np.ndarray:
        """Per row: whether the pupil_id is blank."""
        return (self.values == "")[self.codes]

    def named(self) -> np.ndarray:
        """Per distinct value: a usable id (not blank, not a malformed CPR number)."""
        return (self.values != "") & ~self.bad_cpr


def _pseudonymise(column: pd.Series, key: bytes, cache: dict | None = None) -> PupilIds | None:
    """Replace CPR numbers by pseudonyms, hashing each distinct value once (once per delivery with
    a `cache` shared by the chunks of a streamed file). None if the column is numeric (Parquet),
    where a CPR number's leading zero would already be lost.
    """
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        return None if len(column) else PupilIds(*_empty_ids())
    coded = _coded(column)
    raw = coded.uniques
    shaped = np.array([cpr_digits(v) is not None for v in raw], bool)
    values = raw.copy()
    born = np.full(len(raw), np.datetime64("NaT"), "datetime64[D]")
    gender = np.full(len(raw), "", object)
    bad_cpr = np.zeros(len(raw), bool)
    for i in np.flatnonzero(shaped):
        known = cache.get(raw[i]) if cache is not None else None
        if known is None:
            parsed = parse_cpr(raw[i])
            known = () if parsed is None else (pseudonymise(raw[i], key),
                                               np.datetime64(parsed[0], "D"), parsed[1])
            if cache is not None:  # held in memory for this ingest only, never written
                cache[raw[i]] = known
        if not known:
            # A placeholder of its own (never stored: the delivery is rejected for it).
            bad_cpr[i] = True
            values[i] = f"\0bad-cpr-{i}"
        else:
            values[i], born[i], gender[i] = known
    del raw
    # Two spellings of one CPR number (with and without hyphen) are one pupil.
    dense, distinct = pd.factorize(values)
    n = len(distinct)
    out_bad = np.zeros(n, bool)
    out_bad[dense] = bad_cpr
    out_born = np.full(n, np.datetime64("NaT"), "datetime64[D]")
    out_gender = np.full(n, "", object)
    out_born[dense] = born
    out_gender[dense] = gender
    return PupilIds(dense[coded.codes].astype(np.int32), np.asarray(distinct, object),
                    out_bad, out_born, out_gender)


def _empty_ids():
    return (np.zeros(0, np.int32), np.zeros(0, object), np.zeros(0, bool),
            np.zeros(0, "datetime64[D]"), np.zeros(0, object))
