"""The two statements behind the real-time view: sessions online at an instant, and the latest
bitrate of every stream. Both read only what ingest stores (`events`, `samples`).

A session is online at `at` exactly when `calls.py` would call it ONLINE then: it has not left
(no `leave`/`kicked`), it is not a failed join only, and it was last heard from (any event or
sample) at most `SESSION_IDLE_S` before `at`. Its place comes from its first join.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from callscope.storage.base import StorageBackend, in_strings

# How far back a still-online session's join is looked for: the real-time view covers calls up
# to a day long (the vendors' real-time span); an older session still counts, with no place.
JOIN_LOOKBACK_S = 86_400

_SESSIONS_SQL = """
WITH
  sm AS (
    SELECT room_id, session_id, any(user_id) AS user_id, max(ts) AS sample_last
    FROM samples
    WHERE app_id = {app:String} AND {rooms} AND ts >= {idle_at} AND ts < {at}
    GROUP BY room_id, session_id
  ),
  ev AS (
    SELECT room_id, session_id, any(user_id) AS user_id,
           countIf(type = 'join') AS joins, countIf(type IN ('leave', 'kicked')) AS leaves,
           countIf(type = 'join_failed') AS failures, max(ts) AS event_last,
           argMinIf((ip, country, city), ts, type IN ('join', 'join_failed')) AS place
    FROM events
    WHERE app_id = {app:String} AND {rooms} AND ts >= {lookback_at} AND ts < {at}
    GROUP BY room_id, session_id
    HAVING event_last >= {idle_at} OR (room_id, session_id) IN (SELECT room_id, session_id FROM sm)
  )
SELECT
  coalesce(ev.room_id, sm.room_id) AS room_id,
  coalesce(ev.session_id, sm.session_id) AS session_id,
  if(ev.user_id != '', ev.user_id, sm.user_id) AS user_id,
  ifNull(ev.joins, 0) AS joins, ifNull(ev.leaves, 0) AS leaves, ifNull(ev.failures, 0) AS failures,
  toUnixTimestamp64Micro(greatest(ifNull(ev.event_last, sm.sample_last),
                                  ifNull(sm.sample_last, ev.event_last))) AS last_seen_us,
  ifNull(ev.place.1, '') AS ip, ifNull(ev.place.2, '') AS country, ifNull(ev.place.3, '') AS city
FROM sm FULL OUTER JOIN ev ON sm.room_id = ev.room_id AND sm.session_id = ev.session_id
SETTINGS join_use_nulls = 1
"""

# The newest measured bitrate of each stream in the bandwidth window, for every stream heard from
# in the idle window (a receiver counts for a stream while it receives it). The aggregate is not
# aliased `bitrate_kbps`: the alias would shadow the column inside the other aggregate.
_STREAMS_SQL = """
SELECT room_id, user_id, session_id, kind, direction, peer_id, stream_id, source,
       argMaxIf(bitrate_kbps, ts, isFinite(bitrate_kbps) AND ts >= {window_at}) AS newest_kbps,
       countIf(isFinite(bitrate_kbps) AND ts >= {window_at}) > 0 AS measured
FROM samples
WHERE app_id = {app:String} AND {rooms} AND ts >= {idle_at} AND ts < {at}
  AND direction IN ('up', 'down')
GROUP BY room_id, user_id, session_id, kind, direction, peer_id, stream_id, source
"""


@dataclass(frozen=True, slots=True)
class SessionRow:
    room_id: str
    session_id: str
    user_id: str
    online: bool
    ip: str
    country: str
    city: str


@dataclass(frozen=True, slots=True)
class StreamRow:
    room_id: str
    user_id: str
    session_id: str
    kind: str
    direction: str
    peer_id: str
    stream_id: str
    source: str
    bitrate_kbps: float
    measured: bool


def _room_clause(room_ids: frozenset[str] | None) -> tuple[str, dict[str, Any]]:
    """Rows of these rooms, or of every room (None)."""
    if room_ids is None:
        return "1", {}
    return in_strings("room_id", sorted(room_ids), "room")


_INSTANTS = {
    "{at}": "fromUnixTimestamp64Micro({hi:Int64}, 'UTC')",
    "{idle_at}": "fromUnixTimestamp64Micro({idle:Int64}, 'UTC')",
    "{lookback_at}": "fromUnixTimestamp64Micro({lookback:Int64}, 'UTC')",
    "{window_at}": "fromUnixTimestamp64Micro({bandwidth_lo:Int64}, 'UTC')",
}


def _statement(template: str, rooms: str) -> str:
    """The template with its instants and room filter filled in: fixed text, values stay bound."""
    for placeholder, expression in _INSTANTS.items():
        template = template.replace(placeholder, expression)
    return template.replace("{rooms}", rooms)


def sessions(
    backend: StorageBackend, *, app_id: str, room_ids: frozenset[str] | None, at_us: int, idle_s: int
) -> list[SessionRow]:
    rooms, params = _room_clause(room_ids)
    rows = backend.query(
        _statement(_SESSIONS_SQL, rooms),
        {
            "app": app_id,
            "idle": at_us - idle_s * 1_000_000,
            "hi": at_us,
            "lookback": at_us - JOIN_LOOKBACK_S * 1_000_000,
            **params,
        },
    )
    idle_us = at_us - idle_s * 1_000_000
    return [
        SessionRow(
            row["room_id"],
            row["session_id"],
            row["user_id"],
            online=(
                row["leaves"] == 0
                and not (row["failures"] > 0 and row["joins"] == 0)
                and row["last_seen_us"] >= idle_us
            ),
            ip=row["ip"],
            country=row["country"],
            city=row["city"],
        )
        for row in rows
    ]


def streams(
    backend: StorageBackend,
    *,
    app_id: str,
    room_ids: frozenset[str] | None,
    at_us: int,
    idle_s: int,
    window_s: int,
) -> list[StreamRow]:
    rooms, params = _room_clause(room_ids)
    rows = backend.query(
        _statement(_STREAMS_SQL, rooms),
        {
            "app": app_id,
            "idle": at_us - idle_s * 1_000_000,
            "hi": at_us,
            "bandwidth_lo": at_us - window_s * 1_000_000,
            **params,
        },
    )
    return [
        StreamRow(
            row["room_id"],
            row["user_id"],
            row["session_id"],
            row["kind"],
            row["direction"],
            row["peer_id"],
            row["stream_id"],
            row["source"],
            bitrate_kbps=float(row["newest_kbps"]),
            measured=bool(row["measured"]),
        )
        for row in rows
    ]
