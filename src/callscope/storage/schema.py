"""Arrow shapes of the tables the writer fills.

The DDL in `migrations/` is the truth; these mirror it so the writer can build typed columns
without asking the engine. `tests/storage/test_schema.py` checks both agree, so they cannot drift.
"""

from __future__ import annotations

import pyarrow as pa

TIMESTAMP_US = pa.timestamp("us", tz="UTC")
TIMESTAMP_MS = pa.timestamp("ms", tz="UTC")
TIMESTAMP_S = pa.timestamp("s", tz="UTC")

_STREAM_KEY = [
    ("app_id", pa.string()),
    ("room_id", pa.string()),
    ("user_id", pa.string()),
    ("session_id", pa.string()),
    ("kind", pa.string()),
    ("direction", pa.string()),
    ("peer_id", pa.string()),
    ("stream_id", pa.string()),
    ("source", pa.string()),
]

SAMPLES = pa.schema(
    [
        *_STREAM_KEY,
        ("ts", TIMESTAMP_US),
        ("window_ms", pa.uint32()),
        ("bitrate_kbps", pa.float32()),
        ("rtt_ms", pa.float32()),
        ("jitter_ms", pa.float32()),
        ("loss_ratio", pa.float32()),
        ("packets_expected", pa.uint32()),
        ("packets_lost", pa.uint32()),
        ("width_px", pa.uint16()),
        ("height_px", pa.uint16()),
        ("fps", pa.float32()),
        ("freeze_count", pa.uint32()),
        ("freeze_ms", pa.uint32()),
        ("concealment_ratio", pa.float32()),
        ("app_cpu_ratio", pa.float32()),
        ("system_cpu_ratio", pa.float32()),
        ("quality_limitation", pa.string()),
        ("cpu_limited_ratio", pa.float32()),
        ("bandwidth_limited_ratio", pa.float32()),
        ("relayed", pa.uint8()),
        ("transport", pa.string()),
        ("ingested_at", TIMESTAMP_MS),
    ]
)

EVENT_ATTRIBUTES = (
    "device",
    "platform",
    "os",
    "browser",
    "sdk_name",
    "sdk_version",
    "sdk_type",
    "network_type",
    "ip",
    "region",
    "country",
    "city",
    "isp",
)

EVENTS = pa.schema(
    [
        ("app_id", pa.string()),
        ("room_id", pa.string()),
        ("user_id", pa.string()),
        ("session_id", pa.string()),
        ("ts", TIMESTAMP_US),
        ("type", pa.string()),
        ("event_id", pa.string()),
        ("peer_id", pa.string()),
        ("source", pa.string()),
        ("state", pa.string()),
        ("reason", pa.string()),
        ("elapsed_ms", pa.float32()),
        *[(name, pa.string()) for name in EVENT_ATTRIBUTES],
        ("ingested_at", TIMESTAMP_MS),
    ]
)

INGEST_BATCHES = pa.schema(
    [
        ("app_id", pa.string()),
        ("idempotency_key", pa.string()),
        ("origin", pa.string()),
        ("received_at", TIMESTAMP_MS),
        ("expires_at", TIMESTAMP_S),
        ("summary", pa.string()),
    ]
)

# The writer tables' LowCardinality(String) columns (Arrow says only "string"): JSON rows fill
# them through a String input (migration 0009, storage/rows.py).
LOW_CARDINALITY: dict[str, frozenset[str]] = {
    "samples": frozenset({"app_id", "kind", "direction", "source", "quality_limitation", "transport"}),
    "events": frozenset(
        {"app_id", "type", "source", "state", "platform", "os", "browser", "sdk_name", "sdk_version"}
        | {"sdk_type", "network_type", "region", "country", "city", "isp"}
    ),
    "ingest_batches": frozenset({"app_id", "origin"}),
}

WRITER_TABLES: dict[str, pa.Schema] = {
    "samples": SAMPLES,
    "events": EVENTS,
    "ingest_batches": INGEST_BATCHES,
}
