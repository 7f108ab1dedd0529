"""`POST /v1/ingest/{samples,events,webrtc}`: one outcome per item."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import APIRouter, Request
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from callscope.api.deps import Services, receive_body
from callscope.api.errors import callscope_problem, problem, unexpected_problem
from callscope.api.middleware import CORS_SIMPLE_HEADERS, RequestLog
from callscope.api.responses import JSONBytes
from callscope.collectors.outcomes import Outcome
from callscope.collectors.pipeline import Endpoint
from callscope.errors import BadRequest, CallscopeError

router = APIRouter(tags=["ingest"])
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")


# The hot route reads its two headers itself instead of declaring them as FastAPI parameters
# and dependencies: resolving those cost ~120 µs per request, as much as validating 30 samples.
# The OpenAPI entry still documents both (and the bearer auth) through `openapi_extra`.
_DOCUMENTED_HEADERS = {
    "parameters": [
        {
            "name": "Authorization",
            "in": "header",
            "required": True,
            "description": "`Bearer <app secret key>` or `Bearer <ingest token>`",
            "schema": {"type": "string"},
        },
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "1-128 printable ASCII characters; a repeated key stores nothing",
            "schema": {"type": "string"},
        },
    ]
}


@router.post(
    "/v1/ingest/{endpoint}",
    summary="Ingest a batch of samples, events or raw getStats() reports",
    responses={413: {"description": "Body or batch too large"}, 429: {"description": "Queue full"}},
    openapi_extra=_DOCUMENTED_HEADERS,
)
async def ingest(endpoint: Endpoint, request: Request) -> JSONBytes:
    """Body: `{"samples": [...]}`, `{"events": [...]}` or `{"reports": [...]}`.

    Answers 200 with counts per outcome and the non-accepted items (index, outcome, reason,
    field, message); 422 when every item is invalid. A repeated `Idempotency-Key` stores
    nothing and answers `replayed: true`.
    """
    # Served by IngestLane below; FastAPI reaches this only if the lane is bypassed.
    services: Services = request.app.state.services
    return await _answer(services, endpoint, request.scope, _Headers(request.scope), request.receive)


async def _answer(
    services: Services, endpoint: Endpoint, scope: Scope, headers: _Headers, receive: Receive
) -> JSONBytes:
    # Authentication comes first, before the body is read: an unauthenticated caller learns nothing.
    # The peer address is the proxy-resolved one (uvicorn believes X-Forwarded-For only from the
    # proxies in FORWARDED_ALLOW_IPS, loopback by default: docs/streaming.md), used for browsers'
    # join events only (see IngestScope).
    client_ip = scope["client"][0] if scope.get("client") else ""
    ingest_scope = services.auth.ingest_scope(headers.get(b"authorization"), client_ip)
    idempotency_key = headers.get(b"idempotency-key")
    if idempotency_key is not None and not _IDEMPOTENCY_KEY.match(idempotency_key):
        raise BadRequest("Idempotency-Key must be 1-128 printable ASCII characters")
    body = await receive_body(
        receive,
        services.settings.max_body_bytes,
        content_length=headers.get(b"content-length"),
        content_encoding=headers.get(b"content-encoding"),
    )
    summary = await services.pipeline.ingest(
        endpoint, body, scope=ingest_scope, idempotency_key=idempotency_key
    )
    wire = summary.to_wire()
    if summary.total and summary.count(Outcome.INVALID) == summary.total:
        return problem(422, "unprocessable", f"all {summary.total} items are invalid", **wire)
    return JSONBytes(wire)


class _Headers:
    """A request's headers by lowercase name, the first of repeated ones (as Starlette's
    `Headers.get`), from one pass over the ASGI list instead of a scan per lookup."""

    __slots__ = ("_by_name",)

    def __init__(self, scope: Scope) -> None:
        self._by_name = dict(reversed(scope["headers"]))

    def raw(self, name: bytes) -> bytes | None:
        return self._by_name.get(name)

    def get(self, name: bytes) -> str | None:
        value = self._by_name.get(name)
        return None if value is None else value.decode("latin-1")


_LANE_PATHS = {f"/v1/ingest/{endpoint.value}": endpoint for endpoint in Endpoint}


class IngestLane:
    """Serves `POST /v1/ingest/{endpoint}` ahead of every other layer of the app: FastAPI's
    router and dependency solving, its error and body-limit middleware, and our own request-id
    and CORS middleware, whose work (api/middleware.py: `RequestLog`, `CORS_SIMPLE_HEADERS`)
    it does itself, in one pass over the response instead of one wrapped `send` per layer.

    Why: ingest is nearly all of a busy server's requests, and the event loop is its bottleneck.
    Inside those layers (behind CORS and request ids, answering through a Starlette Request and
    Response), the 1,024-client bench ran at 131-145 k samples/s with 5.7-6.0 µs of event-loop
    CPU per sample; ahead of them, at 149-152 k and 5.2 µs (three alternating pairs). The route
    above stays registered, so OpenAPI documents it; anything this lane does not recognise
    takes the normal path.
    """

    def __init__(self, app: ASGIApp, services: Callable[[], Services]) -> None:
        self.app = app
        self._services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = None
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = _LANE_PATHS.get(scope["path"])
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        headers = _Headers(scope)
        entry = RequestLog(scope, headers.raw(b"x-request-id") or b"")
        try:
            try:
                response = await _answer(self._services(), endpoint, scope, headers, receive)
            except CallscopeError as exc:
                response = callscope_problem(exc)
            except ClientDisconnect:
                entry.status = 499  # logged as nginx logs it: the client closed the request
                return
            except Exception:  # noqa: BLE001 - answered as FastAPI's 500 handler answers
                response = unexpected_problem()
            entry.status = response.status_code
            cors = CORS_SIMPLE_HEADERS[headers.raw(b"origin") is not None]
            start = [*response.raw_headers, *cors, entry.header]
            await send({"type": "http.response.start", "status": entry.status, "headers": start})
            await send({"type": "http.response.body", "body": response.body})
        finally:
            entry.finish()
