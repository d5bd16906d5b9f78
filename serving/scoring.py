"""Scoring: every pupil on roll at an as-of date, with the champion, its band and reasons."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from model.estimator import risk_band
from model.features import FeatureBuilder, feature_matrix
from model.labels import LabelSpec, is_already_concerning, trailing_rates

SCORE_COLUMNS = ["pupil_id", "school_id", "grade", "risk", "band", "already_concerning",
                 "reason_1", "reason_2", "reason_3"]


def score_frame(builder: FeatureBuilder, model, as_of: date, spec: LabelSpec,
                school: str | None = None) -> pd.DataFrame:
    """Feature rows at `as_of` with `margin`, `risk` (calibrated), `band`, `trailing_rate` and
    `already_concerning` (only the given school's pupils, if any). Without a model (`None`),
    risk and margin are NaN and band None: what the rules need is still there."""
    frame = builder.build([as_of])
    if school is not None:
        frame = frame.loc[frame["school_id"] == school].reset_index(drop=True)
    if model is not None and len(frame):
        frame["margin"] = model.decision_function(feature_matrix(frame))
        frame["risk"] = model.probability(frame["margin"].to_numpy(), as_of)
        frame["band"] = risk_band(frame["risk"].to_numpy())
    else:  # no model (no champion yet) or nobody on roll: the rules' facts only
        frame["margin"] = np.full(len(frame), np.nan)
        frame["risk"] = np.full(len(frame), np.nan)
        frame["band"] = np.full(len(frame), None, dtype=object)
    frame["trailing_rate"] = trailing_rates(frame, builder.rate_sums(), builder.row_of, spec)
    frame["already_concerning"] = is_already_concerning(frame["trailing_rate"].to_numpy(), spec)
    return frame


def with_reasons(frame: pd.DataFrame, model, language: str = "da", top: int = 3) -> pd.DataFrame:
    """Add `reasons` (list of Reason) and `reason_1..reason_<top>` texts (SHAP on the margin)."""
    from model.reasons import explain, reasons_for

    out = frame.copy()
    if not len(out):
        out["reasons"] = []
        for k in range(top):
            out[f"reason_{k + 1}"] = []
        return out
    explanation = explain(model, feature_matrix(out))
    reasons = reasons_for(out, explanation, language=language, top=top)
    out["reasons"] = reasons
    for k in range(top):
        out[f"reason_{k + 1}"] = [r[k].text if len(r) > k else "" for r in reasons]
    return out


def score_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns `ews score` writes (interfaces.md), risk rounded to 4 decimals."""
    table = frame[SCORE_COLUMNS].copy()
    table["grade"] = table["grade"].astype(int)
    table["risk"] = table["risk"].round(4)
    return table.sort_values(["school_id", "risk"], ascending=[True, False]).reset_index(drop=True)
