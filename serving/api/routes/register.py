"""Pushing one school's register for one school day."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from serving import audit
from serving.api.deps import (
    AuditorDep,
    EngineDep,
    RegisterWriter,
    ScopedRegisterPush,
    ServiceDep,
    SettingsDep,
)
from serving.api.register import push_register
from serving.api.routes import errors
from serving.api.schemas import RegisterResult

router = APIRouter(tags=["register"])


@router.post("/v1/register", response_model=RegisterResult,
             responses=errors(401, 403, 404, 422))
async def register_day(push: ScopedRegisterPush, principal: RegisterWriter, engine: EngineDep,
                       settings: SettingsDep, service: ServiceDep, auditor: AuditorDep) -> dict:
    """Push one school day's register entries for one school, validated by the data contract's
    rules; all entries are taken or none (422 naming entries[row] and the column)."""

    def push_and_audit():
        result = push_register(settings, engine, push)
        auditor.record(audit.PUSH_REGISTER, school_id=push.school_id,
                       detail={"date": push.date.isoformat(), "entries": result["entries"],
                               "changed": result["changed"]})
        return result

    result = await run_in_threadpool(push_and_audit)
    service.invalidate()  # the next request sees the new day at once
    return result
