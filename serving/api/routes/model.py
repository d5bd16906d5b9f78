"""The served champion: what it is, its model card, and an on-demand registry check."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, PlainTextResponse

from model.registry import GATES_TAG, TRAIN_WINDOW, TRAINED_AT
from serving.api.card import model_card_html, model_card_markdown
from serving.api.deps import HolderDep, ModelManager, PrincipalDep, ServedModelDep, SettingsDep
from serving.api.routes import errors
from serving.api.schemas import ModelInfo, ModelRefresh

router = APIRouter(tags=["model"])


@router.get("/v1/model", response_model=ModelInfo, responses=errors(401, 404, 503))
def model_info(served: ServedModelDep, principal: PrincipalDep, settings: SettingsDep) -> dict:
    """The champion being served: version, when and on which window it was trained, its
    evaluation metrics, and where its model card is."""
    tags = served.details.get("tags", {})
    registered = served.details.get("registered_at")
    return {
        "name": served.champion.name, "version": served.version,
        "trained_at": tags.get(TRAINED_AT), "train_window": tags.get(TRAIN_WINDOW),
        "registered_at": datetime.fromtimestamp(registered / 1000, UTC) if registered else None,
        "loaded_at": served.loaded_at,
        "metrics": {k: float(v) for k, v in served.details.get("metrics", {}).items()},
        "gates": tags.get(GATES_TAG), "card": "/v1/model/card",
        "card_markdown": "/v1/model/card?format=markdown",
        "card_complete": served.details.get("evaluation") is not None, "contact": settings.contact,
    }


@router.get("/v1/model/card", response_class=HTMLResponse, responses={
    200: {"content": {"text/html": {"example": "<!doctype html><html>...</html>"},
                      "text/markdown": {"example": "# Modelkort · Model card: fravaersradar version 3"}},
          "description": "the model card as HTML (default) or Markdown"}, **errors(404, 503)})
def model_card(served: ServedModelDep, settings: SettingsDep,
               format: Annotated[Literal["html", "markdown"], Query(
                   description="html (default) or markdown")] = "html") -> HTMLResponse:
    """The model card of the champion, for parents and staff (public: no pupil data): purpose and
    intended use, the data used and excluded, training window, quality against the rules, lead
    time, calibration, fairness by group, the teams' feedback, known limits and whom to contact."""
    name, version, details = served.champion.name, served.version, served.details
    if format == "markdown":
        return PlainTextResponse(model_card_markdown(name, version, details, settings.contact),
                                 media_type="text/markdown")
    return HTMLResponse(model_card_html(name, version, details, settings.contact))


@router.post("/v1/model/refresh", response_model=ModelRefresh, responses=errors(401, 403))
async def refresh_model(holder: HolderDep, principal: ModelManager) -> dict:
    """Ask the registry for the champion now (besides the periodic check) and swap to a newly
    promoted version without a restart."""
    swapped = await run_in_threadpool(holder.refresh)
    status = holder.status()
    return {"swapped": swapped, "model_version": status["model_version"],
            "registry_reachable": status["registry_reachable"], "problem": status["problem"]}
