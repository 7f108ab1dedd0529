"""Type 1: slow joins, from call events.

A user's join attempt starts at the first connecting event (`connection_state` / `ice_state` in
state new, connecting, checking or failed) or failed attempt (`join_failed`) of that user in the
room after their previous `join`, `leave` or `kicked` there (looking back at most
`join_lookback_s`), across sessions: a failed attempt and
its retry are one wait for the user. A `join` more than `slow_join_ms` after that start is slow.
Its factor comes from the last failed attempt's reason (rules.JOIN_FAILURE_FACTORS), "Others"
without one. A join with no connection event before it has no measurable wait and is skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from callscope.analytics.abnormal.rules import JOIN_FAILURE_FACTORS, THRESHOLDS, VERSION, Thresholds
from callscope.analytics.abnormal.store import DetectedEvent
from callscope.analytics.abnormal.taxonomy import JOIN_FACTORS, OTHERS, AbnormalType, Location, Stage
from callscope.storage.base import StorageBackend

ATTEMPT_TYPES = ("connection_state", "ice_state", "join_failed")
ATTEMPT_STATES = ("new", "connecting", "checking", "failed")  # of connection_state / ice_state
BOUNDARY_TYPES = ("join", "leave", "kicked")
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


def _context_sql(users: int) -> str:
    listed = ", ".join(f"{{u{i}:String}}" for i in range(users))
    types = ", ".join(f"'{t}'" for t in (*ATTEMPT_TYPES, *BOUNDARY_TYPES))
    return f"""SELECT user_id, session_id, type, state, reason, toUnixTimestamp64Micro(ts) AS ts_us
FROM events
WHERE app_id = {{app:String}} AND room_id = {{room:String}}
  AND ts >= fromUnixTimestamp64Micro({{lo:Int64}}, 'UTC')
  AND ts <= fromUnixTimestamp64Micro({{hi:Int64}}, 'UTC')
  AND type IN ({types}) AND user_id IN ({listed})"""  # noqa: S608 - fixed names, bound values


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
    users = sorted({j.user_id for j in group})
    params: dict[str, Any] = {
        "app": group[0].app_id,
        "room": group[0].room_id,
        "lo": min(j.ts_us for j in group) - th.join_lookback_s * 1_000_000,
        "hi": max(j.ts_us for j in group),
    }
    params |= {f"u{i}": u for i, u in enumerate(users)}
    return backend.query(_context_sql(len(users)), params)


def _attempt(row: dict[str, Any]) -> bool:
    """An event that shows the user trying to get in (not one of an established session)."""
    return row["type"] == "join_failed" or (row["type"] in ATTEMPT_TYPES and row["state"] in ATTEMPT_STATES)


def failure_factor(reason: str) -> int:
    if reason in JOIN_FAILURE_FACTORS:
        return JOIN_FAILURE_FACTORS[reason]
    if reason.isdigit() and int(reason) in JOIN_FACTORS:
        return int(reason)
    return OTHERS


def evaluate(
    group: Sequence[Join], rows: list[dict[str, Any]], th: Thresholds = THRESHOLDS
) -> list[DetectedEvent]:
    events = []
    for j in group:
        mine = sorted((r for r in rows if r["user_id"] == j.user_id), key=lambda r: r["ts_us"])
        since = max(
            (r["ts_us"] for r in mine if r["type"] in BOUNDARY_TYPES and r["ts_us"] < j.ts_us),
            default=j.ts_us - th.join_lookback_s * 1_000_000 - 1,
        )
        since = max(since, j.ts_us - th.join_lookback_s * 1_000_000 - 1)
        attempts = [r for r in mine if _attempt(r) and since < r["ts_us"] <= j.ts_us]
        if not attempts:
            continue
        delay_ms = (j.ts_us - attempts[0]["ts_us"]) // 1000
        if delay_ms <= th.slow_join_ms:
            continue
        failures = [r for r in attempts if r["type"] == "join_failed"]
        factor = failure_factor(failures[-1]["reason"]) if failures else OTHERS
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
                    "first_attempt_us": attempts[0]["ts_us"],
                    "failed_attempts": [
                        {"session_id": f["session_id"], "reason": f["reason"]} for f in failures
                    ],
                    "thresholds": {"slow_join_ms": th.slow_join_ms, "join_lookback_s": th.join_lookback_s},
                },
            )
        )
    return events
