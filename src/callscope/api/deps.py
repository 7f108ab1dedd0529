"""What routes receive: the running services, the caller's identity, a bounded body."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.requests import ClientDisconnect
from starlette.types import Receive

from callscope.api.auth import Authenticator
from callscope.api.tokens import IngestTokens
from callscope.collectors.pipeline import IngestPipeline
from callscope.domain.tenancy import IngestScope
from callscope.errors import BadRequest, PayloadTooLarge
from callscope.observability import Metrics
from callscope.settings import Settings
from callscope.storage.base import StorageBackend
from callscope.storage.tenancy import TenancyStore
from callscope.storage.writer import GroupCommitWriter


@dataclass
class Services:
    """Everything a running Callscope holds; built once by `app.build_services`."""

    settings: Settings
    backend: StorageBackend
    writer: GroupCommitWriter
    pipeline: IngestPipeline
    tenancy: TenancyStore
    tokens: IngestTokens
    auth: Authenticator
    metrics: Metrics

    def close(self) -> None:
        self.writer.stop()
        self.backend.close()


# Dependencies are `async def` on purpose: FastAPI runs plain `def` dependencies in a thread
# pool, two thread hops per ingest request, which cost more than the validation itself.
async def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(_services)]
AuthorizationHeader = Annotated[str | None, Header(alias="Authorization")]


async def _ingest_scope(services: ServicesDep, authorization: AuthorizationHeader = None) -> IngestScope:
    return services.auth.ingest_scope(authorization)


async def _admin(services: ServicesDep, authorization: AuthorizationHeader = None) -> None:
    services.auth.check_admin(authorization)


async def _app_owner(app_id: str, services: ServicesDep, authorization: AuthorizationHeader = None) -> str:
    return services.auth.app_owner(authorization, app_id)


IngestScopeDep = Annotated[IngestScope, Depends(_ingest_scope)]
# Dependencies run before the body is validated, so an unauthenticated caller learns nothing.
AppOwnerDep = Annotated[str, Depends(_app_owner)]
AdminDep = Annotated[None, Depends(_admin)]


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than `limit` bytes (after gzip decoding, if any)."""
    headers = request.headers
    return await receive_body(
        request.receive,
        limit,
        content_length=headers.get("content-length"),
        content_encoding=headers.get("content-encoding"),
    )


async def receive_body(
    receive: Receive, limit: int, *, content_length: str | None, content_encoding: str | None
) -> bytes:
    """The body of an ASGI request from its `receive` channel: `read_body` for code that has
    the raw ASGI request and not a Starlette one (api/native/ingest.py's IngestLane)."""
    if content_length is not None and content_length.isdigit() and int(content_length) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect  # as Starlette's `Request.stream()` does
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    encoding = (content_encoding or "identity").lower()
    if encoding == "gzip":
        inflater = zlib.decompressobj(wbits=31)
        try:
            body = inflater.decompress(body, limit + 1)
        except zlib.error as exc:
            raise BadRequest(f"body is not valid gzip: {exc}") from exc
        if len(body) > limit or inflater.unconsumed_tail:
            raise _too_large(limit)
    elif encoding != "identity":
        raise BadRequest(f"Content-Encoding {encoding!r} is not supported (use gzip or none)")
    return body


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body exceeds the limit of {limit} bytes", limit_bytes=limit)
