"""The served champion: what it is, its model card, and an on-demand registry check."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from serving.api.card import model_card_html
from serving.api.deps import HolderDep, ModelManager, PrincipalDep, ServedModelDep
from serving.api.routes import errors
from serving.api.schemas import ModelInfo, ModelRefresh

router = APIRouter(tags=["model"])


@router.get("/v1/model", response_model=ModelInfo, responses=errors(401, 503))
def model_info(served: ServedModelDep, principal: PrincipalDep) -> dict:
    """The champion being served: version, when and on which window it was trained, its
    evaluation metrics, and where its model card is."""
    tags = served.details.get("tags", {})
    registered = served.details.get("registered_at")
    return {
        "name": served.champion.name, "version": served.version,
        "trained_at": tags.get("trained_at"), "train_window": tags.get("train_window"),
        "registered_at": datetime.fromtimestamp(registered / 1000, UTC) if registered else None,
        "loaded_at": served.loaded_at,
        "metrics": {k: float(v) for k, v in served.details.get("metrics", {}).items()},
        "gates": tags.get("gates"), "card": "/v1/model/card",
    }


@router.get("/v1/model/card", response_class=HTMLResponse, responses={
    200: {"content": {"text/html": {"example": "<!doctype html><html>...</html>"}},
          "description": "the model card as HTML"}, **errors(503)})
def model_card(served: ServedModelDep) -> HTMLResponse:
    """The model card of the champion, for parents and staff (public: no pupil data)."""
    return HTMLResponse(model_card_html(served.champion.name, served.version, served.details))


@router.post("/v1/model/refresh", response_model=ModelRefresh, responses=errors(401, 403))
async def refresh_model(holder: HolderDep, principal: ModelManager) -> dict:
    """Ask the registry for the champion now (besides the periodic check) and swap to a newly
    promoted version without a restart."""
    swapped = await run_in_threadpool(holder.refresh)
    status = holder.status()
    return {"swapped": swapped, "model_version": status["model_version"],
            "registry_reachable": status["registry_reachable"], "problem": status["problem"]}
