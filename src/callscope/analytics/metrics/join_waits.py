"""How long a user waited to get into a room: the one definition of a join's wait.

A user's join attempt starts at the first connecting event (`connection_state` / `ice_state` in
state new, connecting, checking or failed) or failed attempt (`join_failed`) of that user in the
room after their previous `join`, `leave` or `kicked` there (looking back at most
`LOOKBACK_S`), across sessions: a failed attempt and its retry are one wait for the user. The
wait of a `join` is the time from that start to the join; a join with no attempt event before it
has no measurable wait (NaN).

Written once, as SQL: `join_success_within_5s` reads it as its source, and the slow-join
detector (abnormal type 1) reads the same rows for the joins it examines.
"""

from __future__ import annotations

ATTEMPT_TYPES = ("connection_state", "ice_state", "join_failed")
ATTEMPT_STATES = ("new", "connecting", "checking", "failed")  # of connection_state / ice_state
BOUNDARY_TYPES = ("join", "leave", "kicked")
LOOKBACK_S = 120  # covers a failed attempt (ICE timeout ≤ 30 s) and its retry

_US_PER_MS = 1000


def _listed(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def select_sql(table: str, where: str, *, lookback_s: int = LOOKBACK_S) -> str:
    """One row per `join` and `join_failed` event of `table` passing `where`, with the event's
    own columns plus `join_wait_ms` (Float64, whole ms; NaN for failures and unmeasurable joins),
    `first_attempt_us` (0 when none), and the failed attempts counted in a join's wait, in time
    order, as `failed_sessions` and `failed_reasons`.

    `where` must keep the `lookback_s` before the first join of interest: the boundaries and
    attempts there decide its wait. Only fixed names and the caller's SQL are formatted in.
    """
    lookback_us = int(lookback_s) * 1_000_000
    attempt = (
        f"(type = 'join_failed' OR (type IN ({_listed(ATTEMPT_TYPES)}) "
        f"AND state IN ({_listed(ATTEMPT_STATES)})))"
    )
    user = "PARTITION BY app_id, room_id, user_id"
    # Segments: a row's count of the user's boundaries strictly before it. An attempt counts for
    # a join when both are in one segment (no boundary in between; one at the join's own instant
    # does not split, as the join itself does not). Window frames over epoch µs, so "strictly
    # before" is the RANGE frame ending 1 µs earlier.
    return f"""SELECT app_id, room_id, user_id, session_id, peer_id, source, ts, type, reason,
    if(type = 'join' AND notEmpty(jw_tried), toFloat64(intDiv(jw_us - arrayMin(jw_tried), {_US_PER_MS})), nan)
        AS join_wait_ms,
    if(type = 'join' AND notEmpty(jw_tried), arrayMin(jw_tried), 0) AS first_attempt_us,
    if(type = 'join', arrayFilter(x -> x.1 >= jw_us - {lookback_us}, jw_failed), []) AS jw_counted,
    arrayMap(x -> x.2, jw_counted) AS failed_sessions,
    arrayMap(x -> x.3, jw_counted) AS failed_reasons
FROM (
    SELECT *, arrayFilter(x -> x >= jw_us - {lookback_us}, jw_attempts) AS jw_tried
    FROM (
        SELECT *,
            groupArrayIf(jw_us, jw_attempt) OVER jw_segment AS jw_attempts,
            groupArrayIf((jw_us, session_id, reason), type = 'join_failed') OVER jw_segment AS jw_failed
        FROM (
            SELECT app_id, room_id, user_id, session_id, peer_id, source, ts, type, reason,
                toUnixTimestamp64Micro(ts) AS jw_us, {attempt} AS jw_attempt,
                countIf(type IN ({_listed(BOUNDARY_TYPES)})) OVER (
                    {user} ORDER BY jw_us RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
                ) AS jw_boundaries
            FROM {table}
            WHERE ({where}) AND type IN ({_listed((*ATTEMPT_TYPES, *BOUNDARY_TYPES))})
        )
        WINDOW jw_segment AS (
            {user}, jw_boundaries ORDER BY jw_us RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        )
    )
)
WHERE type IN ('join', 'join_failed')"""  # noqa: S608 - fixed names and caller SQL only
