"""Media rooms, for an app's backend (its secret key): join tokens, removing users, dismissing.

`POST /v1/apps/{app_id}/rooms/{room_id}/join-tokens` mints a signed, expiring token for one
user with publish/subscribe permissions (media/join_tokens.py); the page hands it to
`/v1/rooms/signal`. `.../kick` removes users (every client is told, subscribers included; the
users' tokens are revoked), `.../dismiss` ends the room for everyone.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from callscope.api.deps import AppOwnerDep, ServicesDep
from callscope.domain.ids import ID_MAX_CHARS, ID_PATTERN
from callscope.errors import BadRequest, NotFound
from callscope.media.join_tokens import JoinTokens
from callscope.media.signaling import SignalingHub

router = APIRouter(tags=["media"])


class JoinTokenRequest(BaseModel):
    user_id: str = Field(min_length=1, max_length=ID_MAX_CHARS, pattern=ID_PATTERN)
    publish: bool = Field(True, description="May publish camera, microphone, screen.")
    subscribe: bool = Field(True, description="May receive the other participants.")
    ttl_s: int | None = Field(None, ge=60, description="Lifetime; capped by the server's maximum.")


class JoinTokenResponse(BaseModel):
    token: str
    token_id: str
    expires_at: int = Field(description="Unix seconds")
    app_id: str
    room_id: str
    user_id: str
    publish: bool
    subscribe: bool
    signal_url: str = Field(description="The WebSocket to join through")


class RemoveRequest(BaseModel):
    user_ids: list[str] = Field(min_length=1, max_length=100)
    reason: str = Field("removed by the app", max_length=200)


class DismissRequest(BaseModel):
    reason: str = Field("room dismissed by the app", max_length=200)


def _tokens(request: Request) -> JoinTokens:
    tokens: JoinTokens = request.app.state.join_tokens
    return tokens


def _hub(request: Request) -> SignalingHub:
    hub: SignalingHub | None = getattr(request.app.state, "signaling", None)
    if hub is None:
        raise NotFound("no media server is configured (CALLSCOPE_JANUS_MANAGED, CALLSCOPE_JANUS_NODES)")
    return hub


def _room_id(room_id: str) -> str:
    if len(room_id) > ID_MAX_CHARS or not room_id.strip() or room_id != room_id.strip():
        raise BadRequest("room_id is not a valid id", field="room_id")
    return room_id


@router.post("/v1/apps/{app_id}/rooms/{room_id}/join-tokens", status_code=201)
async def create_join_token(
    app_id: AppOwnerDep, room_id: str, body: JoinTokenRequest, request: Request, services: ServicesDep
) -> JoinTokenResponse:
    """Mint a token that lets one user join one media room with these permissions."""
    settings = services.settings
    token, grant = _tokens(request).issue(
        app_id,
        _room_id(room_id),
        body.user_id,
        publish=body.publish,
        subscribe=body.subscribe,
        ttl_s=body.ttl_s or settings.join_token_default_ttl_s,
        now_s=int(time.time()),
    )
    ws = settings.resolved_public_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    return JoinTokenResponse(
        token=token,
        token_id=grant.token_id,
        expires_at=grant.expires_at_s,
        app_id=app_id,
        room_id=room_id,
        user_id=body.user_id,
        publish=grant.publish,
        subscribe=grant.subscribe,
        signal_url=f"{ws}/v1/rooms/signal",
    )


@router.post("/v1/apps/{app_id}/rooms/{room_id}/kick", summary="Remove users from a media room")
async def kick(app_id: AppOwnerDep, room_id: str, body: RemoveRequest, request: Request) -> dict[str, object]:
    sessions = await _hub(request).remove(app_id, room_id, set(body.user_ids), body.reason)
    return {"removed_sessions": sessions}


@router.post("/v1/apps/{app_id}/rooms/{room_id}/dismiss", summary="End a media room for everyone")
async def dismiss(
    app_id: AppOwnerDep, room_id: str, request: Request, body: DismissRequest | None = None
) -> dict[str, object]:
    reason = body.reason if body is not None else DismissRequest().reason
    sessions = await _hub(request).dismiss(app_id, room_id, reason)
    return {"closed_sessions": sessions}
