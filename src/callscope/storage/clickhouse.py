"""The scale-out backend: a ClickHouse server through clickhouse-connect.

`clickhouse://user:password@host:8123/database` (`clickhouses://` for TLS). The same DDL and
SQL as the embedded backend; the contract tests run on both.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa

from callscope.errors import ConfigError, StoreError
from callscope.storage.base import Params, StorageBackend


class ClickHouseBackend(StorageBackend):
    def __init__(self, url: str) -> None:
        try:
            import clickhouse_connect
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ConfigError(
                "store_url is clickhouse:// but clickhouse-connect is not installed: "
                "pip install 'callscope[clickhouse]'"
            ) from exc
        parts = urlsplit(url)
        self.database = parts.path.strip("/") or "callscope"
        self.url = url.replace(parts.password or "\0", "***") if parts.password else url
        self._connect_args: dict[str, Any] = {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or (8443 if parts.scheme == "clickhouses" else 8123),
            "username": parts.username or "default",
            "password": parts.password or "",
            "secure": parts.scheme == "clickhouses",
        }
        self._clickhouse_connect = clickhouse_connect
        self._local = threading.local()
        admin = clickhouse_connect.get_client(**self._connect_args)
        admin.command(f"CREATE DATABASE IF NOT EXISTS `{self.database}`")
        admin.close()

    def _client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._clickhouse_connect.get_client(
                database=self.database, **self._connect_args
            )
        return client

    def query_arrow(self, sql: str, params: Params | None = None) -> pa.Table:
        try:
            table: pa.Table = self._client().query_arrow(sql, parameters=dict(params or {}))
        except Exception as exc:  # noqa: BLE001 - the driver raises many types; we report one
            raise StoreError(str(exc)) from exc
        return table

    def command(self, sql: str, params: Params | None = None) -> None:
        try:
            self._client().command(sql, parameters=dict(params or {}))
        except Exception as exc:  # noqa: BLE001
            raise StoreError(str(exc)) from exc

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        try:
            self._client().insert_arrow(table, data)
        except Exception as exc:  # noqa: BLE001
            raise StoreError(f"insert into {table} failed: {exc}") from exc

    def insert_encoded(self, table: str, columns: Sequence[str], body: bytes, fmt: str) -> None:
        try:
            self._client().raw_insert(table, list(columns), insert_block=body, fmt=fmt)
        except Exception as exc:  # noqa: BLE001
            raise StoreError(f"insert into {table} failed: {exc}") from exc

    def close(self) -> None:
        client = getattr(self._local, "client", None)
        if client is not None:
            client.close()
