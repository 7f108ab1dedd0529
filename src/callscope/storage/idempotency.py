"""Idempotency keys: the answer a keyed request got, so a repeat gets the same answer."""

from __future__ import annotations

from typing import Literal

from callscope.domain.timestamps import US_PER_S
from callscope.storage.base import StorageBackend
from callscope.storage.writer import TableRows

Origin = Literal["request", "import"]
# DateTime('UTC') ends in 2106; import keys must outlive any retention.
_NEVER_EXPIRES_S = 4_294_967_295

_LOOKUP_SQL = """
SELECT summary FROM ingest_batches FINAL
WHERE app_id = {app_id:String} AND idempotency_key = {key:String} AND expires_at > now()
LIMIT 1
"""


class IdempotencyLedger:
    def __init__(self, backend: StorageBackend, ttl_s: int) -> None:
        self._backend = backend
        self._ttl_s = ttl_s

    def lookup(self, app_id: str, key: str) -> str | None:
        """The stored summary (JSON) of an earlier request with this key, if any."""
        rows = self._backend.query(_LOOKUP_SQL, {"app_id": app_id, "key": key})
        return str(rows[0]["summary"]) if rows else None

    def rows(self, app_id: str, key: str, origin: Origin, summary_json: str, now_us: int) -> TableRows:
        expires_s = _NEVER_EXPIRES_S if origin == "import" else now_us // US_PER_S + self._ttl_s
        return TableRows.from_columns(
            {
                "app_id": [app_id],
                "idempotency_key": [key],
                "origin": [origin],
                "received_at": [now_us // 1000],
                "expires_at": [expires_s],
                "summary": [summary_json],
            }
        )
