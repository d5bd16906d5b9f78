"""The FastAPI application: `create_app(settings)` builds it and mounts its two faces as
siblings, the HTTP API (serving.api: /health, /metrics, /v1/...) and the team pages
(serving.pages: /pages), over the same services in `app.state` (the champion holder, the risk
service, the flag-list and KPI caches); the API and the pages never import each other.

Start-up (lifespan) caps the OpenMP/BLAS thread pools, loads the champion once into the holder,
and starts the background check that swaps in a newly promoted champion without a restart. Every
request is timed and counted by its path *template*, and logged by template only: a pupil id or
CPR number in a path never reaches a log line (uvicorn's own access log is redacted as well, for
when it is switched on).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import logging.handlers
import os
import re
import threading
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from sqlalchemy import event
from starlette.requests import Request

from model.kpi import KpiSpec
from model.labels import LabelSpec
from model.settings import Settings
from model.store import open_store
from model.threads import limit_threads
from serving import api, pages, problems
from serving.api.lists import FlagListCache
from serving.champion import ChampionHolder
from serving.kpi import KpiCache
from serving.metrics import Metrics
from serving.risk import RiskService

log = logging.getLogger("serving.api")
access_log = logging.getLogger("serving.api.access")

DEFAULT_POLL_SECONDS = 30.0
DESCRIPTION = """Early warning of concerning school absence: risk with reasons for one pupil,
the weekly flag lists of a school, the detection team's reviews, and the register push.

Every call but /health, /metrics and /v1/model/card needs `Authorization: Bearer TOKEN`
(`ews token create`). A school or team token sees only its own school; a pupil or list outside
it gets 403, the same answer as for one that does not exist. A CPR number may be given as pupil
id: it is pseudonymised before lookup and never logged. Every read of pupil-level data and every
review is written to the audit log. Errors are RFC 9457 problem details."""


# A path segment after /pupils/ is a pupil id (maybe a CPR number); query strings may hold one too.
_PUPIL_SEGMENT = re.compile(r"(/pupils/)[^/?\s]+")
_QUERY = re.compile(r"\?\S*")


def redact_path(path: str) -> str:
    """A request path fit for a log line: pupil ids, query strings and CPR-shaped text removed."""
    return problems.masked(_QUERY.sub("", _PUPIL_SEGMENT.sub(r"\1{pupil_id}", path)))


class RedactingFilter(logging.Filter):
    """For uvicorn's access logger: rewrite the path argument with `redact_path`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3:
            args = list(record.args)
            args[2] = redact_path(str(args[2]))
            record.args = tuple(args)
        record.msg = problems.masked(record.msg) if isinstance(record.msg, str) else record.msg
        return True


def log_through_a_queue(level: int = logging.INFO) -> logging.handlers.QueueListener:
    """Send the service's own log lines (one access line per request, by template) to standard
    error from a thread of their own: the access line is written on the event loop, where a
    blocking write would hold up every request (it cost ~10 ms of p99 at 100 requests/s)."""
    import queue
    import sys

    from uvicorn.logging import DefaultFormatter

    lines: queue.SimpleQueue = queue.SimpleQueue()
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(DefaultFormatter("%(levelprefix)s %(message)s"))
    listener = logging.handlers.QueueListener(lines, stream)
    logger = logging.getLogger("serving")
    logger.handlers[:] = [logging.handlers.QueueHandler(lines)]
    logger.setLevel(level)
    logger.propagate = False
    listener.start()
    return listener


def install_log_redaction() -> None:
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())


class ObserveRequests:
    """Outermost middleware: time and count each request by path template, log it by template,
    and turn an unexpected error into a 500 problem (logged with CPR-shaped text masked) before
    any server log sees it."""

    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500, "started": False}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:  # noqa: BLE001 - answered as a 500 problem
            request = Request(scope)
            if not status["started"]:
                response = problems.internal_error(request, exc)
                await response(scope, receive, send_wrapper)
            else:
                problems.internal_error(request, exc)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            took = time.perf_counter() - start
            self.metrics.observe(scope["method"], template, status["code"], took)
            access_log.info("%s %s %s %.1fms", scope["method"], template, status["code"],
                            took * 1000)


def _problem_media_types(schema: dict) -> dict:
    """Error answers are application/problem+json, not application/json, in the document too;
    a body that cannot be parsed at all is a 400."""
    problem_ref = {"schema": {"$ref": "#/components/schemas/Problem"}}
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            if "requestBody" in operation:
                operation["responses"].setdefault("400", {
                    "description": "The body is not parseable JSON",
                    "content": {problems.MEDIA_TYPE: problem_ref}})
            for code, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if code == "422":
                    # FastAPI documents its own HTTPValidationError; the answer is a problem.
                    response["content"] = {problems.MEDIA_TYPE: problem_ref}
                elif code[:1] in ("4", "5") and content:
                    media = next((m for m in content.values() if "schema" in m),
                                 next(iter(content.values())))
                    response["content"] = {problems.MEDIA_TYPE: media}
    components = schema.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema


def create_app(settings: Settings, *, holder: ChampionHolder | None = None, registry=None,
               poll_seconds: float = DEFAULT_POLL_SECONDS, warm: bool = True,
               freeze_gc: bool = False) -> FastAPI:
    """The API over the store and model registry of `settings`. `holder` or `registry` replace
    the MLflow registry (tests); `poll_seconds` <= 0 turns the background champion check off
    (POST /v1/model/refresh still checks on demand); `warm` builds every school's scores at the
    default as-of date in the background whenever a champion is loaded; `freeze_gc` (for a
    server process, not a test session) hides what is alive after start-up and each warm-up from
    the garbage collector (`freeze_heap`)."""
    engine = open_store(settings.store_url)
    checkpoints = use_background_checkpoints(engine)
    holder = holder if holder is not None else ChampionHolder(settings, registry)
    risk = RiskService(engine, LabelSpec.from_settings(settings), threads=settings.threads)
    if warm:
        holder.on_swap(lambda served: threading.Thread(
            target=_warm, args=(risk, served, freeze_gc), name="warm-up", daemon=True).start())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        limit_threads(settings.threads)
        install_log_redaction()
        if holder.served is None:
            await asyncio.to_thread(holder.refresh)
        if freeze_gc:
            freeze_heap()
        tasks = []
        if poll_seconds > 0:
            tasks.append(asyncio.create_task(_poll(holder, poll_seconds), name="champion-check"))
        if checkpoints:
            tasks.append(asyncio.create_task(_checkpoints(engine), name="wal-checkpoints"))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if checkpoints:
                await asyncio.to_thread(_checkpoint, engine)

    app = FastAPI(title="Fraværsradar", version="1", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.key = settings.secret_key()
    app.state.engine = engine
    app.state.holder = holder
    app.state.risk = risk
    app.state.lists = FlagListCache(engine)
    app.state.kpi = KpiCache(engine, KpiSpec.from_settings(settings))  # issue 15: the municipality's
    app.state.metrics = Metrics()
    if freeze_gc:
        app.state.metrics.watch_gc()
    problems.install(app)
    api.install(app)
    pages.install(app)  # the team pages under /pages: the same services, a second face
    app.add_middleware(ObserveRequests, metrics=app.state.metrics)

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = _problem_media_types(get_openapi(
                title=app.title, version=app.version, description=app.description,
                routes=app.routes))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def freeze_heap() -> None:
    """Move every object alive now (libraries, the model, warmed caches: millions of them) out
    of the garbage collector's sight. A full collection over them pauses every thread for
    200-350 ms on the 2-core machine, which would be the service's p99; they live as long as the
    process anyway."""
    gc.freeze()


def _warm(risk: RiskService, served, freeze: bool) -> None:
    started = time.perf_counter()
    try:
        n = risk.warm(served)
    except Exception:  # noqa: BLE001 - requests compute what the warm-up did not
        log.warning("warm-up failed", exc_info=True)
        return
    if freeze:
        freeze_heap()
    log.info("warmed %d schools for model %s in %.1f s", n, served.version,
             time.perf_counter() - started)


def _no_autocheckpoint(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


def use_background_checkpoints(engine) -> bool:
    """On SQLite, move WAL checkpoints (which fsync) off the request path: the service's own
    connections do not checkpoint on commit; `_checkpoints` does, every second, PASSIVE (it
    never blocks a reader or writer). Other processes (the CLI) checkpoint as usual."""
    if engine.dialect.name != "sqlite":
        return False
    event.listen(engine, "connect", _no_autocheckpoint)
    engine.dispose()  # connections opened before (migrations) are replaced
    return True


WAL_TRUNCATE_FRAMES = 8192  # 32 MB of 4 KiB pages


def _checkpoint(engine) -> None:
    """PASSIVE (never waits); under steady reads the WAL may never be rewound, so once it holds
    more than WAL_TRUNCATE_FRAMES, all of them copied already, it is truncated (a short wait
    for readers and the writer)."""
    with engine.connect() as conn:
        busy, frames, copied = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
        if frames > WAL_TRUNCATE_FRAMES and copied == frames:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


async def _checkpoints(engine, seconds: float = 0.5) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await asyncio.to_thread(_checkpoint, engine)
        except Exception:  # noqa: BLE001 - the next round tries again
            log.warning("WAL checkpoint failed", exc_info=True)


async def _poll(holder: ChampionHolder, seconds: float) -> None:
    """Check the registry every `seconds`; `refresh` never raises, so the loop never dies."""
    while True:
        await asyncio.sleep(seconds)
        await asyncio.to_thread(holder.refresh)


def create_app_from_env() -> FastAPI:
    """For `uvicorn --factory serving.app:create_app_from_env`: settings from the
    environment, the champion check every EWS_MODEL_POLL_SECONDS (default 30)."""
    from model.settings import get_settings

    return create_app(get_settings(),
                      poll_seconds=float(os.environ.get("EWS_MODEL_POLL_SECONDS",
                                                        DEFAULT_POLL_SECONDS)), freeze_gc=True)
