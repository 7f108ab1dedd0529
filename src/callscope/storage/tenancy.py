"""Accounts → projects → apps, and the apps' secret API keys (stored as SHA-256 only)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from callscope.domain.tenancy import App
from callscope.domain.timestamps import now_us
from callscope.errors import BadRequest, NotFound
from callscope.storage.base import StorageBackend

DEFAULT_ACCOUNT = "default"
DEFAULT_PROJECT = "default"
KEY_PREFIX = "cs_sk_"


@dataclass(frozen=True, slots=True)
class KeyRecord:
    key_id: str
    app_id: str
    secret_sha256: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_api_key(api_key: str) -> tuple[str, str] | None:
    """`cs_sk_<key_id>.<secret>` → (key_id, secret), or None if it is not shaped like one."""
    if not api_key.startswith(KEY_PREFIX) or "." not in api_key:
        return None
    key_id, _, secret = api_key[len(KEY_PREFIX) :].partition(".")
    return (key_id, secret) if key_id and secret else None


class TenancyStore:
    def __init__(self, backend: StorageBackend) -> None:
        self._backend = backend

    def ensure_project(self, project_id: str = DEFAULT_PROJECT, account_id: str = DEFAULT_ACCOUNT) -> None:
        now = now_us()
        if not self._backend.query(
            "SELECT 1 FROM accounts FINAL WHERE account_id = {a:String}", {"a": account_id}
        ):
            self._backend.command(
                "INSERT INTO accounts VALUES "
                "({a:String}, {a:String}, fromUnixTimestamp64Micro({t:Int64}, 'UTC'), {v:UInt64})",
                {"a": account_id, "t": now, "v": now},
            )
        existing = self._backend.query(
            "SELECT account_id FROM projects FINAL WHERE project_id = {p:String}", {"p": project_id}
        )
        if existing and existing[0]["account_id"] != account_id:
            raise BadRequest(f"project {project_id!r} belongs to another account")
        if not existing:
            self._backend.command(
                "INSERT INTO projects VALUES ({p:String}, {a:String}, {p:String}, "
                "fromUnixTimestamp64Micro({t:Int64}, 'UTC'), {v:UInt64})",
                {"p": project_id, "a": account_id, "t": now, "v": now},
            )

    def create_app(
        self,
        name: str,
        *,
        project_id: str = DEFAULT_PROJECT,
        account_id: str = DEFAULT_ACCOUNT,
        app_id: str | None = None,
    ) -> tuple[App, str]:
        """Create an app and its first secret key; the key is returned once and never stored."""
        if not name.strip() or len(name) > 128:
            raise BadRequest("app name must be 1-128 characters")
        self.ensure_project(project_id, account_id)
        app_id = app_id or self._new_app_id()
        now = now_us()
        self._backend.command(
            "INSERT INTO apps VALUES ({id:String}, {p:String}, {a:String}, {n:String}, "
            "fromUnixTimestamp64Micro({t:Int64}, 'UTC'), 0, {v:UInt64})",
            {
                "id": app_id,
                "p": project_id,
                "a": account_id,
                "n": name,
                "t": now,
                "v": now,
            },
        )
        return self.get_app(app_id), self.create_key(app_id)

    def create_key(self, app_id: str) -> str:
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        now = now_us()
        self._backend.command(
            "INSERT INTO api_keys VALUES ({k:String}, {app:String}, {h:String}, "
            "fromUnixTimestamp64Micro({t:Int64}, 'UTC'), 0, {v:UInt64})",
            {
                "k": key_id,
                "app": app_id,
                "h": hash_secret(secret),
                "t": now,
                "v": now,
            },
        )
        return f"{KEY_PREFIX}{key_id}.{secret}"

    def get_app(self, app_id: str) -> App:
        rows = self._backend.query(
            "SELECT app_id, project_id, account_id, name, created_at FROM apps FINAL "
            "WHERE app_id = {id:String} AND deleted = 0",
            {"id": app_id},
        )
        if not rows:
            raise NotFound(f"no app {app_id!r}")
        return App(**rows[0])

    def list_apps(self) -> list[App]:
        rows = self._backend.query(
            "SELECT app_id, project_id, account_id, name, created_at FROM apps FINAL "
            "WHERE deleted = 0 ORDER BY created_at"
        )
        return [App(**row) for row in rows]

    def active_keys(self) -> dict[str, KeyRecord]:
        rows = self._backend.query(
            "SELECT k.key_id AS key_id, k.app_id AS app_id, k.secret_sha256 AS secret_sha256 "
            "FROM api_keys AS k FINAL INNER JOIN (SELECT app_id FROM apps FINAL WHERE deleted = 0) "
            "AS a ON a.app_id = k.app_id WHERE k.revoked = 0"
        )
        return {row["key_id"]: KeyRecord(**row) for row in rows}

    def _new_app_id(self) -> str:
        # Ten digits, like TRTC's SdkAppId, so the same id works in every vendor facade.
        for _ in range(20):
            candidate = str(1_400_000_000 + secrets.randbelow(600_000_000))
            if not self._backend.query(
                "SELECT 1 FROM apps FINAL WHERE app_id = {id:String}", {"id": candidate}
            ):
                return candidate
        raise RuntimeError("could not find a free app id")  # pragma: no cover
