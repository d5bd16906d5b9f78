"""Token management for admins (the same as `ews token ...`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.concurrency import run_in_threadpool

from serving import audit
from serving.api.deps import Admin, AuditorDep, EngineDep
from serving.api.routes import errors
from serving.api.schemas import TokenCreate, TokenCreated, TokenInfo
from serving.auth import create_token, list_tokens, revoke_token

router = APIRouter(tags=["tokens"])
TokenIdPath = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/v1/tokens", response_model=list[TokenInfo], responses=errors(401, 403))
def tokens(principal: Admin, engine: EngineDep) -> list[dict]:
    """Every token's record (never a secret)."""
    return list_tokens(engine)


@router.post("/v1/tokens", response_model=TokenCreated, status_code=201,
             responses=errors(401, 403, 422))
async def new_token(body: TokenCreate, principal: Admin, engine: EngineDep,
                    auditor: AuditorDep) -> dict:
    """Create a token; its secret is in this answer only."""
    lifetime = timedelta(days=body.expires_in_days) if body.expires_in_days else None
    created = await run_in_threadpool(create_token, engine, body.role, body.school_id, body.name,
                                      lifetime)
    await run_in_threadpool(auditor.record, audit.TOKEN_CREATE, school_id=created.school_id,
                            detail={"token_id": created.id, "role": created.role})
    return created.__dict__


@router.delete("/v1/tokens/{token_id}", response_model=TokenInfo,
               responses=errors(401, 403, 422))
async def revoke(token_id: TokenIdPath, principal: Admin, engine: EngineDep,
                 auditor: AuditorDep) -> dict:
    """Revoke a token by id; it stops working at once."""
    await run_in_threadpool(revoke_token, engine, str(token_id))
    await run_in_threadpool(auditor.record, audit.TOKEN_REVOKE, detail={"token_id": token_id})
    return next(t for t in list_tokens(engine) if t["id"] == token_id)
