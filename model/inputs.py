"""Everything the feature builder reads, loaded from the store in one go."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy import Engine, select

from model.register import Register, load_register
from model.store import class_wellbeing, concerns, enrolments, pupils


@dataclass
class Inputs:
    """The register matrix and the small tables beside it."""

    register: Register
    enrolments: pd.DataFrame
    concerns: pd.DataFrame
    class_wellbeing: pd.DataFrame
    pupils: pd.DataFrame

    def feature_builder(self, before: date | None = None):
        """A FeatureBuilder over these inputs; `before` an as-of date: only the school days before
        it (all that features, trailing rates and the quarter rule at that date read).
        """
        from model.features import FeatureBuilder

        return FeatureBuilder(self.register.select_days(before), self.enrolments, self.concerns,
                              self.class_wellbeing, self.pupils)


def _frame(conn, table) -> pd.DataFrame:
    rows = conn.execute(select(table)).all()
    names = [c.name for c in table.columns]
    if not rows:
        return pd.DataFrame(rows, columns=names)
    # Columns from plain tuples: a frame built from Row objects probes every row's attributes
    # (a national year of enrolments: tens of seconds of look-ups that fail).
    return pd.DataFrame(dict(zip(names, map(list, zip(*rows, strict=True)), strict=True)),
                        columns=names)


def load_inputs(engine: Engine) -> Inputs:
    """Read the register matrix, enrolments, concerns, class wellbeing and pupils."""
    register = load_register(engine)
    with engine.connect() as conn:
        enrol = _frame(conn, enrolments)
        conc = _frame(conn, concerns).drop(columns=["id"])
        wb = _frame(conn, class_wellbeing)
        pup = _frame(conn, pupils)
    return Inputs(register, enrol, conc, wb, pup)
