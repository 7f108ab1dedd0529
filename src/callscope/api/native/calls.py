"""`/v1/apps/{app_id}/…`: rooms, room instances, participants, streams, series and timelines."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query

from callscope.analytics import calls
from callscope.analytics.limits import ROOM_LIST
from callscope.analytics.timerange import MAX_SPAN_S, TimeRange
from callscope.api.deps import AppOwnerDep, ServicesDep
from callscope.api.native import schemas
from callscope.api.responses import JSONBytes
from callscope.domain.timestamps import WireTimestamp
from callscope.errors import BadRequest

router = APIRouter(tags=["calls"], responses=schemas.ERRORS)
When = Annotated[str, Query(description="RFC 3339 with an offset, or milliseconds since the epoch")]


def _when(value: str, name: str) -> WireTimestamp:
    if value.isdigit():
        return int(value)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f"{name}: not a timestamp: {value!r}", field=name) from exc


def time_range(start: str, end: str, *, max_span_s: int = MAX_SPAN_S) -> TimeRange:
    """The query's window; each analytics function then applies its own family's limits."""
    return TimeRange.parse(_when(start, "start"), _when(end, "end"), max_span_s=max_span_s)


def _cursor_encode(start_ts: datetime, instance_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([start_ts.isoformat(), instance_id])).decode()


def _cursor_decode(cursor: str) -> tuple[datetime, str]:
    try:
        start, instance_id = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(start), str(instance_id)
    except (ValueError, TypeError) as exc:
        raise BadRequest("cursor is not one this API returned", field="cursor") from exc


@router.get(
    "/v1/apps/{app_id}/room-instances",
    summary="Room instances in a time range, newest first",
    response_model=schemas.RoomInstancePage,
)
async def list_room_instances(
    app_id: AppOwnerDep,
    services: ServicesDep,
    start: When,
    end: When,
    state: Literal["RUNNING", "CLOSED"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> JSONBytes:
    window = time_range(start, end, max_span_s=ROOM_LIST.max_span_s)
    found = await asyncio.to_thread(
        calls.room_instances,
        services.backend,
        app_id=app_id,
        window=window,
        now=datetime.now(tz=UTC),
        state=state,
    )
    if cursor is not None:
        after = _cursor_decode(cursor)
        found = [i for i in found if (i.start_ts, i.instance_id) < after]
    page = found[:limit]
    next_cursor = _cursor_encode(page[-1].start_ts, page[-1].instance_id) if len(found) > limit else None
    return JSONBytes({"room_instances": [i.__dict__ for i in page], "next_cursor": next_cursor})


@router.get(
    "/v1/apps/{app_id}/rooms/{room_id}/instances/{instance_id}/participants",
    response_model=schemas.ParticipantList,
)
async def list_participants(
    app_id: AppOwnerDep, room_id: str, instance_id: str, services: ServicesDep, start: When, end: When
) -> JSONBytes:
    window = time_range(start, end, max_span_s=ROOM_LIST.max_span_s)
    found = await asyncio.to_thread(
        calls.participants,
        services.backend,
        app_id=app_id,
        room_id=room_id,
        instance_id=instance_id,
        window=window,
        now=datetime.now(tz=UTC),
    )
    return JSONBytes({"participants": [p.__dict__ for p in found]})


@router.get(
    "/v1/apps/{app_id}/rooms/{room_id}/sessions/{session_id}/streams", response_model=schemas.StreamList
)
async def list_streams(
    app_id: AppOwnerDep, room_id: str, session_id: str, services: ServicesDep
) -> JSONBytes:
    found = await asyncio.to_thread(
        calls.streams, services.backend, app_id=app_id, room_id=room_id, session_id=session_id
    )
    return JSONBytes({"streams": found})


@router.get("/v1/apps/{app_id}/rooms/{room_id}/sessions/{session_id}/series", response_model=schemas.Series)
async def stream_series(
    app_id: AppOwnerDep,
    room_id: str,
    session_id: str,
    services: ServicesDep,
    start: When,
    end: When,
    kind: Literal["audio", "video", "screen", "connection", "device"],
    direction: Literal["up", "down", "none"],
    peer_id: str = "",
    interval: Literal["raw", "10s", "1m"] = "raw",
) -> JSONBytes:
    """One stream's samples: raw, or min/avg/max per 10 s or 1 min (unmeasured values excluded)."""
    window = time_range(start, end)
    points = await asyncio.to_thread(
        calls.series,
        services.backend,
        app_id=app_id,
        room_id=room_id,
        session_id=session_id,
        kind=kind,
        direction=direction,
        peer_id=peer_id,
        window=window,
        interval=interval,
    )
    return JSONBytes({"interval": interval, "points": points})


@router.get("/v1/apps/{app_id}/rooms/{room_id}/events", response_model=schemas.Timeline)
async def room_timeline(
    app_id: AppOwnerDep, room_id: str, services: ServicesDep, start: When, end: When, session_id: str = ""
) -> JSONBytes:
    """The event timeline of a room (or of one participant session in it)."""
    window = time_range(start, end, max_span_s=ROOM_LIST.max_span_s)
    events = await asyncio.to_thread(
        calls.timeline, services.backend, app_id=app_id, room_id=room_id, window=window, session_id=session_id
    )
    return JSONBytes({"events": events})
