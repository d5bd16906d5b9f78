"""The team pages: the detection teams' weekly list, one pupil, the team's decision, and the
analysts' model page, served by `ews serve` beside the API (server-rendered, Danish by default).

`install(app)` adds the router under /pages and the static files under /pages/static.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles


def install(app: FastAPI) -> None:
    """Mount the pages on the app (serving.app.create_app calls this, after the API)."""
    from serving.pages.registry import ArtifactCache
    from serving.pages.render import STATIC
    from serving.pages.routes import PREFIX, router

    app.state.page_artifacts = ArtifactCache()
    app.include_router(router)
    from serving.pages.kpi_page import router as kpi_router  # issue 15: the municipality's page

    app.include_router(kpi_router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="pages-static")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", 307)
