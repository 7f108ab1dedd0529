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


def set_fsync(backend: StorageBackend, *, enabled: bool) -> None:
    """fsync is a table setting in ClickHouse; the `fsync` setting flips it on every durable table."""
    flag = int(enabled)
    for table in ("samples", "events", "ingest_batches"):
        backend.command(
            f"ALTER TABLE {table} MODIFY SETTING fsync_after_insert = {flag}, fsync_part_directory = {flag}"
        )
