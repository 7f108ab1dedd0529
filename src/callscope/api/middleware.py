"""Request ids and one structured log line per request (pure ASGI: no per-request task)."""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callscope.observability import request_id

log = logging.getLogger("callscope.http")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Generated ids: 64 random bits per process, then a counter (32 hex digits in all). Unique like
# uuid4, without its 16 bytes from the OS per request: that read releases the GIL, and getting
# it back from the writer threads put uuid4 in 5 % of the event loop's py-spy samples under load.
_ID_PREFIX = secrets.token_hex(8)
_ID_COUNTER = itertools.count()


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = supplied if _CLIENT_ID.match(supplied) else f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"
        token = request_id.set(rid)
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            # Never the headers: they carry API keys and tokens.
            log.info(
                "request",
                extra={
                    "request_id": rid,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status["code"],
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id.reset(token)
