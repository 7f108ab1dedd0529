"""Joins and sessions, from call events (few per session, so computed from the event rows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from callscope.analytics.metrics.catalog import Aggregation, Better, Metric, Thresholds, Vector

WITHIN_MS = 5000  # TRTC joinSuccessIn5sRate, SparkRTC JoinSuccess5SecsRate: 5 s, by the name


def _event(user: str, second: float, type_: str, state: str = "", session: str = "") -> dict[str, Any]:
    return {
        "room_id": "r",
        "user_id": user,
        "session_id": session or f"s-{user}",
        "ts": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=second),
        "type": type_,
        "state": state,
    }


JOIN_SUCCESS_RATE = Metric(
    name="join_success_rate",
    unit="ratio 0..1",
    description="Successful joins / join attempts: `join` events over `join` + `join_failed` events.",
    better=Better.HIGHER,
    version=1,
    source="events",
    fields=("type",),
    aggregation=Aggregation.RATIO,
    value="type = 'join'",
    where="type IN ('join', 'join_failed')",
    thresholds=Thresholds(0.99, 0.95, "ours; TRTC and SparkRTC publish the rate without bands"),
    vectors=(
        Vector(
            "one failure in four attempts",
            (
                {"type": "join"},
                {"type": "join"},
                {"type": "join"},
                {"type": "join_failed"},
                {"type": "leave"},
            ),
            0.75,
        ),
        Vector("no attempts, no rate", ({"type": "leave"},), None),
    ),
)
SESSIONS = Metric(
    name="sessions",
    unit="sessions",
    description="Distinct participant sessions that joined in the bucket (a user who rejoins has two).",
    better=Better.HIGHER,
    version=1,
    source="events",
    fields=("session_id", "type"),
    aggregation=Aggregation.DISTINCT,
    value="session_id",
    where="type = 'join'",
    vectors=(
        Vector(
            "rejoin is a new session; failed joins are not sessions",
            (
                {"session_id": "s1", "type": "join"},
                {"session_id": "s1", "type": "camera_on"},
                {"session_id": "s2", "type": "join"},
                {"session_id": "s3", "type": "join_failed"},
            ),
            2,
        ),
    ),
)

JOIN_SUCCESS_WITHIN_5S = Metric(
    name="join_success_within_5s",
    unit="ratio 0..1",
    description=(
        "Joins that got in within 5 s / join attempts: `join` events whose wait (metrics/"
        "join_waits.py: from the user's first connection attempt in the room, across a failed "
        "attempt and its retry) was at most 5 s, over `join` + `join_failed` events. A join with "
        "no attempt event before it has no measurable wait and counts as within 5 s, as the "
        "slow-join detector (abnormal type 1, the same wait) does not call it slow."
    ),
    better=Better.HIGHER,
    version=1,
    source="join_waits",
    fields=("type", "state", "ts", "user_id", "room_id"),
    aggregation=Aggregation.RATIO,
    value=f"type = 'join' AND NOT (join_wait_ms > {WITHIN_MS})",
    where="type IN ('join', 'join_failed')",
    thresholds=Thresholds(0.98, 0.9, "ours; TRTC and SparkRTC publish the rate without bands"),
    vectors=(
        Vector(
            "1.2 s in; 6 s in; failed at 10 s and in at 14 s (one wait of 14 s): 1 of 4",
            (
                _event("a", 0, "connection_state", "connecting"),
                _event("a", 1.2, "join"),
                _event("a", 1.2, "connection_state", "connected"),
                _event("b", 0, "ice_state", "checking"),
                _event("b", 6, "join"),
                _event("c", 0, "connection_state", "connecting"),
                _event("c", 10, "join_failed"),
                _event("c", 13, "connection_state", "connecting", "s-c2"),
                _event("c", 14, "join", session="s-c2"),
            ),
            0.25,
        ),
        Vector(
            "exactly 5 s is within; a join with no attempt before it counts as within",
            (
                _event("a", 0, "connection_state", "new"),
                _event("a", 5, "join"),
                _event("b", 3, "join"),
            ),
            1.0,
        ),
        Vector(
            "a leave ends the wait: the rejoin is timed from its own attempt",
            (
                _event("a", 0, "connection_state", "connecting"),
                _event("a", 1, "join"),
                _event("a", 30, "leave"),
                _event("a", 31, "connection_state", "connecting", "s-a2"),
                _event("a", 33, "join", session="s-a2"),
            ),
            1.0,
        ),
        Vector(
            "an attempt older than the 120 s look-back does not start the wait",
            (_event("a", 0, "connection_state", "connecting"), _event("a", 200, "join")),
            1.0,
        ),
        Vector("no attempts, no rate", (_event("a", 0, "leave"),), None),
    ),
    notes="Always ≤ join_success_rate. The wait is shared with the slow-join detector, whose "
    "threshold (abnormal rules, slow_join_ms) is 5 s as well.",
)

METRICS = (JOIN_SUCCESS_RATE, JOIN_SUCCESS_WITHIN_5S, SESSIONS)
