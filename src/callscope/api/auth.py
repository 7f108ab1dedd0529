"""Who is calling: an app's secret API key, an ingest token, or the operator's admin token."""

from __future__ import annotations

import hmac
import threading
import time
from dataclasses import replace

from callscope.api.tokens import PREFIX as TOKEN_PREFIX
from callscope.api.tokens import IngestTokens
from callscope.domain.tenancy import IngestScope
from callscope.domain.timestamps import now_us
from callscope.errors import AuthError, Forbidden
from callscope.storage.tenancy import KeyRecord, TenancyStore, hash_secret, split_api_key

_REFRESH_AT_MOST_EVERY_S = 1.0  # unknown key ids must not turn into a store query each


class Authenticator:
    def __init__(self, tenancy: TenancyStore, tokens: IngestTokens, admin_token: str) -> None:
        self._tenancy = tenancy
        self._tokens = tokens
        self._admin_token = admin_token
        self._keys: dict[str, KeyRecord] = {}
        self._app_ids: frozenset[str] = frozenset()
        self._refreshed_at = 0.0
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Reload keys from the store (after apps or keys change)."""
        with self._lock:
            self._keys = self._tenancy.active_keys()
            self._app_ids = frozenset(k.app_id for k in self._keys.values())
            self._refreshed_at = time.monotonic()

    def app_for_api_key(self, api_key: str) -> str:
        parts = split_api_key(api_key)
        if parts is None:
            raise AuthError("not an API key")
        key_id, secret = parts
        record = self._keys.get(key_id)
        if record is None and time.monotonic() - self._refreshed_at > _REFRESH_AT_MOST_EVERY_S:
            self.refresh()
            record = self._keys.get(key_id)
        # Compare even for unknown ids so timing does not reveal which key ids exist.
        expected = record.secret_sha256 if record else "0" * 64
        if not hmac.compare_digest(hash_secret(secret), expected) or record is None:
            raise AuthError("API key is not valid")
        return record.app_id

    def app_owner(self, authorization: str | None, app_id: str) -> str:
        """The app a secret key belongs to, which must be `app_id` (the one in the URL)."""
        owner = self.app_for_api_key(_bearer(authorization))
        if owner != app_id:
            raise Forbidden("this API key belongs to another app")
        return owner

    def ingest_scope(self, authorization: str | None, client_ip: str = "") -> IngestScope:
        credential = _bearer(authorization)
        if credential.startswith(f"{TOKEN_PREFIX}."):
            scope = self._tokens.verify(credential, now_us=now_us())
            if scope.app_id not in self._app_ids:
                raise AuthError("the app of this ingest token no longer exists")
            return replace(scope, client_ip=client_ip)
        return IngestScope(self.app_for_api_key(credential))

    def check_admin(self, authorization: str | None) -> None:
        if not hmac.compare_digest(_bearer(authorization).encode(), self._admin_token.encode()):
            raise AuthError("admin token is not valid")


def _bearer(authorization: str | None) -> str:
    scheme, _, credential = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise AuthError("send `Authorization: Bearer <API key or ingest token>`")
    return credential.strip()
