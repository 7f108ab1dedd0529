"""`/v1/rooms/signal`: the WebSocket through which clients join media rooms (media/signaling.py).

The first message (or the `token` query parameter) carries the join token. Messages are JSON
text frames in both directions; the message set is in media/signaling.py. A connection without a
valid token within `FIRST_MESSAGE_S` is closed with code 4401 after an `error` message; a removed
(kicked) or dismissed client is closed with code 4000 after its notice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from callscope.api.deps import Services
from callscope.collectors.checks import Window
from callscope.collectors.decode import Decoded
from callscope.collectors.events import event_rows
from callscope.domain.events import Event
from callscope.domain.samples import Source
from callscope.domain.tenancy import IngestScope
from callscope.domain.timestamps import now_us
from callscope.errors import CallscopeError
from callscope.media.join_tokens import JoinGrant
from callscope.media.participants import Message, Peer
from callscope.media.signaling import SignalingHub, TelemetryGrant
from callscope.settings import Settings
from callscope.storage.writer import GroupCommitWriter

router = APIRouter(tags=["media"])
log = logging.getLogger(__name__)
FIRST_MESSAGE_S = 10.0
CLOSE_UNAUTHORIZED, CLOSE_REMOVED, CLOSE_UNAVAILABLE = 4401, 4000, 4503


def event_recorder(writer: GroupCommitWriter, settings: Settings) -> Any:
    """Store signaling events (kicked, dismissed, publish, mute) like the collector's: server."""

    def record(app_id: str, events: list[Event]) -> None:
        window = Window(now_us(), settings.max_sample_age_s, settings.max_clock_skew_s)
        rows, _, problems = event_rows(
            Decoded(list(enumerate(events)), [], len(events)),
            app_id=app_id,
            scope=IngestScope(app_id),
            window=window,
            source=Source.SERVER,
        )
        for problem in problems:
            log.warning("signaling event refused", extra={"problem": problem.message})
        if not len(rows):
            return
        try:
            writer.submit({"events": rows})
        except CallscopeError as exc:
            log.warning("signaling events dropped", extra={"rows": len(rows), "error": exc.message})

    return record


def telemetry_grant(services: Services) -> TelemetryGrant:
    """The ingest token a joined page reports its getStats() with: the join token vouches for
    (app, room, user), so the page needs no second round trip to the app's backend and never
    sees the app's secret key."""

    def grant(join: JoinGrant) -> Message:
        issued = services.tokens.issue(
            IngestScope(join.app_id, join.room_id, join.user_id),
            ttl_s=services.settings.ingest_token_default_ttl_s,
            now_us=now_us(),
        )
        return {"token": issued.token, "expires_at": issued.expires_at_s}

    return grant


@router.websocket("/v1/rooms/signal")
async def signal(websocket: WebSocket) -> None:
    await websocket.accept()
    lock = asyncio.Lock()

    async def send(message: Message) -> None:
        async with lock:
            await websocket.send_text(orjson.dumps(message).decode())

    hub: SignalingHub | None = getattr(websocket.app.state, "signaling", None)
    if hub is None:
        await send({"type": "error", "message": "no media server is configured"})
        await websocket.close(CLOSE_UNAVAILABLE)
        return
    try:
        query_token = websocket.query_params.get("token")
        if query_token:
            first: Message = {"type": "join", "token": query_token}
        else:
            first = orjson.loads(await asyncio.wait_for(websocket.receive_text(), FIRST_MESSAGE_S))
            if not isinstance(first, dict):
                first = {}
        peer = await hub.join(first, send)
    except (TimeoutError, orjson.JSONDecodeError, CallscopeError) as exc:
        text = exc.message if isinstance(exc, CallscopeError) else "the first message must be a join"
        code = (
            CLOSE_UNAVAILABLE if isinstance(exc, CallscopeError) and exc.status >= 500 else CLOSE_UNAUTHORIZED
        )
        with contextlib.suppress(Exception):
            await send({"type": "error", "request": "join", "message": text})
            await websocket.close(code)
        return
    except WebSocketDisconnect:
        return
    await _serve(websocket, hub, peer, send)


async def _serve(websocket: WebSocket, hub: SignalingHub, peer: Peer, send: Any) -> None:
    async def read() -> None:
        while not peer.gone.is_set():
            text = await websocket.receive_text()
            try:
                message = orjson.loads(text)
            except orjson.JSONDecodeError:
                await send({"type": "error", "message": "messages are JSON objects"})
                continue
            if isinstance(message, dict):
                await hub.handle(peer, message)

    reader = asyncio.create_task(read())
    removed = asyncio.create_task(peer.gone.wait())
    try:
        await asyncio.wait({reader, removed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (reader, removed):
            task.cancel()
        await asyncio.gather(reader, removed, return_exceptions=True)
        if not peer.gone.is_set():
            await hub.leave(peer, "disconnected")
        else:
            with contextlib.suppress(Exception):
                await websocket.close(CLOSE_REMOVED)
