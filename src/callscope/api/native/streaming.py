"""The streaming view (docs/streaming.md): data slices and real-time stats.

    /v1/apps/{app_id}/data-slices[/{slice_id}]   saved filters: create, list, read, replace, delete
    /v1/apps/{app_id}/streaming/realtime          connections, bandwidth, top countries at an instant

Every number comes from `analytics.streaming.realtime_stats`; this module parses, resolves media
server names to the rooms placed on them, and renders. Bad input is a 400 problem (not FastAPI's
422), so query parameters are read as text and checked here.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from callscope.analytics import streaming
from callscope.api.deps import AppOwnerDep, ServicesDep, read_body
from callscope.api.native import schemas
from callscope.api.native.calls import _when
from callscope.api.responses import JSONBytes
from callscope.domain.timestamps import US_PER_S, now_us, to_epoch_us
from callscope.errors import BadRequest, MalformedBody

router = APIRouter(tags=["streaming"], responses=schemas.ERRORS)
BODY_LIMIT_BYTES = 256 * 1024
FUTURE_TOLERANCE_S = 60  # `at` may lead this server's clock by a client's skew, not more


class _StreamBody(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    user_id: str


class _SliceBody(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    room_ids: list[str] = []
    streams: list[_StreamBody] = []
    media_servers: list[str] = []


_decoder = msgspec.json.Decoder(_SliceBody)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StreamSpec(_Strict):
    room_id: str
    user_id: str = Field(description="The publisher")


class DataSliceRequest(_Strict):
    name: str = Field(description="1-128 characters")
    room_ids: list[str] = Field([], description="Rooms; empty: every room")
    streams: list[StreamSpec] = Field([], description="Published streams; empty: every stream")
    media_servers: list[str] = Field([], description="Janus node names; empty: every server")


class DataSlice(DataSliceRequest):
    slice_id: str = Field(description="24 hex characters, fixed for the slice's life")
    created_at: datetime


class DataSliceList(_Strict):
    data_slices: list[DataSlice]


class CountryConnections(_Strict):
    country: str = Field(description="ISO 3166-1 alpha-2")
    connections: int


class CityConnections(_Strict):
    country: str
    city: str
    connections: int


class RealtimeStats(_Strict):
    at: datetime = Field(description="The instant described")
    window_s: int = Field(
        description="Bandwidth window: newest bitrate per stream in the seconds before `at`"
    )
    connections: int = Field(description="Participant sessions online at `at`")
    bandwidth_in_kbps: float = Field(description="Sum of published (up) streams' newest bitrate")
    bandwidth_out_kbps: float = Field(description="Sum of received (down) streams' newest bitrate")
    bandwidth_kbps: float = Field(description="In plus out")
    streams_measured: int = Field(description="Streams whose bitrate entered the sums")
    countries: list[CountryConnections] = Field(description="Top 20 countries by connections")
    unknown_country_connections: int = Field(description="Connections with no known country")
    cities: list[CityConnections] = Field(description="Top 20 cities, where the client reported one")
    definition_version: str


_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": DataSliceRequest.model_json_schema()}},
    }
}


def _slice_json(found: streaming.DataSlice) -> dict[str, Any]:
    return {
        "slice_id": found.slice_id,
        "name": found.name,
        **found.filters.to_json(),
        "created_at": found.created_at,
    }


async def _slice_body(request: Request) -> tuple[str, streaming.SliceFilters]:
    body = await read_body(request, BODY_LIMIT_BYTES)
    try:
        parsed = _decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"data slice: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise MalformedBody(f"body is not JSON: {exc}") from exc
    filters = streaming.check_filters(
        parsed.room_ids, [(s.room_id, s.user_id) for s in parsed.streams], parsed.media_servers
    )
    return parsed.name, filters


@router.post(
    "/v1/apps/{app_id}/data-slices",
    status_code=201,
    response_model=DataSlice,
    openapi_extra=_BODY_DOC,
    summary="Save a data slice: a filter over rooms, published streams and media servers",
)
async def create_slice(app_id: AppOwnerDep, services: ServicesDep, request: Request) -> JSONBytes:
    name, filters = await _slice_body(request)
    store = streaming.SliceStore(services.backend)
    created = await asyncio.to_thread(store.create, app_id, name, filters)
    return JSONBytes(_slice_json(created), status_code=201)


@router.get(
    "/v1/apps/{app_id}/data-slices", response_model=DataSliceList, summary="Data slices, oldest first"
)
async def list_slices(app_id: AppOwnerDep, services: ServicesDep) -> JSONBytes:
    found = await asyncio.to_thread(streaming.SliceStore(services.backend).list_slices, app_id)
    return JSONBytes({"data_slices": [_slice_json(s) for s in found]})


@router.get("/v1/apps/{app_id}/data-slices/{slice_id}", response_model=DataSlice)
async def get_slice(app_id: AppOwnerDep, slice_id: str, services: ServicesDep) -> JSONBytes:
    found = await asyncio.to_thread(streaming.SliceStore(services.backend).get, app_id, slice_id)
    return JSONBytes(_slice_json(found))


@router.put(
    "/v1/apps/{app_id}/data-slices/{slice_id}",
    response_model=DataSlice,
    openapi_extra=_BODY_DOC,
    summary="Replace a data slice's name and filters (its id stays)",
)
async def replace_slice(
    app_id: AppOwnerDep, slice_id: str, services: ServicesDep, request: Request
) -> JSONBytes:
    name, filters = await _slice_body(request)
    store = streaming.SliceStore(services.backend)
    replaced = await asyncio.to_thread(store.replace, app_id, slice_id, name, filters)
    return JSONBytes(_slice_json(replaced))


@router.delete("/v1/apps/{app_id}/data-slices/{slice_id}", status_code=204)
async def delete_slice(app_id: AppOwnerDep, slice_id: str, services: ServicesDep) -> Response:
    await asyncio.to_thread(streaming.SliceStore(services.backend).delete, app_id, slice_id)
    return Response(status_code=204)


def _placements(request: Request, app_id: str) -> dict[str, frozenset[str]]:
    """Each configured media server's rooms of this app, as placed now (placements live in memory)."""
    runtime = getattr(request.app.state, "janus", None)
    if runtime is None:
        return {}
    return {
        name: frozenset(room_id for (owner, room_id) in node.rooms if owner == app_id)
        for name, node in runtime.controller.nodes.items()
    }


def _at_us(at: str | None) -> int:
    now = now_us()
    if at is None:
        return now
    at_us = to_epoch_us(_when(at, "at"))
    if at_us > now + FUTURE_TOLERANCE_S * US_PER_S:
        raise BadRequest("at is in the future", field="at")
    return at_us


def _window_s(window_s: str | None) -> int:
    if window_s is None:
        return streaming.DEFAULT_WINDOW_S
    if not window_s.isdigit():
        raise BadRequest(f"window_s must be whole seconds, 1-{streaming.MAX_WINDOW_S}", field="window_s")
    return streaming.check_window(int(window_s))


@router.get(
    "/v1/apps/{app_id}/streaming/realtime",
    response_model=RealtimeStats,
    summary="Connections, bandwidth and top countries now (or at `at`) for a slice, stream or server",
)
async def realtime(
    app_id: AppOwnerDep,
    services: ServicesDep,
    request: Request,
    data_slice: Annotated[str | None, Query(description="A data slice id")] = None,
    room_id: Annotated[str | None, Query(description="With `publisher`: one published stream")] = None,
    publisher: Annotated[str | None, Query(description="The stream's publisher (user id)")] = None,
    media_server: Annotated[str | None, Query(description="A Janus node name")] = None,
    at: Annotated[str | None, Query(description="RFC 3339 or epoch ms; default now")] = None,
    window_s: Annotated[str | None, Query(description="Bandwidth window, 1-60 s; default 10")] = None,
) -> JSONBytes:
    """All given filters apply together; none given: the whole app."""
    at_us, window = _at_us(at), _window_s(window_s)
    if (room_id is None) != (publisher is None):
        raise BadRequest("a stream is named by room_id and publisher together", field="publisher")
    stream = None
    if room_id is not None and publisher is not None:
        stream = streaming.StreamRef(
            streaming.check_id(room_id, "room_id"), streaming.check_id(publisher, "publisher")
        )
    filters = None
    if data_slice is not None:
        store = streaming.SliceStore(services.backend)
        filters = (await asyncio.to_thread(store.get, app_id, data_slice)).filters
    selection = streaming.Selection.build(
        data_slice=filters,
        stream=stream,
        media_server=media_server,
        placements=_placements(request, app_id),
    )
    stats = await asyncio.to_thread(
        streaming.realtime_stats,
        services.backend,
        app_id=app_id,
        selection=selection,
        at_us=at_us,
        window_s=window,
    )
    return JSONBytes({**stats.__dict__, "bandwidth_kbps": stats.bandwidth_kbps})
