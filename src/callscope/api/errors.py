"""The one error renderer of the native API: RFC 9457 `application/problem+json`.

Shape (pinned by tests/api/test_error_shape.py):
`{"type": "urn:callscope:problem:<code>", "title", "status", "detail", "code", ...extensions}`.
Vendor facades install their own renderer for their own envelope.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from callscope.api.responses import JSONBytes
from callscope.errors import AuthError, Backpressure, CallscopeError

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


def problem(status: int, code: str, detail: str, **extensions: Any) -> JSONBytes:
    body = {
        "type": f"urn:callscope:problem:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        **extensions,
    }
    return JSONBytes(body, status_code=status, media_type=PROBLEM_JSON)


async def _callscope_error(request: Request, exc: Exception) -> JSONBytes:
    assert isinstance(exc, CallscopeError)
    return callscope_problem(exc)


def callscope_problem(exc: CallscopeError) -> JSONBytes:
    """How every CallscopeError is answered (also by routes served outside FastAPI's router)."""
    if exc.status >= 500:
        log.error("request failed", extra={"code": exc.code, "detail": exc.message})
    response = problem(exc.status, exc.code, exc.message, **exc.extra)
    if isinstance(exc, Backpressure):
        response.headers["Retry-After"] = str(exc.retry_after_s)
    if isinstance(exc, AuthError) and exc.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


async def _validation_error(request: Request, exc: Exception) -> JSONBytes:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in e["loc"][1:]) or e["loc"][0], "message": e["msg"]}
        for e in exc.errors()
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(422, "unprocessable", detail, errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONBytes:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_")
    return problem(exc.status_code, code, str(exc.detail))


async def _unexpected(request: Request, exc: Exception) -> JSONBytes:
    return unexpected_problem()


def unexpected_problem() -> JSONBytes:
    """How an exception nothing expected is answered; call it while handling that exception."""
    log.exception("unhandled error")
    return problem(500, "internal_error", "internal error; the request id is in the logs")


def install(app: FastAPI) -> None:
    app.add_exception_handler(CallscopeError, _callscope_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
