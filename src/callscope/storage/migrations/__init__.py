"""Numbered, append-only schema migrations (`NNNN_name.sql`, statements separated by `;`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from callscope.domain.timestamps import now_us
from callscope.storage.base import StorageBackend

_FILENAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def available() -> list[Migration]:
    found = []
    for entry in resources.files(__package__).iterdir():
        match = _FILENAME.match(entry.name)
        if match:
            text = entry.read_text(encoding="utf-8")
            found.append(Migration(int(match[1]), match[2], tuple(_statements(text))))
    return sorted(found, key=lambda m: m.version)


def _statements(text: str) -> list[str]:
    without_comments = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in without_comments.split(";") if s.strip()]


def migrate(backend: StorageBackend) -> list[int]:
    """Apply every migration not yet recorded; returns the versions applied now."""
    backend.command(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version UInt32, name String, applied_at DateTime64(6, 'UTC')) "
        "ENGINE = ReplacingMergeTree ORDER BY version"
    )
    done = {row["version"] for row in backend.query("SELECT version FROM schema_migrations")}
    applied = []
    for migration in available():
        if migration.version in done:
            continue
        for statement in migration.statements:
            backend.command(statement)
        backend.command(
            "INSERT INTO schema_migrations VALUES "
            "({v:UInt32}, {n:String}, fromUnixTimestamp64Micro({t:Int64}, 'UTC'))",
            {"v": migration.version, "n": migration.name, "t": now_us()},
        )
        applied.append(migration.version)
    return applied


DURABLE_TABLES = ("samples", "events", "ingest_batches")


def set_fsync(backend: StorageBackend, *, enabled: bool, tables: tuple[str, ...] = DURABLE_TABLES) -> None:
    """fsync is a table setting in ClickHouse; the `fsync` setting flips it on every durable table."""
    flag = int(enabled)
    _modify_settings(backend, tables, f"fsync_after_insert = {flag}, fsync_part_directory = {flag}")


def _modify_settings(backend: StorageBackend, tables: tuple[str, ...], assignments: str) -> None:
    for table in tables:
        backend.command(f"ALTER TABLE {table} MODIFY SETTING {assignments}")


# Tables every ingest writes a part to, directly or through a materialized view. The rollup
# tables (analytics.rollups) are added by the caller: storage does not import analytics.
INGEST_TABLES = ("samples", "events", "streams")
# The engine merges parts of similar size once a few exist (its default `merge_selector_base`
# is 5), so a row is rewritten about log5(parts) times; a group commit writes one part per
# table, several a second at full load, and those merges took 0.2-0.5 of this machine's two
# cores. At 20 a merge waits for more parts and each row is rewritten about half as often:
# engine CPU per row fell from 7.1 to 5.6 µs (median of three 30-commit runs each), ingest CPU
# from 17.8 to 15.6 µs per sample (docs/operations.md, session 8). The cost is more parts per
# partition for queries to read side by side: 14 instead of 5 after 30 commits.
MERGE_SELECTOR_BASE = 20


def set_merge_base(backend: StorageBackend, tables: tuple[str, ...]) -> None:
    """Merge less eagerly on the tables ingest writes (see MERGE_SELECTOR_BASE)."""
    _modify_settings(backend, tables, f"merge_selector_base = {MERGE_SELECTOR_BASE}")


def set_retention(backend: StorageBackend, table: str, time_column: str, days: int) -> None:
    """Rows older than `days` are dropped by the engine's TTL as parts merge; ingest never waits.

    `materialize_ttl_after_modify = 0` keeps this a metadata change at start-up (no rewrite of
    existing parts); parts written before a change get the new TTL when they next merge.
    """
    backend.command(
        f"ALTER TABLE {table} MODIFY TTL toDateTime({time_column}) + INTERVAL {int(days)} DAY "
        "SETTINGS materialize_ttl_after_modify = 0"
    )
