"""Liveness with the model's state, and Prometheus metrics. Open to anyone: no pupil data."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import text

from serving.api.deps import EngineDep, HolderDep, ServiceDep
from serving.api.schemas import Health
from serving.metrics import CONTENT_TYPE

router = APIRouter(tags=["service"])


@router.get("/health", response_model=Health)
def health(holder: HolderDep, engine: EngineDep, service: ServiceDep) -> dict:
    """"ok", or "degraded" with the reason: no model loaded, the registry unreachable (the last
    good model stays in use), or the store unreachable."""
    status = holder.status()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        store_ok = True
    except Exception:  # noqa: BLE001 - any failure: the store cannot be read
        store_ok = False
    problems = [p for p in (status["problem"], None if store_ok else "store unreachable") if p]
    ok = (status["model_version"] is not None and status["registry_reachable"] is not False
          and status["problem"] is None and store_ok)
    return {"status": "ok" if ok else "degraded", **status,
            "problem": "; ".join(problems) or None, "store_reachable": store_ok,
            "warm": status["model_version"] is not None
            and service.warmed_version == status["model_version"]}


@router.get("/metrics", response_class=PlainTextResponse, responses={
    200: {"content": {CONTENT_TYPE.split(";")[0]: {
        "example": 'ews_http_requests_total{method="GET",path="/health",status="200"} 3'}},
        "description": "Prometheus text format"}})
def metrics(request: Request, holder: HolderDep) -> PlainTextResponse:
    """Requests by path template and status, latency histograms, scores served, and the model
    version being served."""
    text_ = request.app.state.metrics.render({**holder.status(), "swaps": holder.swaps})
    return PlainTextResponse(text_, media_type=CONTENT_TYPE)
