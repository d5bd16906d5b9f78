"""Features by part of the country: the path beyond one machine, as an executor, not a rewrite.

Every feature of a pupil reads only the pupil's own register, concerns and enrolments, and the
pupil's class and school (the context features). So a part made of whole schools (a school, a
municipality, a region) holding the pupils enrolled there in the school year of the as-of dates,
with all of their register and enrolments, gives exactly the rows the whole register gives for
those pupils. The parts can be built anywhere: a process pool here, Spark or Dask tasks over
Parquet partitioned by school year and municipality elsewhere, each task running the same
`FeatureBuilder` (the one registry of feature definitions, `model.features.FEATURES`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date

import numpy as np
import pandas as pd

from model.calendar import school_year_of
from model.inputs import Inputs
from model.register import Register


def partition_inputs(inputs: Inputs, school_year: str, parts: Sequence[Iterable[str]]) -> list[Inputs]:
    """One Inputs per group of schools: the pupils enrolled in one of the group's schools in
    `school_year`, with all their register rows, enrolments (every year) and concerns; the
    class wellbeing table whole (one row a class, small). A school in no group is left out.
    """
    enrol = inputs.enrolments
    this_year = enrol.loc[enrol["school_year"] == school_year]
    row_of = pd.Index(inputs.register.pupil_ids)
    out = []
    for schools in parts:
        wanted = set(schools)
        ids = pd.Index(this_year.loc[this_year["school_id"].isin(wanted), "pupil_id"].unique())
        rows = row_of.get_indexer(ids)
        rows = np.sort(rows[rows >= 0])
        reg = inputs.register
        register = Register(reg.pupil_ids[rows], reg.days, reg.status[rows], reg.absent[rows])
        out.append(Inputs(register, _of(enrol, ids), _of(inputs.concerns, ids),
                          inputs.class_wellbeing, _of(inputs.pupils, ids)))
    return out


def _of(frame: pd.DataFrame, ids: pd.Index) -> pd.DataFrame:
    return frame.loc[frame["pupil_id"].isin(ids)].reset_index(drop=True)


def build_partitioned(inputs: Inputs, as_of_dates: Sequence[date], parts: Sequence[Iterable[str]],
                      map_fn: Callable = map) -> pd.DataFrame:
    """The feature rows of `as_of_dates` (one school year) built part by part with `map_fn`
    (the builtin map, or e.g. `ProcessPoolExecutor.map`), concatenated in part order.
    """
    years = {school_year_of(pd.Timestamp(t).date()) for t in as_of_dates}
    if len(years) != 1:
        raise ValueError("as-of dates of one school year at a time: parts are that year's schools")
    pieces = partition_inputs(inputs, years.pop(), parts)
    frames = list(map_fn(_build_part, pieces, [list(as_of_dates)] * len(pieces)))
    return pd.concat(frames, ignore_index=True)


def _build_part(part: Inputs, as_of_dates: list[date]) -> pd.DataFrame:
    return part.feature_builder().build(as_of_dates)
