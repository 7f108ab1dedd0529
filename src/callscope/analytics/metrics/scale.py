"""Scale: how many users and rooms were active in a bucket (a minute, an hour, a day).

Active means at least one sample from the user (or in the room) in the bucket. Per minute this
is "online users" / "rooms in use"; per day the same definition gives the day's distinct users
and rooms. A participant who joined but sent no sample yet is not counted (known limit: event-
only presence is not a sample).
"""

from __future__ import annotations

from callscope.analytics.metrics.catalog import Aggregation, Better, Metric, Vector

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

METRICS = (ONLINE_USERS, ROOMS_IN_USE)
