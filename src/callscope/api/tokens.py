"""Short-lived ingest tokens for browsers: scoped to app + room + user, signed by the server.

Format `cst1.<payload>.<signature>`, both base64url; payload is JSON
`{"app", "room", "user", "iat", "exp"}`; signature is HMAC-SHA256 over `cst1.<payload>` with a
key derived from `CALLSCOPE_TOKEN_SECRET`. Compared in constant time. Browsers never see the
app's secret key: the app's backend asks us for a token and hands it to the page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

import orjson

from callscope.domain.tenancy import IngestScope
from callscope.domain.timestamps import US_PER_S
from callscope.errors import AuthError

PREFIX = "cst1"


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at_s: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class IngestTokens:
    def __init__(self, secret: str, *, max_ttl_s: int, skew_s: int = 60) -> None:
        self._key = hmac.new(secret.encode(), b"callscope ingest token v1", hashlib.sha256).digest()
        self._max_ttl_s = max_ttl_s
        self._skew_s = skew_s

    def _sign(self, signed_part: str) -> str:
        return _b64(hmac.new(self._key, signed_part.encode(), hashlib.sha256).digest())

    def issue(self, scope: IngestScope, *, ttl_s: int, now_us: int) -> IssuedToken:
        now_s = now_us // US_PER_S
        ttl_s = min(ttl_s, self._max_ttl_s)
        claims = {
            "app": scope.app_id,
            "room": scope.room_id,
            "user": scope.user_id,
            "iat": now_s,
            "exp": now_s + ttl_s,
        }
        signed_part = f"{PREFIX}.{_b64(orjson.dumps(claims))}"
        return IssuedToken(f"{signed_part}.{self._sign(signed_part)}", now_s + ttl_s)

    def verify(self, token: str, *, now_us: int) -> IngestScope:
        prefix, _, rest = token.partition(".")
        payload, _, signature = rest.partition(".")
        if prefix != PREFIX or not payload or not signature:
            raise AuthError("not an ingest token")
        if not hmac.compare_digest(self._sign(f"{prefix}.{payload}"), signature):
            raise AuthError("ingest token signature is invalid")
        try:
            claims = orjson.loads(_unb64(payload))
            scope = IngestScope(claims["app"], claims["room"], claims["user"])
            issued_s, expires_s = int(claims["iat"]), int(claims["exp"])
        except (binascii.Error, ValueError, KeyError, TypeError) as exc:
            raise AuthError("ingest token payload is unreadable") from exc
        now_s = now_us // US_PER_S
        if expires_s <= now_s:
            raise AuthError(f"ingest token expired {now_s - expires_s} s ago; ask your backend for a new one")
        if issued_s > now_s + self._skew_s or expires_s - issued_s > self._max_ttl_s:
            raise AuthError("ingest token lifetime is not acceptable")
        return scope
