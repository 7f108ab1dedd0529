"""Storing golden-vector rows on the real engine and reading detected events back."""

from __future__ import annotations

import math
import time
from typing import Any

import pyarrow as pa

from callscope.analytics.abnormal import Detector
from callscope.analytics.abnormal.queries import Filters, list_events
from callscope.analytics.timerange import TimeRange
from callscope.storage.base import StorageBackend
from callscope.storage.schema import EVENTS, SAMPLES

SCHEMAS = {"samples": SAMPLES, "events": EVENTS}
ROOM = "vector-room"


def _default(field: pa.Field) -> Any:
    if pa.types.is_floating(field.type):
        return math.nan
    if pa.types.is_integer(field.type):
        return 0
    return ""


def store_rows(
    backend: StorageBackend, app_id: str, rows: tuple[dict[str, Any], ...], origin_us: int
) -> None:
    """Vector rows → real `samples` and `events` rows of `app_id` (users r, p as `<app>-r`…)."""
    now_ms = int(time.time() * 1000)
    for table, schema in SCHEMAS.items():
        mine = [r for r in rows if r["table"] == table]
        if not mine:
            continue
        full = []
        for r in mine:
            values = {k: v for k, v in r.items() if k not in ("table", "user", "at_s", "peer", "session")}
            user = f"{app_id}-{r['user']}"
            row = {f.name: _default(f) for f in schema}
            row |= values | {
                "app_id": app_id,
                "room_id": ROOM,
                "user_id": user,
                "session_id": f"{user}-{r.get('session', 's')}",
                "ts": origin_us + int(r["at_s"] * 1_000_000),
                "ingested_at": now_ms,
            }
            if table == "samples":
                row |= {"peer_id": f"{app_id}-{r['peer']}" if "peer" in r else "", "window_ms": 5000}
            full.append(row)
        columns = {f.name: [row[f.name] for row in full] for f in schema}
        backend.insert_arrow(table, pa.Table.from_pydict(columns, schema=schema))


def detect(backend: StorageBackend) -> None:
    """Everything stored so far, decided now (no waiting for late publishers)."""
    result = Detector(backend, settle_s=0, overlap_s=0, peer_grace_s=0).run_until_caught_up()
    assert result.caught_up


def detected(backend: StorageBackend, app_id: str, origin_us: int) -> list[tuple[int, int, str, str, str]]:
    window = TimeRange(origin_us - 3_600_000_000, origin_us + 3_600_000_000)
    page = list_events(backend, app_id=app_id, window=window, filters=Filters(), limit=1000, offset=0)
    short = len(app_id) + 1
    return sorted(
        (e.type, e.factor, e.location, e.user_id[short:], e.peer_id[short:] if e.peer_id else "")
        for e in page.events
    )
