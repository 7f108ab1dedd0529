"""The backend contract: every backend runs the same DDL and SQL.

Runs on chDB always, and on a ClickHouse server when CALLSCOPE_TEST_CLICKHOUSE_URL is set
(`clickhouse://user:pw@host:8123/db`). Without it the server case is not generated, and the
pytest header says so (see tests/conftest.py): no server can be installed from the registries
CI reaches, and Debian's clickhouse-server (18.16) predates the SQL we use.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from callscope.storage import rows as rows_format
from callscope.storage.base import StorageBackend
from callscope.storage.migrations import available, migrate
from callscope.storage.registry import open_backend
from callscope.storage.schema import LOW_CARDINALITY, WRITER_TABLES

CLICKHOUSE_URL = os.environ.get("CALLSCOPE_TEST_CLICKHOUSE_URL", "")

# Arrow type → the ClickHouse types the DDL may use for it.
COMPATIBLE = {
    "string": {"String", "LowCardinality(String)"},
    "float": {"Float32"},
    "uint32": {"UInt32"},
    "uint16": {"UInt16"},
    "uint8": {"UInt8"},
    "timestamp[us, tz=UTC]": {"DateTime64(6, 'UTC')"},
    "timestamp[ms, tz=UTC]": {"DateTime64(3, 'UTC')"},
    "timestamp[s, tz=UTC]": {"DateTime('UTC')"},
}


BACKENDS = ["chdb", *([pytest.param("clickhouse", marks=pytest.mark.clickhouse)] if CLICKHOUSE_URL else [])]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, store_dir: Path) -> Iterator[StorageBackend]:
    database = f"contract_{uuid.uuid4().hex[:8]}"
    if request.param == "chdb":
        url = f"chdb://{store_dir / 'store'}?database={database}"
    else:
        url = CLICKHOUSE_URL.rsplit("/", 1)[0] + f"/{database}"
    opened = open_backend(url)
    migrate(opened)
    yield opened
    opened.command(f"DROP DATABASE IF EXISTS `{database}`")
    opened.close()


def test_migrations_are_recorded_and_idempotent(backend: StorageBackend) -> None:
    versions = [m.version for m in available()]
    assert versions == sorted(set(versions)) and versions[0] == 1
    assert migrate(backend) == []
    recorded = [
        r["version"] for r in backend.query("SELECT version FROM schema_migrations FINAL ORDER BY version")
    ]
    assert recorded == versions


def _columns(backend: StorageBackend, table: str) -> list[dict[str, str]]:
    return backend.query(
        "SELECT name, type, default_kind, default_expression FROM system.columns "
        "WHERE database = currentDatabase() AND table = {t:String}",
        {"t": table},
    )


def test_writer_schemas_match_the_ddl(backend: StorageBackend) -> None:
    for table, schema in WRITER_TABLES.items():
        described = _columns(backend, table)
        columns = {row["name"]: row["type"] for row in described if row["default_kind"] != "EPHEMERAL"}
        assert set(schema.names) == set(columns), table
        low_cardinality = {name for name, kind in columns.items() if kind.startswith("LowCardinality")}
        assert low_cardinality == LOW_CARDINALITY[table], table
        for field in schema:
            assert columns[field.name] in COMPATIBLE[str(field.type)], (
                table,
                field.name,
                columns[field.name],
            )


def test_every_writer_column_can_be_filled_from_json_rows(backend: StorageBackend) -> None:
    """storage/rows.py: floats default to nan (JSON null), timestamps come from epoch inputs."""
    for table, schema in WRITER_TABLES.items():
        described = {row["name"]: row for row in _columns(backend, table)}
        for field in schema:
            column = described[field.name]
            if pa.types.is_floating(field.type):
                assert (column["default_kind"], column["default_expression"]) == ("DEFAULT", "nan"), column
            if pa.types.is_timestamp(field.type):
                source = rows_format.epoch_column(field.name, field.type.unit)
                assert described[source]["default_kind"] == "EPHEMERAL", (table, source)
                assert source in column["default_expression"], column
            if field.name in LOW_CARDINALITY[table]:
                source = rows_format.text_column(field.name)
                assert described[source]["default_kind"] == "EPHEMERAL", (table, source)
                assert (described[source]["type"], column["default_expression"]) == ("String", source)


def test_json_rows_round_trip_nan_bools_exact_timestamps_and_odd_text(backend: StorageBackend) -> None:
    odd = '\'; DROP TABLE events; -- Ünïcødé 🎥 {x:String} "quoted" \\ \n'
    schema = WRITER_TABLES["samples"]
    row = {name: "" for name in schema.names if pa.types.is_string(schema.field(name).type)}
    row |= {name: 0 for name in schema.names if pa.types.is_integer(schema.field(name).type)}
    row |= {name: float("nan") for name in schema.names if pa.types.is_floating(schema.field(name).type)}
    row |= {"app_id": "a", "room_id": odd, "kind": "video", "direction": "down", "source": "client"}
    row |= {"transport": odd}  # a LowCardinality column, filled through its String input
    row |= {"ts": 1_700_000_000_123_457, "ingested_at": 1_700_000_000_999, "relayed": True}
    row |= {"rtt_ms": 42.5, "width_px": 1280}
    columns = tuple(row)
    backend.insert_rows("samples", columns, [tuple(row.values())])
    stored = backend.query(
        "SELECT room_id, transport, toUnixTimestamp64Micro(ts) AS ts_us, "
        "toUnixTimestamp64Milli(ingested_at) AS at_ms, "
        "relayed, rtt_ms, isNaN(loss_ratio) AS loss_unknown, width_px FROM samples WHERE app_id = 'a'"
    )
    assert stored == [
        {
            "room_id": odd,
            "transport": odd,
            "ts_us": 1_700_000_000_123_457,
            "at_ms": 1_700_000_000_999,
            "relayed": 1,
            "rtt_ms": 42.5,
            "loss_unknown": 1,
            "width_px": 1280,
        }
    ]


def test_insert_and_bound_parameters_round_trip(backend: StorageBackend) -> None:
    odd = "'; DROP TABLE events; -- Ünïcødé 🎥 {x:String}"
    data = pa.table(
        {
            "app_id": ["a"],
            "idempotency_key": [odd],
            "origin": ["request"],
            "received_at": pa.array([1_700_000_000_000], pa.timestamp("ms", tz="UTC")),
            "expires_at": pa.array([4_000_000_000], pa.timestamp("s", tz="UTC")),
            "summary": ["{}"],
        }
    )
    backend.insert_arrow("ingest_batches", data)
    rows = backend.query(
        "SELECT idempotency_key FROM ingest_batches WHERE idempotency_key = {k:String}", {"k": odd}
    )
    assert rows == [{"idempotency_key": odd}]
    assert backend.scalar("EXISTS TABLE events") == 1


def test_streams_view_tracks_first_and_last_sample(backend: StorageBackend) -> None:
    schema = WRITER_TABLES["samples"]
    base = {name: [""] * 2 for name in schema.names if str(schema.field(name).type) == "string"}
    base |= {"app_id": ["a", "a"], "kind": ["audio", "audio"], "direction": ["up", "up"]}
    numbers = {
        name: [0, 0] for name in schema.names if name not in base and name not in ("ts", "ingested_at")
    }
    data = pa.table(
        {
            **base,
            **numbers,
            "ts": pa.array([1_700_000_000_000_000, 1_700_000_005_000_000], pa.timestamp("us", tz="UTC")),
            "ingested_at": pa.array([1_700_000_000_000] * 2, pa.timestamp("ms", tz="UTC")),
        },
        schema=schema,
    )
    backend.insert_arrow("samples", data)
    row = backend.query(
        "SELECT min(first_ts) AS f, max(last_ts) AS l, sum(sample_count) AS n FROM streams WHERE app_id = 'a'"
    )[0]
    assert row["n"] == 2
    assert (row["l"] - row["f"]).total_seconds() == 5
