"""Joins and sessions, from call events (few per session, so computed from the event rows)."""

from __future__ import annotations

from callscope.analytics.metrics.catalog import Aggregation, Better, Metric, Thresholds, Vector

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

METRICS = (JOIN_SUCCESS_RATE, SESSIONS)
