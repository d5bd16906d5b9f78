"""Fairness of the list actually handed out (at its length), by gender, grade band, school and
special needs: selection rate, precision and recall per group, and their min/max ratios (the
0.8-1.25 band is the usual yardstick)."""

from __future__ import annotations

import numpy as np
import pandas as pd

GROUPINGS = ("gender", "grade_band", "school_id", "special_needs")


def grade_band(grade: pd.Series) -> pd.Series:
    return pd.cut(grade.astype(float), [-1, 3, 6, 10], labels=["0-3", "4-6", "7-10"]).astype(str)


def fairness_table(frame: pd.DataFrame, listed: np.ndarray) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per group: selection rate, precision, recall (fairlearn MetricFrame) and ratio summaries.

    Rows are the not-yet-concerning rows with a known label; `listed` says who was on the list.
    """
    from fairlearn.metrics import MetricFrame, selection_rate
    from sklearn.metrics import precision_score, recall_score

    mask = frame["label"].notna().to_numpy() & ~frame["already_concerning"].to_numpy(bool)
    data = frame.loc[mask]
    y_true = data["label"].to_numpy().astype(int)
    y_pred = np.asarray(listed)[mask].astype(int)
    groups = {
        "gender": data["gender"].fillna("unknown").astype(str),
        "grade_band": grade_band(data["grade"]),
        "school_id": data["school_id"].astype(str),
        "special_needs": data["special_needs"].map({1.0: "yes", 0.0: "no"}).fillna("no"),
    }
    metrics = {
        "selection_rate": selection_rate,
        "precision": lambda t, p: precision_score(t, p, zero_division=0),
        "recall": lambda t, p: recall_score(t, p, zero_division=0),
    }
    tables, ratios = [], {}
    for name, feature in groups.items():
        mf = MetricFrame(metrics=metrics, y_true=y_true, y_pred=y_pred, sensitive_features=feature)
        by = mf.by_group.reset_index().rename(columns={feature.name or "sensitive_feature_0": "group"})
        by.columns = ["group", *metrics]
        by.insert(0, "grouping", name)
        by["pupils"] = feature.value_counts().reindex(by["group"]).to_numpy()
        tables.append(by)
        for metric, value in mf.ratio().items():
            ratios[f"{name}.{metric}_ratio"] = float(value)
    return pd.concat(tables, ignore_index=True), ratios
