"""The weekly flag lists, one flag, and the detection team's reviews."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from serving import audit
from serving.api.deps import (
    AuditorDep,
    EngineDep,
    LanguageQuery,
    ReviewableFlag,
    Reviewer,
    ScopedFlag,
    ScopedSchoolWeek,
    TeamReader,
)
from serving.api.lists import FlagListCache
from serving.api.routes import errors
from serving.api.schemas import FlagDetail, FlagList, ReviewIn, ReviewOut
from serving.problems import not_found

router = APIRouter(tags=["flags"])


@router.get("/v1/schools/{school_id}/flags", response_model=FlagList,
            responses=errors(401, 403, 404, 422))
async def flag_list(request: Request, school: ScopedSchoolWeek, principal: TeamReader,
                    auditor: AuditorDep, lang: LanguageQuery = "da") -> Response:
    """The school's stored list for an ISO week (default: its newest): early warnings ranked by
    risk with reasons, statutory triggers and known cases, apart. Audited: the first read of a
    list version by a token on a day once per pupil on it, a repeated read as one row."""
    lists: FlagListCache = request.app.state.lists

    def read_and_audit():
        found = lists.get(school.school_id, school.week, lang)
        if found is not None:
            first = lists.first_read(principal.token_id, school.school_id, found)
            auditor.record(audit.READ_FLAG_LIST, school_id=school.school_id,
                           pupils=found.pupils if first else (),
                           detail={"week": found.week, "flags": len(found.pupils),
                                   "language": lang, "pupils_recorded": first})
        return found

    found = await run_in_threadpool(read_and_audit)
    if found is None:
        raise not_found("No flag list is stored for this school and week.")
    # validated against FlagList when rendered (serving.api.lists)
    return Response(found.body, media_type="application/json")


@router.get("/v1/schools/{school_id}/flags/{flag_id}", response_model=FlagDetail,
            responses=errors(401, 403, 404, 422))
async def one_flag(flag: ScopedFlag, principal: TeamReader, auditor: AuditorDep,
                   lang: LanguageQuery = "da") -> dict:
    """One flag of the school's lists with its reasons and latest review. Audited."""
    await run_in_threadpool(
        auditor.record, audit.READ_FLAG, school_id=flag["school_id"], pupils=[flag["pupil_id"]],
        detail={"week": flag["week"], "section": flag["section"], "language": lang})
    return flag


@router.post("/v1/flags/{flag_id}/review", response_model=ReviewOut, status_code=201,
             responses=errors(401, 403, 404, 422))
async def review_flag(request: Request, review: ReviewIn, flag: ReviewableFlag,
                      principal: Reviewer, engine: EngineDep, auditor: AuditorDep) -> dict:
    """Record the detection team's coded decision about a flag of its own school. A flag never
    triggers anything by itself: this is the person's decision, recorded. Audited."""
    from serving.stored_lists import record_review

    decided_by = f"{principal.role}:{principal.name}"[:64]

    def record_and_audit():
        recorded = record_review(engine, flag["id"], review.decision, decided_by,
                                 review.decided_on)
        auditor.record(audit.REVIEW, school_id=recorded["school_id"],
                       pupils=[recorded["pupil_id"]],
                       detail={"week": recorded["week"], "decision": recorded["decision"]})
        return recorded

    recorded = await run_in_threadpool(record_and_audit)
    request.app.state.lists.invalidate(recorded["school_id"])  # the lists show it at once
    return recorded
