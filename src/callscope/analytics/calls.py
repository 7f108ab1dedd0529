"""Rooms, room instances, participant sessions, streams and their series, read from the store.

Sessions come from events (join/leave/join_failed carry the session's attributes) and from
samples (a client that never sent `join` still had a session). A room instance is one continuous
occupancy: sessions ordered by start form one instance until a session starts after every
earlier one has ended (gaps and islands, computed by the engine with window functions).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from callscope.analytics import limits
from callscope.analytics.timerange import TimeRange
from callscope.domain.samples import SERIES_MEASUREMENTS
from callscope.domain.timestamps import now_us, to_epoch_us
from callscope.errors import BadRequest, NotFound
from callscope.storage.base import StorageBackend
from callscope.storage.schema import EVENT_ATTRIBUTES

# A session with no leave and no report for this long is over (a crashed tab sends nothing).
SESSION_IDLE_S = 60
Interval = Literal["raw", "10s", "1m"]
_IN_RANGE = (
    "ts >= fromUnixTimestamp64Micro({lo:Int64}, 'UTC') AND ts < fromUnixTimestamp64Micro({hi:Int64}, 'UTC')"
)
_INTERVAL_S = {"10s": 10, "1m": 60}

# One row per session of the app in the range: first/last activity from events and samples.
# The attributes come from the first join (or failed join: a FAIL session still has a device)
# by one argMinIf over a tuple, not one per attribute: the same
# row wins either way, and the engine plans a statement per aggregate, so thirteen of them cost
# ~4 ms of the ~25 ms this statement took (measured by bench/query.py at 10 M samples).
_SESSIONS_SQL = """
WITH
  ev AS (
    SELECT room_id, session_id, any(user_id) AS user_id,
           minIf(ts, type = 'join') AS join_ts0, countIf(type = 'join') AS joins,
           maxIf(ts, type = 'leave') AS leave_ts0, countIf(type IN ('leave', 'kicked')) AS leaves,
           countIf(type = 'join_failed') AS failures, min(ts) AS ev_first, max(ts) AS ev_last,
           argMinIf(({attribute_tuple}), ts, type IN ('join', 'join_failed')) AS attributes
    FROM events
    WHERE app_id = {app:String}
      AND ts >= fromUnixTimestamp64Micro({lo:Int64}, 'UTC')
      AND ts < fromUnixTimestamp64Micro({hi:Int64}, 'UTC')
      AND ({room:String} = '' OR room_id = {room:String})
    GROUP BY room_id, session_id
  ),
  st AS (
    SELECT room_id, session_id, any(user_id) AS user_id, min(first_ts) AS st_first, max(last_ts) AS st_last
    FROM streams
    WHERE app_id = {app:String}
      AND last_ts >= fromUnixTimestamp64Micro({lo:Int64}, 'UTC')
      AND first_ts < fromUnixTimestamp64Micro({hi:Int64}, 'UTC')
      AND ({room:String} = '' OR room_id = {room:String})
    GROUP BY room_id, session_id
  )
SELECT
  if(ev.room_id != '', ev.room_id, st.room_id) AS room_id,
  if(ev.session_id != '', ev.session_id, st.session_id) AS session_id,
  if(ev.user_id != '', ev.user_id, st.user_id) AS user_id,
  if(ev.joins > 0, ev.join_ts0,
     least(ifNull(ev.ev_first, st.st_first), ifNull(st.st_first, ev.ev_first))) AS join_ts,
  greatest(ifNull(ev.ev_last, st.st_last), ifNull(st.st_last, ev.ev_last)) AS last_seen,
  ev.leaves > 0 AS left_room, ev.leave_ts0 AS leave_ts0,
  ev.failures > 0 AND ev.joins = 0 AS failed,
  {attribute_columns}
FROM ev FULL OUTER JOIN st ON ev.room_id = st.room_id AND ev.session_id = st.session_id
SETTINGS join_use_nulls = 1
""".replace("{attribute_tuple}", ", ".join(EVENT_ATTRIBUTES)).replace(
    "{attribute_columns}",
    ", ".join(f"ev.attributes.{i} AS {name}" for i, name in enumerate(EVENT_ATTRIBUTES, start=1)),
)


@dataclass(frozen=True)
class Participant:
    room_id: str
    instance_id: str
    user_id: str
    session_id: str
    state: Literal["ONLINE", "OFFLINE", "FAIL"]
    join_ts: datetime
    leave_ts: datetime | None
    device: str
    platform: str
    os: str
    browser: str
    sdk_name: str
    sdk_version: str
    sdk_type: str
    network_type: str
    ip: str
    region: str
    country: str
    city: str
    isp: str


@dataclass(frozen=True)
class RoomInstance:
    room_id: str
    instance_id: str
    state: Literal["RUNNING", "CLOSED"]
    start_ts: datetime
    end_ts: datetime | None
    participants: int


def _participants(
    backend: StorageBackend, app_id: str, window: TimeRange, room_id: str, now: datetime
) -> list[Participant]:
    rows = backend.query(
        _SESSIONS_SQL,
        {
            "app": app_id,
            "room": room_id,
            "lo": window.start_us,
            "hi": window.end_us,
        },
    )
    out = []
    for row in sorted(rows, key=lambda r: (r["room_id"], r["join_ts"], r["session_id"])):
        idle = (now - row["last_seen"]).total_seconds() > SESSION_IDLE_S
        if row["failed"]:
            state, leave = "FAIL", row["last_seen"]
        elif row["left_room"] or idle:
            state, leave = "OFFLINE", row["leave_ts0"] if row["left_room"] else row["last_seen"]
        else:
            state, leave = "ONLINE", None
        attributes = {k: row[k] or "" for k in EVENT_ATTRIBUTES}
        out.append(
            Participant(
                row["room_id"],
                "",
                row["user_id"],
                row["session_id"],
                state,  # type: ignore[arg-type]
                row["join_ts"],
                leave,
                **attributes,
            )
        )
    return _with_instances(out)


def _with_instances(participants: list[Participant]) -> list[Participant]:
    """Assign instance ids: a room's sessions, by join time, split where nobody was present."""
    result: list[Participant] = []
    current_room, instance, busy_until = None, "", None
    for p in participants:
        end = p.leave_ts
        if p.room_id != current_room or (busy_until is not None and p.join_ts > busy_until):
            current_room, instance = p.room_id, f"{p.room_id}@{int(p.join_ts.timestamp() * 1_000_000)}"
            busy_until = end
        elif busy_until is not None:
            busy_until = None if end is None else max(busy_until, end)
        result.append(Participant(**{**p.__dict__, "instance_id": instance}))
    return result


def room_instances(
    backend: StorageBackend, *, app_id: str, window: TimeRange, now: datetime, state: str | None = None
) -> list[RoomInstance]:
    limits.ROOM_LIST.check(window, now_us=to_epoch_us(now))
    by_instance: dict[str, list[Participant]] = {}
    for p in _participants(backend, app_id, window, "", now):
        by_instance.setdefault(p.instance_id, []).append(p)
    instances = []
    for instance_id, members in by_instance.items():
        running = any(p.state == "ONLINE" for p in members)
        ends = [p.leave_ts for p in members if p.leave_ts is not None]
        instances.append(
            RoomInstance(
                members[0].room_id,
                instance_id,
                "RUNNING" if running else "CLOSED",
                min(p.join_ts for p in members),
                None if running or not ends else max(ends),
                len({p.user_id for p in members}),
            )
        )
    if state is not None:
        instances = [i for i in instances if i.state == state]
    return sorted(instances, key=lambda i: (i.start_ts, i.instance_id), reverse=True)


def participants(
    backend: StorageBackend, *, app_id: str, room_id: str, instance_id: str, window: TimeRange, now: datetime
) -> list[Participant]:
    limits.ROOM_LIST.check(window, now_us=to_epoch_us(now))
    members = [
        p for p in _participants(backend, app_id, window, room_id, now) if p.instance_id == instance_id
    ]
    if not members:
        raise NotFound(f"no room instance {instance_id!r} in room {room_id!r} in that time range")
    return members


def streams(backend: StorageBackend, *, app_id: str, room_id: str, session_id: str) -> list[dict[str, Any]]:
    rows = backend.query(
        "SELECT kind, direction, peer_id, stream_id, source, min(first_ts) AS first_ts, "
        "max(last_ts) AS last_ts, sum(sample_count) AS samples FROM streams "
        "WHERE app_id = {app:String} AND room_id = {room:String} AND session_id = {session:String} "
        "GROUP BY kind, direction, peer_id, stream_id, source "
        "ORDER BY kind, direction, peer_id, stream_id, source",
        {"app": app_id, "room": room_id, "session": session_id},
    )
    if not rows:
        raise NotFound(f"no streams for session {session_id!r} in room {room_id!r}")
    return rows


SERIES_METRICS = SERIES_MEASUREMENTS
_INTEGER_METRICS = ("width_px", "height_px", "freeze_ms")
_NAN_METRICS = tuple(m for m in SERIES_METRICS if m not in _INTEGER_METRICS)


def series(
    backend: StorageBackend,
    *,
    app_id: str,
    room_id: str,
    session_id: str,
    kind: str,
    direction: str,
    peer_id: str,
    window: TimeRange,
    interval: Interval,
) -> list[dict[str, Any]]:
    """One stream's samples, raw or per 10 s / 1 min bucket with min/avg/max of each metric.

    NaN (unmeasured) never enters an aggregate: a bucket with no measurement of a metric has none.
    """
    limits.PER_USER.check(window, now_us=now_us())
    params = {
        "app": app_id,
        "room": room_id,
        "session": session_id,
        "kind": kind,
        "direction": direction,
        "peer": peer_id,
        "lo": window.start_us,
        "hi": window.end_us,
    }
    where = (
        "app_id = {app:String} AND room_id = {room:String} AND session_id = {session:String} "
        "AND kind = {kind:String} AND direction = {direction:String} AND peer_id = {peer:String} "
        f"AND {_IN_RANGE}"
    )
    if interval == "raw":
        columns = ", ".join(SERIES_METRICS)
        # Only fixed column names and bound parameters are in these statements.
        raw_sql = f"SELECT ts, window_ms, {columns} FROM samples WHERE {where} ORDER BY ts"  # noqa: S608
        return backend.query(raw_sql, params)
    if interval not in _INTERVAL_S:
        raise BadRequest("interval must be raw, 10s or 1m", field="interval")
    return _bucketed(backend, where, params, interval, keys=())


def session_series(
    backend: StorageBackend,
    *,
    app_id: str,
    room_id: str,
    session_id: str,
    window: TimeRange,
    interval: Literal["10s", "1m"] = "1m",
) -> list[dict[str, Any]]:
    """Every stream of a session, bucketed as `series` does, in one grouped statement: one entry
    per (kind, direction, peer_id) with its `points`, the same points `series` gives for it.

    The per-user indicators of a participant (SparkRTC client QoS) in one read, where asking
    for the streams and then each stream's series took a statement per stream."""
    limits.PER_USER.check(window, now_us=now_us())
    if interval not in _INTERVAL_S:
        raise BadRequest("interval must be 10s or 1m", field="interval")
    params = {
        "app": app_id,
        "room": room_id,
        "session": session_id,
        "lo": window.start_us,
        "hi": window.end_us,
    }
    where = (
        "app_id = {app:String} AND room_id = {room:String} AND session_id = {session:String} "
        f"AND {_IN_RANGE}"
    )
    keys = ("kind", "direction", "peer_id")
    streams: dict[tuple[str, ...], dict[str, Any]] = {}
    for row in _bucketed(backend, where, params, interval, keys=keys):
        key = tuple(row.pop(k) for k in keys)
        streams.setdefault(key, {**dict(zip(keys, key, strict=True)), "points": []})["points"].append(row)
    return list(streams.values())


def _bucketed(
    backend: StorageBackend, where: str, params: dict[str, Any], interval: str, keys: tuple[str, ...]
) -> list[dict[str, Any]]:
    """min/avg/max of every series metric per bucket (and per `keys`), ordered by keys, bucket."""
    # Six -ForEach aggregates over two arrays of metrics instead of 33 scalar ones: same values
    # (element-wise the same functions over the same rows), but the engine plans per aggregate,
    # and 33 cost ~5 ms of a ~20 ms query (bench/query.py at 10 M samples). Integer metrics have
    # no NaN, so they need no isFinite filter (an Array(Float32) would also turn them to floats).
    measured = f"[{', '.join(_NAN_METRICS)}]"
    counted = f"[{', '.join(_INTEGER_METRICS)}]"
    finite = f"arrayMap(x -> isFinite(x), {measured})"
    # The bucket is not aliased `ts`: a SELECT alias shadows the column in WHERE, which would
    # filter by bucket start (dropping a partial first bucket, keeping samples past `end`).
    # DateTime64 so buckets reach JSON as timestamps like raw points, not as epoch seconds.
    bucket = f"toDateTime64(toStartOfInterval(ts, toIntervalSecond({_INTERVAL_S[interval]})), 0, 'UTC')"
    grouped = ", ".join([*keys, "bucket"])
    sql = (
        f"SELECT {''.join(k + ', ' for k in keys)}{bucket} AS bucket, count() AS samples, "  # noqa: S608
        f"minIfForEach({measured}, {finite}) AS nan_min, avgIfForEach({measured}, {finite}) AS nan_avg, "
        f"maxIfForEach({measured}, {finite}) AS nan_max, minForEach({counted}) AS int_min, "
        f"avgForEach({counted}) AS int_avg, maxForEach({counted}) AS int_max "
        f"FROM samples WHERE {where} GROUP BY {grouped} ORDER BY {grouped}"
    )
    table = backend.query_arrow(sql, params)
    by_name = {k: table.column(k) for k in keys}
    by_name |= {"ts": table.column("bucket"), "samples": table.column("samples")}
    for group, metrics in (("nan", _NAN_METRICS), ("int", _INTEGER_METRICS)):
        for index, metric in enumerate(metrics):
            for stat in ("min", "avg", "max"):
                by_name[f"{metric}_{stat}"] = pc.list_element(table.column(f"{group}_{stat}"), index)
            if group == "nan":  # never measured in the bucket: min/max are the engine's 0, make them null
                unmeasured = pc.is_nan(by_name[f"{metric}_avg"])
                for stat in ("min", "max"):
                    column = by_name[f"{metric}_{stat}"]
                    by_name[f"{metric}_{stat}"] = pc.if_else(unmeasured, pa.scalar(None, column.type), column)
    ordered = [
        *keys,
        "ts",
        "samples",
        *(f"{m}_{stat}" for m in SERIES_METRICS for stat in ("min", "avg", "max")),
    ]
    rows: list[dict[str, Any]] = pa.table({name: by_name[name] for name in ordered}).to_pylist()
    return rows


def timeline(
    backend: StorageBackend, *, app_id: str, room_id: str, window: TimeRange, session_id: str = ""
) -> list[dict[str, Any]]:
    limits.ROOM_LIST.check(window, now_us=now_us())
    # Only the fixed _IN_RANGE text is formatted in; every value is bound.
    sql = (
        "SELECT ts, type, user_id, session_id, peer_id, state, reason, device FROM events "  # noqa: S608
        "WHERE app_id = {app:String} AND room_id = {room:String} "
        "AND ({session:String} = '' OR session_id = {session:String}) "
        f"AND {_IN_RANGE} ORDER BY ts, type"
    )
    return backend.query(
        sql,
        {
            "app": app_id,
            "room": room_id,
            "session": session_id,
            "lo": window.start_us,
            "hi": window.end_us,
        },
    )
