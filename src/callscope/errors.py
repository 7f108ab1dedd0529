"""The one exception tree. Layers below the API raise these; `api/errors.py` renders them.

    CallscopeError                 status  code
    ├── ConfigError                  500   config_error        settings refused at start-up
    ├── AuthError                    401   unauthorized        missing, forged or expired credentials
    │   └── Forbidden                403   forbidden           valid credentials, wrong app or scope
    ├── NotFound                     404   not_found
    ├── BadRequest                   400   bad_request         the request as a whole is unusable
    │   ├── MalformedBody            400   malformed_body      not JSON, or not the batch shape
    │   └── PayloadTooLarge          413   payload_too_large
    ├── Unprocessable                422   unprocessable       well formed, but every item is invalid
    ├── Backpressure                 429   rate_limited        ingest queue full; retry after N s
    └── StoreError                   503   store_unavailable
        └── StoreBusy                503   store_busy          another process owns the embedded store

Each error carries `status` (HTTP) and a stable `code`; vendor facades map these to their own
envelopes, so the codes are part of our contract.
"""

from __future__ import annotations

from typing import Any


class CallscopeError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class ConfigError(CallscopeError):
    code = "config_error"


class AuthError(CallscopeError):
    status = 401
    code = "unauthorized"


class Forbidden(AuthError):
    status = 403
    code = "forbidden"


class NotFound(CallscopeError):
    status = 404
    code = "not_found"


class BadRequest(CallscopeError):
    status = 400
    code = "bad_request"


class MalformedBody(BadRequest):
    code = "malformed_body"


class PayloadTooLarge(BadRequest):
    status = 413
    code = "payload_too_large"


class Unprocessable(CallscopeError):
    status = 422
    code = "unprocessable"


class Backpressure(CallscopeError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: int, **extra: Any) -> None:
        super().__init__(message, **extra)
        self.retry_after_s = retry_after_s


class StoreError(CallscopeError):
    status = 503
    code = "store_unavailable"


class StoreBusy(StoreError):
    code = "store_busy"
