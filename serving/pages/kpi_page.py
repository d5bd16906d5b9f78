"""The municipality's page /pages/kpi: a chart per KPI over the quarters with its target (or
baseline) line, a table per school for a school year, what the weekly lists led to and the
before/after comparison of investigations. Municipality, analyst and admin roles; aggregates
only; every view audited as the API's GET /v1/kpi."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from model.kpi import ALL, FOLLOW_UP_NOTE
from model.kpi_report import KpiReport
from serving.kpi import KPI_ROLES, READ_KPI, audit_read
from serving.pages import charts
from serving.pages.routes import PREFIX, PagePrincipal, PageRoute, language_of, page, require
from serving.pages.texts import DECISION_WORDS, KPI_UI, day, percent

router = APIRouter(prefix=PREFIX, route_class=PageRoute, include_in_schema=False)

# (column, kind, which reference line the chart draws)
CHARTS = (("absence_rate", "share", "baseline"), ("share_over_10", "share", "baseline"),
          ("share_over_15", "share", "target"), ("unauthorised_10", "count", "baseline"),
          ("unauthorised_15", "count", "target"))
TABLE_COLUMNS = (("pupils", "count"), ("absence_rate", "share"),
                 ("absence_rate_illness", "share"), ("absence_rate_authorised", "share"),
                 ("absence_rate_unauthorised", "share"), ("share_over_10", "share"),
                 ("share_over_15", "share"), ("unauthorised_10", "count"),
                 ("unauthorised_15", "count"))


def _label(words: dict[str, str], column: str, line: str) -> str:
    return words[column].format(line=line)


def _fmt(value: Any, kind: str, language: str) -> str:
    if value is None:
        return "–"
    if kind == "share":
        return percent(value, language, 1)
    return f"{int(round(value)):,}".replace(",", "." if language == "da" else ",")


def _calendar_end(period: str) -> str:
    """The last calendar day a period could have school days on (ISO), to tell a running one."""
    if "/" in period:
        return f"{int(period[:4]) + 1}-06-30"
    year, q = int(period[:4]), int(period[-1])
    return {1: f"{year}-03-31", 2: f"{year}-06-30", 3: f"{year}-09-30", 4: f"{year}-12-31"}[q]


def _signed(value: float | None, language: str) -> str:
    if value is None:
        return "–"
    text = percent(value, language, 0)
    return ("+" + text if value > 0 else text).replace("-", "−")


def view_model(report: KpiReport, school_year: str, language: str) -> dict[str, Any]:
    """What the template shows, formatted in the reader's language."""
    words = KPI_UI[language]
    line = percent(report.spec.problematic, language)
    rows = report.rows
    quarters = rows[(rows["school_id"] == ALL) & (rows["kind"] == "quarter")]
    chart_list = []
    for column, kind, ref in CHARTS:
        name = _label(words, column, line)
        points = list(zip(quarters["period"], quarters[column], strict=True))
        ref_col = f"{column}_target" if ref == "target" else f"{column}_baseline"
        reference = list(zip(quarters["period"], quarters[ref_col], strict=True))
        ref_word = words["target_line"] if ref == "target" else words["baseline_line"]
        chart_list.append({"name": name, "svg": charts.kpi_line(
            [(p, None if v is None else float(v)) for p, v in points],
            [(p, None if v is None or v != v else float(v)) for p, v in reference],
            title=name, desc=words["chart_desc"].format(name=name, ref=ref_word),
            value_text=lambda v, k=kind: _fmt(v, k, language), reference_label=ref_word)})
    year_rows = rows[rows["school_year"] == school_year]
    latest = rows["last_day"].max()  # a period that ends on it, well before its end, is running
    schools = [ALL, *sorted(s for s in set(year_rows["school_id"]) if s != ALL)]
    tables = []
    for school in schools:
        body = []
        for r in year_rows[year_rows["school_id"] == school].to_dict("records"):
            hidden = set(filter(None, r["suppressed_columns"].split(";")))
            cells = [{"text": _fmt(r[c], k, language), "suppressed": c in hidden}
                     for c, k in TABLE_COLUMNS]
            judged = {}
            for m in ("share_over_15", "unauthorised_15"):
                on = r[f"{m}_on_track"]
                judged[m] = {"change": _signed(r[f"{m}_change"], language),
                             "on_track": None if on is None else (words["yes"] if on
                                                                   else words["no"])}
            through = None
            if r["last_day"] == latest and (date.fromisoformat(_calendar_end(r["period"]))
                                            - date.fromisoformat(latest)).days > 14:
                through = words["through"].format(day=day(r["last_day"], language))
            body.append({"period": r["period"], "kind": words["period_kind"][r["kind"]],
                         "cells": cells, "judged": judged, "through": through})
        tables.append({"school": words["all"] if school == ALL else school, "id": school,
                       "rows": body})
    lists = report.lists[report.lists["school_year"] == school_year].to_dict("records")
    follow = report.follow_up
    follow = follow[follow["school_year"] == school_year].to_dict("records") if len(follow) else []
    return {
        "words": words, "line": line, "charts": chart_list, "tables": tables,
        "headers": [words["short"][c].format(line=line) for c, _ in TABLE_COLUMNS],
        "table_note": words["table_note"].format(line=line),
        "lists": [{**r, **{k: _fmt(r[k], "count", language) for k in
                           ("flags", "pupils_flagged", "reviewed", "investigate",
                            "already_known", "no_action", "other")},
                   "share_reviewed": _fmt(r["share_reviewed"], "share", language),
                   "school_id": words["all"] if r["school_id"] == ALL else r["school_id"]}
                  for r in lists],
        "decisions": DECISION_WORDS[language],
        "follow_up": [{**r, "group": words["investigated"] if r["group"] == "investigated"
                       else words["not_investigated"],
                       "pupils": _fmt(r["pupils"], "count", language),
                       "measured_after": _fmt(r["measured_after"], "count", language),
                       "absence_before": _fmt(r["absence_before"], "share", language),
                       "absence_after": _fmt(r["absence_after"], "share", language),
                       "change": "–" if r["change"] is None else
                       f"{100 * r['change']:+.1f}".replace("-", "−").replace(
                           ".", "," if language == "da" else ".")}
                      for r in follow],
        "follow_note": FOLLOW_UP_NOTE[language],
        "targets": [words["target_problematic"].format(
                        line=line, target=_signed(report.spec.targets.get("share_over_15"),
                                                  language)),
                    words["target_notifications"].format(
                        target=_signed(report.spec.targets.get("unauthorised_15"), language))],
    }


@router.get("/kpi", response_class=HTMLResponse)
async def kpi_page(request: Request, principal: PagePrincipal,
                   school_year: Annotated[str | None, Query(pattern=r"^\d{4}/\d{2}$")] = None
                   ) -> Response:
    require(principal, KPI_ROLES)
    language = language_of(request)

    def build():
        report = request.app.state.kpi.get(None)
        chosen = school_year or (report.school_years[-1] if report.school_years else None)
        audit_read(request.app.state.engine, request.app.state.key, actor=principal.name,
                   role=principal.role, action=READ_KPI, report=report,
                   shown_school_year=chosen, page=True)
        return report, chosen

    report, chosen = await run_in_threadpool(build)
    model = view_model(report, chosen, language) if chosen else None
    return page(request, "page_kpi.html", principal=principal, report=report, chosen=chosen,
                kpi=model, words=KPI_UI[language], percent=percent)
