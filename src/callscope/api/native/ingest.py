"""`POST /v1/ingest/{samples,events,webrtc}`: one outcome per item."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from callscope.api.deps import Services, read_body
from callscope.api.errors import callscope_problem, problem
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
    services: Services = request.app.state.services
    headers = request.headers
    # Authentication comes first, before the body is read: an unauthenticated caller learns nothing.
    # The peer address is the proxy-resolved one (uvicorn trusts X-Forwarded-For only from
    # CALLSCOPE's configured proxies), used for browsers' join events only (see IngestScope).
    client_ip = request.client.host if request.client else ""
    scope = services.auth.ingest_scope(headers.get("authorization"), client_ip)
    idempotency_key = headers.get("idempotency-key")
    if idempotency_key is not None and not _IDEMPOTENCY_KEY.match(idempotency_key):
        raise BadRequest("Idempotency-Key must be 1-128 printable ASCII characters")
    body = await read_body(request, services.settings.max_body_bytes)
    summary = await services.pipeline.ingest(endpoint, body, scope=scope, idempotency_key=idempotency_key)
    wire = summary.to_wire()
    if summary.total and summary.count(Outcome.INVALID) == summary.total:
        return problem(422, "unprocessable", f"all {summary.total} items are invalid", **wire)
    return JSONBytes(wire)


_LANE_PATHS = {f"/v1/ingest/{endpoint.value}": endpoint for endpoint in Endpoint}


class IngestLane:
    """Serves `POST /v1/ingest/{endpoint}` with the route function above, but without FastAPI's
    router, dependency solving and exception middleware between the two.

    Why: ingest is nearly all of a busy server's requests, and the event loop is its bottleneck.
    That machinery took ~24 % of the loop's GIL time at 1,024 clients (py-spy), as much as
    validating the samples. Everything outside it still applies, because this is the innermost
    user middleware: request ids and logs, CORS, the 500 handler. The route stays registered, so
    OpenAPI documents it and anything this lane does not recognise takes the normal path.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = None
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = _LANE_PATHS.get(scope["path"])
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await ingest(endpoint, request)
        except CallscopeError as exc:
            response = callscope_problem(exc)
        await response(scope, receive, send)
