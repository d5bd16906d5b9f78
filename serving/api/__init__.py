"""The HTTP API (FastAPI routers under /health, /metrics and /v1): `install(app)` adds them to
the application that serving.app.create_app builds; `ews serve` runs it."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Add the API's routers to the app (serving.app.create_app calls this, before the pages)."""
    from serving.api.routes import flags, health, kpi, model, monitoring, pupils, register, tokens

    for module in (health, pupils, flags, register, model, tokens, monitoring, kpi):
        app.include_router(module.router)
