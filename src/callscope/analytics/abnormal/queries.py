"""Reading abnormal events: a filtered, paged list and the distribution of users by type/factor.

A *user* is a user id in a room (SparkRTC counts the same id in two rooms twice), so the
distribution's `user_count` is the number of distinct (room, user) pairs with at least one event
of that type/factor in the range.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson

from callscope.analytics.abnormal.taxonomy import factor_description, type_description
from callscope.analytics.timerange import TimeRange
from callscope.errors import BadRequest
from callscope.storage.base import StorageBackend

Dimension = Literal["type", "factor"]
DIMENSIONS: tuple[Dimension, ...] = ("type", "factor")


@dataclass(frozen=True)
class Filters:
    room_id: str | None = None
    user_id: str | None = None
    type: int | None = None
    factor: int | None = None


@dataclass(frozen=True)
class AbnormalEvent:
    ts: datetime
    room_id: str
    user_id: str
    session_id: str
    stage: str
    location: str
    peer_id: str
    type: int
    type_desc: str
    factor: int
    factor_desc: str
    definition_version: str
    evidence: dict[str, Any]


@dataclass(frozen=True)
class EventPage:
    total: int
    events: list[AbnormalEvent]


@dataclass(frozen=True)
class DistributionRow:
    type: int | None
    type_desc: str | None
    factor: int | None
    factor_desc: str | None
    user_count: int


def _where(app_id: str, window: TimeRange, filters: Filters) -> tuple[str, dict[str, Any]]:
    clauses = [
        "app_id = {app:String}",
        "ts >= fromUnixTimestamp64Micro({start:Int64}, 'UTC')",
        "ts < fromUnixTimestamp64Micro({end:Int64}, 'UTC')",
    ]
    params: dict[str, Any] = {"app": app_id, "start": window.start_us, "end": window.end_us}
    for name, sql_type in (
        ("room_id", "String"),
        ("user_id", "String"),
        ("type", "UInt8"),
        ("factor", "UInt32"),
    ):
        value = getattr(filters, name)
        if value is not None:
            clauses.append(f"{name} = {{{name}:{sql_type}}}")
            params[name] = value
    return " AND ".join(clauses), params


def list_events(
    backend: StorageBackend, *, app_id: str, window: TimeRange, filters: Filters, limit: int, offset: int
) -> EventPage:
    """Events newest first; `total` counts every match, not just the page."""
    where, params = _where(app_id, window, filters)
    total = int(backend.scalar(f"SELECT count() FROM abnormal_events WHERE {where}", params))  # noqa: S608
    rows = backend.query(
        "SELECT ts AS event_ts, room_id, user_id, session_id, stage, location, peer_id, type, factor, "  # noqa: S608
        f"definition_version, evidence FROM abnormal_events WHERE {where} "
        "ORDER BY event_ts DESC, room_id, user_id, session_id, type, peer_id "
        "LIMIT {limit:UInt32} OFFSET {offset:UInt64}",
        {**params, "limit": limit, "offset": offset},
    )
    events = [
        AbnormalEvent(
            ts=r["event_ts"],
            room_id=r["room_id"],
            user_id=r["user_id"],
            session_id=r["session_id"],
            stage=r["stage"],
            location=r["location"],
            peer_id=r["peer_id"],
            type=int(r["type"]),
            type_desc=type_description(r["type"]),
            factor=int(r["factor"]),
            factor_desc=factor_description(r["type"], r["factor"]),
            definition_version=r["definition_version"],
            evidence=orjson.loads(r["evidence"]) if r["evidence"] else {},
        )
        for r in rows
    ]
    return EventPage(total, events)


def distribution(
    backend: StorageBackend,
    *,
    app_id: str,
    window: TimeRange,
    filters: Filters,
    dimensions: tuple[str, ...] = DIMENSIONS,
) -> list[DistributionRow]:
    """Users with at least one event, per type, per factor, or per (type, factor). Factor codes
    mean different things for type 1 and types 2–3, so a factor is always grouped with its type;
    grouping by factor alone still separates them and reports the type."""
    unknown = [d for d in dimensions if d not in DIMENSIONS]
    if unknown or not dimensions:
        raise BadRequest(
            f"dimension must be one or both of {', '.join(DIMENSIONS)}; "
            f"got {', '.join(dimensions) or 'none'}",
            field="dimension",
        )
    keys = ["type", "factor"] if "factor" in dimensions else ["type"]
    where, params = _where(app_id, window, filters)
    rows = backend.query(
        f"SELECT {', '.join(keys)}, uniqExact(room_id, user_id) AS user_count "  # noqa: S608
        f"FROM abnormal_events WHERE {where} GROUP BY {', '.join(keys)} "
        f"ORDER BY user_count DESC, {', '.join(keys)}",
        params,
    )
    return [
        DistributionRow(
            type=int(r["type"]),
            type_desc=type_description(r["type"]),
            factor=int(r["factor"]) if "factor" in r else None,
            factor_desc=factor_description(r["type"], r["factor"]) if "factor" in r else None,
            user_count=int(r["user_count"]),
        )
        for r in rows
    ]
