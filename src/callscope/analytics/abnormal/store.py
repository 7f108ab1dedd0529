"""Reading and writing the detector's tables: `abnormal_events` and `abnormal_watermarks`.

An event's identity is (app, session, type, peer, ts): the same receiver, stream and onset
window always give the same key whatever the attribution, so re-detecting a window (after a
restart, or in the overlap every pass re-reads) finds the stored event and adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa

from callscope.domain.timestamps import now_us
from callscope.storage.base import StorageBackend
from callscope.storage.migrations import set_fsync

EVENTS_TABLE = "abnormal_events"
WATERMARKS_TABLE = "abnormal_watermarks"
_TS_US = pa.timestamp("us", tz="UTC")
_TS_MS = pa.timestamp("ms", tz="UTC")
EVENTS_SCHEMA = pa.schema(
    [
        ("app_id", pa.string()),
        ("room_id", pa.string()),
        ("instance_id", pa.string()),
        ("user_id", pa.string()),
        ("session_id", pa.string()),
        ("ts", _TS_US),
        ("type", pa.uint8()),
        ("factor", pa.uint32()),
        ("stage", pa.string()),
        ("location", pa.string()),
        ("peer_id", pa.string()),
        ("evidence", pa.string()),
        ("definition_version", pa.string()),
        ("detected_at", _TS_MS),
    ]
)

Key = tuple[str, str, int, str, int]  # app_id, session_id, type, peer_id, ts_us


@dataclass(frozen=True)
class DetectedEvent:
    app_id: str
    room_id: str
    user_id: str
    session_id: str
    ts_us: int
    type: int
    factor: int
    stage: str
    location: str
    peer_id: str  # publisher of the affected stream; empty for slow joins
    definition_version: str
    evidence: dict[str, Any] = field(compare=False)

    @property
    def key(self) -> Key:
        return (self.app_id, self.session_id, self.type, self.peer_id, self.ts_us)


def ensure(backend: StorageBackend, *, fsync: bool) -> None:
    """The detector's tables are as durable as the samples they are derived from."""
    set_fsync(backend, enabled=fsync, tables=(EVENTS_TABLE, WATERMARKS_TABLE))


def read_watermark(backend: StorageBackend, detector: str) -> int | None:
    """Milliseconds since the epoch of the last `ingested_at` the detector has fully read."""
    rows = backend.query(
        f"SELECT toUnixTimestamp64Milli(argMax(watermark, updated_at)) AS ms, count() AS n "  # noqa: S608
        f"FROM {WATERMARKS_TABLE} WHERE detector = {{d:String}}",
        {"d": detector},
    )
    return int(rows[0]["ms"]) if rows and rows[0]["n"] else None


def write_watermark(backend: StorageBackend, detector: str, watermark_ms: int) -> None:
    backend.command(
        f"INSERT INTO {WATERMARKS_TABLE} VALUES ({{d:String}}, "  # noqa: S608
        "fromUnixTimestamp64Milli({w:Int64}, 'UTC'), fromUnixTimestamp64Micro({u:Int64}, 'UTC'))",
        {"d": detector, "w": watermark_ms, "u": now_us()},
    )


def existing_keys(backend: StorageBackend, events: list[DetectedEvent]) -> set[Key]:
    """Keys among `events` already stored (one range read per app)."""
    found: set[Key] = set()
    by_app: dict[str, list[int]] = {}
    for e in events:
        by_app.setdefault(e.app_id, []).append(e.ts_us)
    for app_id, stamps in by_app.items():
        rows = backend.query(
            f"SELECT session_id, type, peer_id, toUnixTimestamp64Micro(ts) AS ts_us "  # noqa: S608
            f"FROM {EVENTS_TABLE} WHERE app_id = {{a:String}} "
            "AND ts >= fromUnixTimestamp64Micro({lo:Int64}, 'UTC') "
            "AND ts <= fromUnixTimestamp64Micro({hi:Int64}, 'UTC')",
            {"a": app_id, "lo": min(stamps), "hi": max(stamps)},
        )
        found |= {(app_id, r["session_id"], int(r["type"]), r["peer_id"], int(r["ts_us"])) for r in rows}
    return found


def insert(backend: StorageBackend, events: list[DetectedEvent]) -> None:
    if not events:
        return
    detected_ms = now_us() // 1000
    columns: dict[str, list[Any]] = {
        "app_id": [e.app_id for e in events],
        "room_id": [e.room_id for e in events],
        "instance_id": [""] * len(events),  # derived at query time, like everywhere else
        "user_id": [e.user_id for e in events],
        "session_id": [e.session_id for e in events],
        "ts": [e.ts_us for e in events],
        "type": [e.type for e in events],
        "factor": [e.factor for e in events],
        "stage": [e.stage for e in events],
        "location": [e.location for e in events],
        "peer_id": [e.peer_id for e in events],
        "evidence": [orjson.dumps(e.evidence, option=orjson.OPT_SORT_KEYS).decode() for e in events],
        "definition_version": [e.definition_version for e in events],
        "detected_at": [detected_ms] * len(events),
    }
    backend.insert_arrow(EVENTS_TABLE, pa.Table.from_pydict(columns, schema=EVENTS_SCHEMA))
