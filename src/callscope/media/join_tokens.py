"""Join tokens: what lets one user into one media room (like TRTC UserSig, LiveKit tokens).

Format `csj1.<payload>.<signature>`, both base64url; payload is JSON
`{"jti", "app", "room", "user", "pub", "sub", "iat", "exp"}`; signature is HMAC-SHA256 over
`csj1.<payload>` with a key derived from `CALLSCOPE_TOKEN_SECRET` for this purpose only (an
ingest token is never a join token, nor the reverse). Compared in constant time; tokens and keys
are never logged. An app's backend mints them with its secret key and hands them to the page.

A user removed from a room (kick, dismiss) must not come back with the token they hold, so its
id goes on a deny list until the token expires. The list is a small JSON file in the data
directory, rewritten atomically on each addition (removals are rare), so it survives a restart.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

import orjson

from callscope.errors import AuthError

PREFIX = "csj1"


@dataclass(frozen=True)
class JoinGrant:
    token_id: str
    app_id: str
    room_id: str
    user_id: str
    publish: bool
    subscribe: bool
    expires_at_s: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class DenyList:
    """Token ids refused until their expiry; kept in `path` (None: in memory only)."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._denied: dict[str, int] = {}
        if path is not None and path.exists():
            try:
                loaded = orjson.loads(path.read_bytes())
                self._denied = {str(k): int(v) for k, v in loaded.items()}
            except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
                self._denied = {}  # an unreadable list is rebuilt; tokens are short-lived

    def deny(self, token_id: str, expires_at_s: int, now_s: int) -> None:
        with self._lock:
            self._denied = {k: v for k, v in self._denied.items() if v > now_s}
            self._denied[token_id] = expires_at_s
            if self._path is not None:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self._path.with_suffix(".tmp")
                tmp.write_bytes(orjson.dumps(self._denied))
                tmp.replace(self._path)

    def denied(self, token_id: str) -> bool:
        return token_id in self._denied

    def __len__(self) -> int:
        return len(self._denied)


class JoinTokens:
    def __init__(self, secret: str, *, max_ttl_s: int, deny: DenyList, skew_s: int = 60) -> None:
        self._key = hmac.new(secret.encode(), b"callscope join token v1", hashlib.sha256).digest()
        self._max_ttl_s = max_ttl_s
        self._skew_s = skew_s
        self.deny_list = deny

    def _sign(self, signed_part: str) -> str:
        return _b64(hmac.new(self._key, signed_part.encode(), hashlib.sha256).digest())

    def issue(
        self,
        app_id: str,
        room_id: str,
        user_id: str,
        *,
        publish: bool,
        subscribe: bool,
        ttl_s: int,
        now_s: int,
    ) -> tuple[str, JoinGrant]:
        ttl_s = min(ttl_s, self._max_ttl_s)
        grant = JoinGrant(
            secrets.token_urlsafe(12), app_id, room_id, user_id, publish, subscribe, now_s + ttl_s
        )
        claims = {
            "jti": grant.token_id,
            "app": app_id,
            "room": room_id,
            "user": user_id,
            "pub": publish,
            "sub": subscribe,
            "iat": now_s,
            "exp": grant.expires_at_s,
        }
        signed_part = f"{PREFIX}.{_b64(orjson.dumps(claims))}"
        return f"{signed_part}.{self._sign(signed_part)}", grant

    def verify(self, token: str, *, now_s: int) -> JoinGrant:
        prefix, _, rest = token.partition(".")
        payload, _, signature = rest.partition(".")
        if prefix != PREFIX or not payload or not signature:
            raise AuthError("not a join token")
        if not hmac.compare_digest(self._sign(f"{prefix}.{payload}"), signature):
            raise AuthError("join token signature is invalid")
        try:
            claims = orjson.loads(_unb64(payload))
            grant = JoinGrant(
                str(claims["jti"]),
                str(claims["app"]),
                str(claims["room"]),
                str(claims["user"]),
                bool(claims["pub"]),
                bool(claims["sub"]),
                int(claims["exp"]),
            )
            issued_s = int(claims["iat"])
        except (binascii.Error, ValueError, KeyError, TypeError) as exc:
            raise AuthError("join token payload is unreadable") from exc
        if grant.expires_at_s <= now_s:
            raise AuthError(f"join token expired {now_s - grant.expires_at_s} s ago; ask for a new one")
        if issued_s > now_s + self._skew_s or grant.expires_at_s - issued_s > self._max_ttl_s:
            raise AuthError("join token lifetime is not acceptable")
        if self.deny_list.denied(grant.token_id):
            raise AuthError("this join token was revoked (the user was removed from the room)")
        return grant
