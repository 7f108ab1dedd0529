"""Pick a backend from a store URL."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from callscope.errors import ConfigError
from callscope.storage.base import StorageBackend

_DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def open_backend(url: str) -> StorageBackend:
    """`chdb:///abs/path[?database=name]` or `clickhouse[s]://user:pw@host:port/database`."""
    parts = urlsplit(url)
    if parts.scheme == "chdb":
        database = parse_qs(parts.query).get("database", ["callscope"])[0]
        _check_database_name(database)
        if not parts.path:
            raise ConfigError(f"chdb store URL needs a path: {url!r}")
        from callscope.storage.chdb import ChdbBackend

        return ChdbBackend(Path(parts.path), database)
    if parts.scheme in {"clickhouse", "clickhouses"}:
        _check_database_name(parts.path.strip("/") or "callscope")
        from callscope.storage.clickhouse import ClickHouseBackend

        return ClickHouseBackend(url)
    raise ConfigError(f"unknown store URL scheme {parts.scheme!r}: use chdb:// or clickhouse://")


def _check_database_name(name: str) -> None:
    # Database names are identifiers in DDL, which cannot be bound as parameters.
    if not _DATABASE_NAME.match(name):
        raise ConfigError(f"database name {name!r} must match {_DATABASE_NAME.pattern}")
