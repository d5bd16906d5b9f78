"""What the pages show, assembled from the services the API uses (no HTTP here): the week's list
with sparklines, one pupil's register, risk over time, reasons, concerns and decisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from model.calendar import parse_school_year, school_year_start
from model.records import DECISIONS, SECTIONS
from model.store import STATUS_NAMES
from serving.pages import charts
from serving.pages.texts import (
    CATEGORY_WORDS,
    SOURCE_WORDS,
    STATUS_WORDS,
    UI,
    day,
    percent,
    points,
    risk_percent,
    section_intro,
)
from serving.risk import concerns_in_school_year

SPARK_WEEKS = 10


def weekly_absence(register, pupil_ids: list[str], before: date,
                   weeks: int = SPARK_WEEKS) -> dict[str, list[float | None]]:
    """Per pupil, the absence share of each of the `weeks` ISO weeks before `before` (absent
    fraction over registered school days; None for a week without a registered day)."""
    start = before - timedelta(days=before.weekday()) - timedelta(weeks=weeks)
    days = register.days
    mask = (days >= np.datetime64(start)) & (days < np.datetime64(before))
    week_index = ((days[mask] - np.datetime64(start)).astype(int) // 7)
    row_of = {p: i for i, p in enumerate(register.pupil_ids)}
    out: dict[str, list[float | None]] = {}
    for pupil in pupil_ids:
        row = row_of.get(pupil)
        if row is None:
            out[pupil] = [None] * weeks
            continue
        status = register.status[row, mask]
        absent = register.absent[row, mask]
        shares: list[float | None] = []
        for w in range(weeks):
            in_week = (week_index == w) & (status > 0)
            n = int(in_week.sum())
            shares.append(float(absent[in_week].sum() / n) if n else None)
        out[pupil] = shares
    return out


def spark_label(values: list[float | None], language: str) -> str:
    shown = ", ".join(percent(v, language) for v in values)
    label = UI[language]["sparkline"].format(n=len(values), values=shown)
    if any(v is None for v in values):  # the gaps are explained where they are seen
        label += f" ({UI[language]['sparkline_gaps']})"
    return label


def list_sections(data: dict[str, Any], language: str, sparks: dict[str, list[float | None]],
                  facts: dict[str, Any]) -> list[dict[str, Any]]:
    """The stored list's three sections, rows ready for the template."""
    ui = UI[language]
    out = []
    for number, section in enumerate(SECTIONS, start=1):
        rows = []
        for row in data["sections"][section]:
            review = row.get("review")
            values = sparks.get(row["pupil_id"], [])
            rows.append({
                **row,
                "risk_text": risk_percent(row.get("risk"), language),
                "band_word": ui["bands"].get(row.get("band") or "", ""),
                "absence_text": percent(row.get("absence_year"), language, 1),
                "trend_text": points(row.get("trend"), language),
                "quarter_text": percent(row.get("unauthorised_quarter"), language, 1),
                "level_word": ui["levels"].get(row.get("statutory_level") or "", ""),
                "spark": charts.sparkline(values, spark_label(values, language),
                                          gap_title=ui["sparkline_gap"]),
                "also_text": ", ".join(ui["sections"].get(a, a) for a in row.get("also") or []),
                "review_text": (f"{ui['decisions_words'].get(review['decision'], '')}, "
                                f"{day(review['decided_on'], language)}") if review else None,
            })
        out.append({"key": section, "number": number, "title": ui["sections"][section],
                    "intro": section_intro(language, section, **facts), "rows": rows})
    return out


def decision_choices(language: str) -> list[tuple[str, str]]:
    words = UI[language]["decisions_words"]
    return [(d, words[d]) for d in DECISIONS]


# -- one pupil -------------------------------------------------------------------------------


def register_days(register, pupil_id: str, school_year: str,
                  until: date | None) -> list[charts.RegisterDay]:
    """The pupil's school days of the school year up to `until` (status and absent fraction);
    a school day without an entry for the pupil is 'none'."""
    start = parse_school_year(school_year)
    lo, hi = np.datetime64(school_year_start(start)), np.datetime64(school_year_start(start + 1))
    days = register.days
    mask = (days >= lo) & (days < hi)
    if until is not None:
        mask &= days <= np.datetime64(until)
    rows = np.flatnonzero(register.pupil_ids == pupil_id)
    chosen = days[mask]
    if not len(rows):
        return [charts.RegisterDay(pd.Timestamp(d).date(), "none", 0.0) for d in chosen]
    status = register.status[rows[0], mask]
    absent = register.absent[rows[0], mask]
    out = []
    for d, s, a in zip(chosen, status.tolist(), absent.tolist(), strict=True):
        name = STATUS_NAMES.get(int(s), "none")
        out.append(charts.RegisterDay(pd.Timestamp(d).date(), name, float(a)))
    return out


def status_counts(days: list[charts.RegisterDay], language: str) -> list[dict[str, Any]]:
    """Days per status (partial days apart, counted by their absent fraction too)."""
    words = STATUS_WORDS[language]
    out = []
    for status in charts.STATUS_ORDER:
        whole = sum(1 for d in days if d.status == status and not d.partial)
        partial = [d for d in days if d.status == status and d.partial]
        out.append({"status": status, "word": words[status], "days": whole,
                    "partial": len(partial), "fill": charts.STATUS_FILL[status]})
    return out


@dataclass(frozen=True)
class Concern:
    day: date
    source: str
    category: str
    severity: int | None

    def category_word(self, language: str) -> str:
        return CATEGORY_WORDS[language].get(self.category, self.category)

    def source_word(self, language: str) -> str:
        return SOURCE_WORDS[language].get(self.source, self.source)

    def text(self, language: str) -> str:
        return f"{self.category_word(language)} ({self.source_word(language)})"


def pupil_concerns(engine: Engine, pupil_id: str, school_year: str,
                   until: date | None) -> list[Concern]:
    """The pupil's coded concerns dated in the school year (up to `until`), oldest first."""
    rows = concerns_in_school_year(engine, pupil_id, school_year, until)
    return [Concern(r.date, r.source, r.category, r.severity) for r in rows]


def reason_bars(reasons: list[dict[str, Any]], language: str) -> list[dict[str, Any]]:
    """The reasons with each bar's length (share of the largest) and share of the total push."""
    raising = [r for r in reasons if r["effect"] > 0]
    if not raising:
        return []
    largest = max(r["effect"] for r in raising)
    total = sum(r["effect"] for r in raising)
    return [{**r, "width": round(100 * r["effect"] / largest, 1),
             "share": UI[language]["share_of_push"].format(
                 share=percent(r["effect"] / total, language))} for r in raising]
