"""Scale: how many users and rooms were active in a bucket (a minute, an hour, a day).

Active means at least one sample from the user (or in the room) in the bucket. Per minute this
is "online users" / "rooms in use"; per day the same definition gives the day's distinct users
and rooms. A participant who joined but sent no sample yet is not counted (known limit: event-
only presence is not a sample).
"""

from __future__ import annotations

from datetime import UTC, datetime

from callscope.analytics.metrics.catalog import Aggregation, Better, Metric, Vector


def _at(minute: int, second: int) -> datetime:
    return datetime(2026, 1, 1, 0, minute, second, tzinfo=UTC)


ONLINE_USERS = Metric(
    name="online_users",
    unit="users",
    description="Distinct users with at least one sample in the bucket.",
    better=Better.HIGHER,
    version=1,
    source="samples",
    fields=("user_id",),
    aggregation=Aggregation.DISTINCT,
    value="user_id",
    vectors=(
        Vector(
            "a user with many streams counts once",
            (
                {"user_id": "a", "kind": "audio"},
                {"user_id": "a", "kind": "video"},
                {"user_id": "b", "kind": "audio"},
            ),
            2,
        ),
        Vector("no samples, no users", (), 0),
    ),
)
ROOMS_IN_USE = Metric(
    name="rooms_in_use",
    unit="rooms",
    description="Distinct rooms with at least one sample in the bucket.",
    better=Better.HIGHER,
    version=1,
    source="samples",
    fields=("room_id",),
    aggregation=Aggregation.DISTINCT,
    value="room_id",
    vectors=(Vector("two rooms", ({"room_id": "x"}, {"room_id": "y"}, {"room_id": "x"}), 2),),
)

PEAK_ONLINE_USERS = Metric(
    name="peak_online_users",
    unit="users",
    description="Most users online at once: the largest `online_users` of any one minute in the "
    "bucket (per day: the day's maximum concurrent users).",
    better=Better.HIGHER,
    version=1,
    source="samples",
    fields=("user_id", "ts"),
    aggregation=Aggregation.PEAK,
    value="user_id",
    notes="From the per-minute rollup, so answered for as long as minutes are kept (31 days by "
    "default, the history window).",
    vectors=(
        Vector(
            "two users in the first minute, one in the second: peak 2",
            (
                {"user_id": "a", "ts": _at(0, 10)},
                {"user_id": "b", "ts": _at(0, 40)},
                {"user_id": "a", "ts": _at(1, 10)},
                {"user_id": "a", "ts": _at(1, 20), "kind": "video"},
            ),
            2,
        ),
        Vector(
            "the same users a minute apart are not concurrent",
            ({"user_id": "a", "ts": _at(0, 10)}, {"user_id": "b", "ts": _at(1, 10)}),
            1,
        ),
        Vector("no samples, nobody online", (), 0),
    ),
)
PEAK_ROOMS_IN_USE = Metric(
    name="peak_rooms_in_use",
    unit="rooms",
    description="Most rooms in use at once: the largest `rooms_in_use` of any one minute in the bucket.",
    better=Better.HIGHER,
    version=1,
    source="samples",
    fields=("room_id", "ts"),
    aggregation=Aggregation.PEAK,
    value="room_id",
    notes=PEAK_ONLINE_USERS.notes,
    vectors=(
        Vector(
            "three rooms over the hour, at most two in one minute",
            (
                {"room_id": "x", "ts": _at(0, 10)},
                {"room_id": "y", "ts": _at(0, 20)},
                {"room_id": "z", "ts": _at(30, 0)},
            ),
            2,
        ),
    ),
)

METRICS = (ONLINE_USERS, ROOMS_IN_USE, PEAK_ONLINE_USERS, PEAK_ROOMS_IN_USE)
