"""Request ids, one structured log line per request, and the CORS policy (pure ASGI: no
per-request task)."""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callscope.observability import request_id

log = logging.getLogger("callscope.http")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Generated ids: 64 random bits per process, then a counter (32 hex digits in all). Unique like
# uuid4, without its 16 bytes from the OS per request: that read releases the GIL, and getting
# it back from the writer threads put uuid4 in 5 % of the event loop's py-spy samples under load.
_ID_PREFIX = secrets.token_hex(8)
_ID_COUNTER = itertools.count()

# Browsers report from the customer's own origin. Credentials are bearer tokens, never cookies,
# so allowing any origin exposes nothing a token holder could not do anyway.
CORS_ALLOW_METHODS = ("GET", "POST", "OPTIONS")
CORS_ALLOW_HEADERS = ("Authorization", "Content-Type", "Content-Encoding", "Idempotency-Key", "X-Request-ID")
CORS_EXPOSE_HEADERS = ("X-Request-ID", "Retry-After")
CORS_MAX_AGE_S = 3600
# What CORSMiddleware adds to a simple (not preflight) response under this policy, for routes
# answered outside it (api/native/ingest.py's IngestLane); a test compares the two.
_VARY = (b"vary", b"Origin")
CORS_SIMPLE_HEADERS = {
    False: [_VARY],  # no Origin header: a server-to-server call
    True: [
        (b"access-control-allow-origin", b"*"),
        (b"access-control-expose-headers", ", ".join(CORS_EXPOSE_HEADERS).encode()),
        _VARY,
    ],
}


def add_cors(app: FastAPI) -> None:
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=list(CORS_ALLOW_METHODS),
        allow_headers=list(CORS_ALLOW_HEADERS),
        expose_headers=list(CORS_EXPOSE_HEADERS),
        max_age=CORS_MAX_AGE_S,
    )


class RequestLog:
    """One request's id (the client's `X-Request-ID` when well-formed, else generated), the
    logging context while it runs, and its one log line when it ends (`finish`)."""

    __slots__ = ("header", "rid", "status", "_scope", "_started", "_token")

    def __init__(self, scope: Scope, supplied: bytes) -> None:
        text = supplied.decode("latin-1")
        self.rid = text if _CLIENT_ID.match(text) else f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"
        self.header = (b"x-request-id", self.rid.encode())
        self.status = 500  # until a response starts
        self._scope = scope
        self._token = request_id.set(self.rid)
        self._started = time.perf_counter()

    def finish(self) -> None:
        # Never the headers: they carry API keys and tokens.
        log.info(
            "request",
            extra={
                "request_id": self.rid,
                "method": self._scope["method"],
                "path": self._scope["path"],
                "status": self.status,
                "duration_ms": round((time.perf_counter() - self._started) * 1000, 2),
            },
        )
        request_id.reset(self._token)


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        entry = RequestLog(scope, dict(scope["headers"]).get(b"x-request-id", b""))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry.status = message["status"]
                message["headers"] = [*message.get("headers", []), entry.header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            entry.finish()
