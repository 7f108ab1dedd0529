"""Janus routes: the event-handler collector and the operator's view of the media plane.

`POST /v1/janus/events` is what Janus's sample HTTP event handler posts to (basic auth: the node
name and its event secret). It parses, queues and answers; storing happens after the answer,
because the handler blocks its one thread on each POST and drops events after a few retries.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from callscope.api.deps import AdminDep, AuthorizationHeader, ServicesDep, read_body
from callscope.api.responses import JSONBytes
from callscope.collectors.janus import JanusTelemetry
from callscope.errors import AuthError, NotFound
from callscope.media.controller import MediaController
from callscope.media.nodes import NodeSecrets

router = APIRouter(tags=["media"])


@dataclass
class JanusRuntime:
    """The media plane of a running app (`app.state.janus`), when any Janus node is configured."""

    controller: MediaController
    telemetry: JanusTelemetry
    secrets: NodeSecrets


def _runtime(request: Request) -> JanusRuntime:
    runtime: JanusRuntime | None = getattr(request.app.state, "janus", None)
    if runtime is None:
        raise NotFound("no Janus node is configured (CALLSCOPE_JANUS_MANAGED, CALLSCOPE_JANUS_NODES)")
    return runtime


def _node(runtime: JanusRuntime, authorization: str | None) -> str:
    scheme, _, encoded = (authorization or "").partition(" ")
    try:
        node, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        node, password = "", ""
    if scheme.lower() != "basic" or not runtime.secrets.check(node, password):
        raise AuthError("Janus event handler credentials are missing or wrong")
    return node


@router.post("/v1/janus/events", summary="Janus event handler batches (basic auth: node, event secret)")
async def janus_events(
    request: Request, services: ServicesDep, authorization: AuthorizationHeader = None
) -> JSONBytes:
    runtime: JanusRuntime | None = getattr(request.app.state, "janus", None)
    if runtime is None:  # no node, so no credential can be right: refuse as for a wrong one
        raise AuthError("Janus event handler credentials are missing or wrong")
    node = _node(runtime, authorization)
    body = await read_body(request, services.settings.max_body_bytes)
    return JSONBytes({"received": runtime.telemetry.accept(node, body)})


class RoomPlacement(BaseModel):
    app_id: str = Field(min_length=1, max_length=128)
    room_id: str = Field(min_length=1, max_length=128)


@router.get("/v1/admin/media/nodes", summary="Janus nodes: health, load, restarts")
async def media_nodes(request: Request, _: AdminDep) -> JSONBytes:
    runtime = _runtime(request)
    nodes: list[dict[str, Any]] = runtime.controller.status()
    for node in nodes:
        node["live_sessions"] = runtime.telemetry.live_sessions(node["name"])
    return JSONBytes({"nodes": nodes, "telemetry": dict(runtime.telemetry.counts)})


@router.post("/v1/admin/media/rooms", summary="Place a room on a Janus node (created on first use)")
async def place_room(body: RoomPlacement, request: Request, _: AdminDep) -> JSONBytes:
    runtime = _runtime(request)
    room = await runtime.controller.place_room(body.app_id, body.room_id)
    return JSONBytes(room.public(runtime.controller.public_url(room.node)))


@router.delete("/v1/admin/media/rooms/{app_id}/{room_id}", summary="Destroy a room's Janus room")
async def close_room(app_id: str, room_id: str, request: Request, _: AdminDep) -> JSONBytes:
    await _runtime(request).controller.close_room(app_id, room_id)
    return JSONBytes({"closed": True})
