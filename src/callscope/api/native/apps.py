"""App-scoped endpoints called by an app's backend with its secret key."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from callscope.api.deps import AppOwnerDep, ServicesDep
from callscope.domain.ids import ID_MAX_CHARS, ID_PATTERN
from callscope.domain.tenancy import IngestScope
from callscope.domain.timestamps import now_us

router = APIRouter(tags=["apps"])


class IngestTokenRequest(BaseModel):
    room_id: str = Field(min_length=1, max_length=ID_MAX_CHARS, pattern=ID_PATTERN)
    user_id: str = Field(min_length=1, max_length=ID_MAX_CHARS, pattern=ID_PATTERN)
    ttl_s: int | None = Field(None, ge=60, description="Lifetime; capped by the server's maximum.")


class IngestTokenResponse(BaseModel):
    token: str
    expires_at: int = Field(description="Unix seconds")
    app_id: str
    room_id: str
    user_id: str
    ingest_url: str


@router.post("/v1/apps/{app_id}/ingest-tokens", status_code=201)
def create_ingest_token(
    app_id: AppOwnerDep, body: IngestTokenRequest, services: ServicesDep
) -> IngestTokenResponse:
    """Mint a short-lived token a browser may use to report one user's quality in one room."""
    ttl_s = body.ttl_s or services.settings.ingest_token_default_ttl_s
    issued = services.tokens.issue(
        IngestScope(app_id, body.room_id, body.user_id), ttl_s=ttl_s, now_us=now_us()
    )
    return IngestTokenResponse(
        token=issued.token,
        expires_at=issued.expires_at_s,
        app_id=app_id,
        room_id=body.room_id,
        user_id=body.user_id,
        ingest_url=f"{services.settings.resolved_public_url}/v1/ingest",
    )
