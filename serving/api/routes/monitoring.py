"""The latest monitoring results, for the analysts' model page (analyst and admin only)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict

from serving.api.deps import EngineDep, ModelManager
from serving.api.routes import errors
from serving.monitoring import latest_monitoring
from serving.problems import ApiProblem

router = APIRouter(tags=["monitoring"])
Level = Literal["ok", "warning", "alarm"]


class ColumnShift(BaseModel):
    """PSI of one feature (or `score`) in one scope ("all" or a school id)."""

    scope: str
    name: str
    psi: float | None
    level: Level
    judged: str | None  # None, or why a shift in this column is not judged
    basis: Literal["month", "window"]
    rows: int


class SchoolShare(BaseModel):
    """One school this week beside its training window."""

    school_id: str
    pupils_on_roll: int
    flagged: int
    share_flagged: float
    share_already_concerning: float
    reference_already_concerning: float | None
    mean_risk: float | None
    reference_mean_risk: float | None
    score_psi: float | None


class RankerPrecision(BaseModel):
    """Realised precision of the stored lists (`model`) or a rule at the same list length."""

    ranker: str
    lists: int
    listed: int
    known: int
    positives: int
    precision: float | None


class MonitoringReport(BaseModel):
    """The latest `ews monitor` run: status, warnings, shifts, schools and realised precision."""

    model_config = ConfigDict(protected_namespaces=(), json_schema_extra={"examples": [{
        "id": 4, "week": "2026-W48", "as_of": "2026-11-23", "model_version": "3",
        "created_at": "2026-11-23T06:00:00+00:00", "status": "warning",
        "warnings": ["shift: 2 columns at PSI 0.10-0.25 (illness_rate_4w@all, score@S02)"],
        "needs_retraining": None,
        "reference_window": {"first": "2024-09-09", "last": "2025-05-19", "count": 33},
        "precision_note": "realised precision 0.27 over 8 lists vs 0.21 for rule:days_11_last_year",
        "psi": [{"scope": "all", "name": "illness_rate_4w", "psi": 0.14, "level": "warning",
                 "judged": None, "basis": "month", "rows": 1500}],
        "schools": [{"school_id": "S01", "pupils_on_roll": 419, "flagged": 21,
                     "share_flagged": 0.05, "share_already_concerning": 0.09,
                     "reference_already_concerning": 0.1, "mean_risk": 0.13,
                     "reference_mean_risk": 0.14, "score_psi": 0.04}],
        "precision": [{"ranker": "model", "lists": 8, "listed": 160, "known": 154,
                       "positives": 41, "precision": 0.266}]}]})

    id: int
    week: str
    as_of: str
    model_version: str
    created_at: str
    status: Level
    warnings: list[str]
    needs_retraining: str | None
    reference_window: dict[str, str | int | None]
    precision_note: str
    psi: list[ColumnShift]
    schools: list[SchoolShare]
    precision: list[RankerPrecision]


@router.get("/v1/monitoring", response_model=MonitoringReport, responses=errors(401, 403, 404))
async def monitoring(engine: EngineDep, principal: ModelManager) -> dict:
    """The latest monitoring run (aggregates only, no pupil data): drift per feature and school,
    share flagged per school, realised precision of past lists against the rules."""
    found = await run_in_threadpool(latest_monitoring, engine)
    if found is None:
        raise ApiProblem(404, "no-monitoring", "No monitoring run is stored yet: run `ews monitor`.")
    return found
