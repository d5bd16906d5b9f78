"""A pupil's risk with reasons, and the weekly history over a school year."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from serving import audit
from serving.api.deps import (
    AuditorDep,
    MaybeServedModelDep,
    Reader,
    ScopedPupilAt,
    ScopedPupilYear,
    ServiceDep,
    SnapshotDep,
)
from serving.api.routes import errors
from serving.api.schemas import Language, PupilHistory, PupilRisk
from serving.problems import not_found

NO_MODEL_MESSAGE = ("no champion model is loaded (none is promoted yet, or the registry cannot be "
                    "read: see /health): no risk is given until one is; the rules (already "
                    "concerning, the statutory quarter rule) still apply")

router = APIRouter(tags=["pupils"])


@router.get("/v1/pupils/{pupil_id}/risk", response_model=PupilRisk,
            responses=errors(401, 403, 404, 422))
async def pupil_risk(request: Request, pupil: ScopedPupilAt, principal: Reader,
                     served: MaybeServedModelDep, service: ServiceDep, snap: SnapshotDep,
                     auditor: AuditorDep, lang: Language = "da") -> Response:
    """The pupil's risk as of a date (default: the latest registered school day) computed from
    the store's current data with the champion, with its reasons. Audited.

    Without a champion (none promoted yet) the answer is still 200: `risk`, `band` and
    `model_version` are null, `reasons` empty, `already_concerning` and `statutory_level` say
    what the rules say, and `message` says that the risk waits for a promoted model."""
    enrolment = pupil.enrolment

    def compute_and_audit():  # one trip to the thread pool for both
        if served is None:
            settings = request.app.state.settings
            found = service.pupil_rules(snap, enrolment, pupil.as_of, lang,
                                        settings.statutory_warning,
                                        settings.statutory_notification, NO_MODEL_MESSAGE)
            body = (PupilRisk.model_validate(found).model_dump_json().encode()
                    if found is not None else None)
        else:
            body = service.pupil_risk_json(snap, served, enrolment, pupil.as_of, lang, PupilRisk)
        if body is not None:
            auditor.record(audit.READ_RISK, school_id=enrolment.school_id,
                           pupils=[enrolment.pupil_id],
                           detail={"as_of": pupil.as_of.isoformat(), "language": lang,
                                   "model_version": served.version if served else None})
        return body

    body = await run_in_threadpool(compute_and_audit)
    if body is None:
        raise not_found("The pupil is not on roll at that date.")
    request.app.state.metrics.scores("risk")
    return Response(body, media_type="application/json")  # validated as PupilRisk when built


@router.get("/v1/pupils/{pupil_id}/history", response_model=PupilHistory,
            responses=errors(401, 403, 404, 422))
async def pupil_history(request: Request, pupil: ScopedPupilYear, principal: Reader,
                        served: MaybeServedModelDep, service: ServiceDep, snap: SnapshotDep,
                        auditor: AuditorDep) -> dict:
    """The pupil's weekly absence over a school year, and the risk as of the Monday after each
    week (what that Monday's list used). Without a champion: the absence, risk null. Audited."""

    def compute_and_audit():
        weeks = service.history(snap, served, pupil)
        auditor.record(audit.READ_HISTORY, school_id=pupil.school_id, pupils=[pupil.pupil_id],
                       detail={"school_year": pupil.school_year, "weeks": len(weeks),
                               "model_version": served.version if served else None})
        return weeks

    weeks = await run_in_threadpool(compute_and_audit)
    request.app.state.metrics.scores("history", sum(w["risk"] is not None for w in weeks))
    return {"pupil_id": pupil.pupil_id, "school_id": pupil.school_id,
            "school_year": pupil.school_year,
            "model_version": served.version if served else None, "weeks": weeks}
