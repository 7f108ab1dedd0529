"""Type 1: slow joins, from call events.

A join's wait is defined once, in SQL, by `analytics/metrics/join_waits.py` (which
`join_success_within_5s` reads too): from the user's first connection attempt in the room after
their previous join, leave or kick (looking back at most `join_lookback_s`), across sessions, so
a failed attempt and its retry are one wait. A `join` that waited more than `slow_join_ms` is
slow. Its factor comes from the last failed attempt's reason (rules.JOIN_FAILURE_FACTORS),
"Others" without one. A join with no connection event before it has no measurable wait and is
skipped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from callscope.analytics.abnormal.rules import JOIN_FAILURE_FACTORS, THRESHOLDS, VERSION, Thresholds
from callscope.analytics.abnormal.store import DetectedEvent
from callscope.analytics.abnormal.taxonomy import JOIN_FACTORS, OTHERS, AbnormalType, Location, Stage
from callscope.analytics.metrics import join_waits
from callscope.storage.base import StorageBackend

MAX_USERS_PER_CONTEXT = 200


@dataclass(frozen=True)
class Join:
    app_id: str
    room_id: str
    user_id: str
    session_id: str
    ts_us: int
    ingested_ms: int


CANDIDATES_SQL = """SELECT app_id, room_id, user_id, session_id, toUnixTimestamp64Micro(ts) AS ts_us,
    toUnixTimestamp64Milli(ingested_at) AS ingested_ms
FROM events
WHERE ingested_at > fromUnixTimestamp64Milli({lo:Int64}, 'UTC')
  AND ingested_at <= fromUnixTimestamp64Milli({hi:Int64}, 'UTC')
  AND type = 'join'
ORDER BY ingested_at
LIMIT {limit:UInt32}"""


def read_candidates(backend: StorageBackend, lo_ms: int, hi_ms: int, limit: int) -> list[Join]:
    return [Join(**r) for r in backend.query(CANDIDATES_SQL, {"lo": lo_ms, "hi": hi_ms, "limit": limit})]


def _context_sql(users: int, lookback_s: int) -> str:
    listed = ", ".join(f"{{u{i}:String}}" for i in range(users))
    where = (
        "app_id = {app:String} AND room_id = {room:String} "
        "AND ts >= fromUnixTimestamp64Micro({lo:Int64}, 'UTC') "
        f"AND ts <= fromUnixTimestamp64Micro({{hi:Int64}}, 'UTC') AND user_id IN ({listed})"
    )
    waits = join_waits.select_sql("events", where, lookback_s=lookback_s)
    return f"""SELECT user_id, session_id, toUnixTimestamp64Micro(ts) AS ts_us, join_wait_ms,
    first_attempt_us, failed_sessions, failed_reasons
FROM ({waits})
WHERE type = 'join'"""  # noqa: S608 - fixed names, bound values


def groups(joins: Sequence[Join]) -> list[list[Join]]:
    by_room: dict[tuple[str, str], list[Join]] = {}
    for j in joins:
        by_room.setdefault((j.app_id, j.room_id), []).append(j)
    out = []
    for members in by_room.values():
        users = sorted({j.user_id for j in members})
        for lo in range(0, len(users), MAX_USERS_PER_CONTEXT):
            chunk = set(users[lo : lo + MAX_USERS_PER_CONTEXT])
            out.append([j for j in members if j.user_id in chunk])
    return out


def read_context(
    backend: StorageBackend, group: Sequence[Join], th: Thresholds = THRESHOLDS
) -> list[dict[str, Any]]:
    """The waits of the group's users' joins (the group's and any earlier ones in the look-back)."""
    users = sorted({j.user_id for j in group})
    params: dict[str, Any] = {
        "app": group[0].app_id,
        "room": group[0].room_id,
        "lo": min(j.ts_us for j in group) - th.join_lookback_s * 1_000_000,
        "hi": max(j.ts_us for j in group),
    }
    params |= {f"u{i}": u for i, u in enumerate(users)}
    return backend.query(_context_sql(len(users), th.join_lookback_s), params)


def failure_factor(reason: str) -> int:
    if reason in JOIN_FAILURE_FACTORS:
        return JOIN_FAILURE_FACTORS[reason]
    if reason.isdigit() and int(reason) in JOIN_FACTORS:
        return int(reason)
    return OTHERS


def evaluate(
    group: Sequence[Join], rows: list[dict[str, Any]], th: Thresholds = THRESHOLDS
) -> list[DetectedEvent]:
    waits = {(r["session_id"], r["ts_us"]): r for r in rows}
    events = []
    for j in group:
        wait = waits.get((j.session_id, j.ts_us))
        if wait is None or math.isnan(wait["join_wait_ms"]) or wait["join_wait_ms"] <= th.slow_join_ms:
            continue  # no measurable wait, or quick enough
        delay_ms = int(wait["join_wait_ms"])
        reasons = wait["failed_reasons"]
        factor = failure_factor(reasons[-1]) if reasons else OTHERS
        events.append(
            DetectedEvent(
                app_id=j.app_id,
                room_id=j.room_id,
                user_id=j.user_id,
                session_id=j.session_id,
                ts_us=j.ts_us,
                type=int(AbnormalType.SLOW_JOIN),
                factor=factor,
                stage=Stage.JOIN_ROOM.value,
                location=Location.LOCAL.value,
                peer_id="",
                definition_version=VERSION,
                evidence={
                    "rule": "slow_join",
                    "join_delay_ms": delay_ms,
                    "first_attempt_us": wait["first_attempt_us"],
                    "failed_attempts": [
                        {"session_id": session, "reason": reason}
                        for session, reason in zip(wait["failed_sessions"], reasons, strict=True)
                    ],
                    "thresholds": {"slow_join_ms": th.slow_join_ms, "join_lookback_s": th.join_lookback_s},
                },
            )
        )
    return events
