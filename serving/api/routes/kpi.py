"""GET /v1/kpi: the municipality's figures, the rows of `ews kpi` as JSON (municipality,
analyst and admin; aggregates only, every read audited)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from model.calendar import parse_school_year
from serving.api.deps import EngineDep, KeyDep, KpiReader
from serving.api.routes import errors
from serving.kpi import READ_KPI, audit_read, report_json
from serving.problems import ApiProblem

router = APIRouter(tags=["kpi"])
Share = Annotated[float, Field(ge=0, le=1)]


class KpiRow(BaseModel):
    """One school (or `ALL`) in one period. Blank (null) where suppressed: a count or share
    whose numerator is 1-4 pupils; a row of fewer than 5 pupils shows no figure at all."""

    school_id: str = Field(description="a school id, or ALL for the whole municipality")
    school_year: str = Field(description="the school year the period belongs to, e.g. 2024/25")
    period: str = Field(description="the school year (2024/25) or a calendar quarter (2024-Q4)")
    kind: Literal["school_year", "quarter"]
    last_day: str = Field(description="the period's last registered school day (ISO date): "
                                      "before its calendar end while the period runs")
    pupils: int | None = Field(description="pupils enrolled with registered school days in it")
    absence_rate: Share | None = Field(description="absent days / registered school days, all "
                                                   "pupils together (partial days as fractions)")
    absence_rate_illness: Share | None
    absence_rate_authorised: Share | None
    absence_rate_unauthorised: Share | None
    share_over_10: Share | None = Field(description="share of pupils at >= 10 % total absence")
    share_over_15: Share | None = Field(description="share of pupils at or over the 'particularly "
                                                    "problematic' line (default 15 %)")
    unauthorised_10: int | None = Field(description="pupils whose unauthorised absence reached "
                                                    "10 % in a quarter (warn the parents)")
    unauthorised_15: int | None = Field(description="pupils whose unauthorised absence reached "
                                                    "15 % in a quarter (notify the municipality)")
    suppressed: bool
    suppressed_columns: str = Field(description="the blanked columns, separated by ';'")
    baseline: str | None = Field(description="the baseline school year")
    absence_rate_baseline: float | None
    absence_rate_change: float | None = Field(description="relative change from the baseline")
    share_over_10_baseline: float | None
    share_over_10_change: float | None
    share_over_15_baseline: float | None
    share_over_15_change: float | None
    share_over_15_target: float | None = Field(description="baseline x (1 + target reduction)")
    share_over_15_on_track: bool | None = Field(description="at or below the target; null for "
                                                            "the baseline year itself")
    unauthorised_10_baseline: int | None
    unauthorised_10_change: float | None
    unauthorised_15_baseline: int | None
    unauthorised_15_change: float | None
    unauthorised_15_target: float | None
    unauthorised_15_on_track: bool | None


class ListOutcome(BaseModel):
    """What one school's (or ALL) weekly lists led to in one quarter."""

    school_id: str
    school_year: str
    period: str
    flags: int | None = Field(description="flags handed out (a pupil on a week's list)")
    pupils_flagged: int | None
    reviewed: int | None = Field(description="flags with a team decision")
    share_reviewed: Share | None
    investigate: int | None = Field(description="pupils whose latest decision was afdækning")
    already_known: int | None
    no_action: int | None
    other: int | None
    suppressed: bool
    suppressed_columns: str


class FollowUpRow(BaseModel):
    """Absence over the 8 school weeks before and after, per risk band and group."""

    school_year: str
    band: str | None
    group: Literal["investigated", "listed, not investigated"]
    pupils: int | None
    absence_before: float | None
    absence_after: float | None
    change: float | None = Field(description="mean of (after - before) of those measured after")
    measured_after: int | None = Field(description="pupils with 4+ school weeks after")
    suppressed: bool


class FollowUp(BaseModel):
    note: dict[str, str] = Field(description="a descriptive comparison, not an effect estimate")
    rows: list[FollowUpRow]


class KpiReport(BaseModel):
    """The municipality's figures (`ews kpi` as JSON)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "school_year": "2025/26", "baseline": "2024/25", "school_years": ["2024/25", "2025/26"],
        "lines": {"concerning": 0.1, "problematic": 0.15, "warning": 0.1, "notification": 0.15,
                  "min_days": 10, "suppress_below": 5},
        "targets": {"share_over_15": -0.15, "unauthorised_15": -0.1},
        "rows": [], "lists": [], "follow_up": {"note": {"en": "..."}, "rows": []}}]})

    school_year: str | None
    baseline: str | None
    school_years: list[str]
    lines: dict[str, float]
    targets: dict[str, float]
    rows: list[KpiRow]
    lists: list[ListOutcome]
    follow_up: FollowUp


@router.get("/v1/kpi", response_model=KpiReport, responses=errors(401, 403, 404, 422))
async def kpi(request: Request, principal: KpiReader, engine: EngineDep, key: KeyDep,
              school_year: Annotated[str | None, Query(
                  pattern=r"^\d{4}/\d{2}$",
                  description="only this school year, e.g. 2024/25 (default: every one)")]
              = None) -> dict:
    """KPIs per school and for the municipality (ALL), per school year and quarter, against
    the baseline and the targets; what the weekly lists led to. Aggregates only."""
    unknown = sorted(set(request.query_params) - {"school_year"})
    if unknown:  # a misspelt option must not quietly give every school year
        raise ApiProblem(422, "invalid-request", "Unknown query parameter; only school_year is "
                                                 "taken.")
    if school_year is not None:
        try:
            parse_school_year(school_year)
        except ValueError:
            raise ApiProblem(422, "invalid-request", "school_year must look like 2024/25.") \
                from None
    report = await run_in_threadpool(request.app.state.kpi.get, school_year)
    if school_year is not None and school_year not in report.school_years:
        raise ApiProblem(404, "not-found", f"Nothing is registered for {school_year}.")
    await run_in_threadpool(audit_read, engine, key, actor=principal.name, role=principal.role,
                            action=READ_KPI, report=report)
    return report_json(report)
