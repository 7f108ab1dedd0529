"""Response shapes of the native query API, for the OpenAPI document at `/docs`.

The handlers render with orjson straight from the analytics layer (no per-row model cost); these
models only describe the wire shape. tests/api/test_openapi.py validates real responses against
them, so the published schema cannot drift from what the API sends.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model

from callscope.analytics import calls, query
from callscope.analytics.calls import SERIES_METRICS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    """RFC 9457 problem details; `code` is stable, `detail` is for people."""

    type: str = Field(examples=["urn:callscope:problem:bad_request"])
    title: str
    status: int
    detail: str
    code: str


def _mirror(cls: type, **descriptions: str) -> Any:
    """A strict model of an analytics result dataclass, field for field: the wire shape is
    declared once, where the values are made."""
    hints = get_type_hints(cls)
    fields_: dict[str, Any] = {
        f.name: (hints[f.name], Field(description=descriptions.get(f.name))) for f in fields(cls)
    }
    return create_model(cls.__name__, __base__=_Strict, **fields_)


RoomInstance = _mirror(
    calls.RoomInstance,
    instance_id="Stable id of one continuous occupancy of the room",
    end_ts="Null while RUNNING",
    participants="Participant sessions in the instance",
)


class RoomInstancePage(_Strict):
    room_instances: list[RoomInstance]  # type: ignore[valid-type]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")


Participant = _mirror(calls.Participant)


class ParticipantList(_Strict):
    participants: list[Participant]  # type: ignore[valid-type]


class Stream(_Strict):
    kind: Literal["audio", "video", "screen", "connection", "device"]
    direction: Literal["up", "down", "none"]
    peer_id: str = Field(description="Publisher of a received stream; empty for sent streams")
    stream_id: str
    source: str = Field(description="Who measured it: client or server")
    first_ts: datetime
    last_ts: datetime
    samples: int


class StreamList(_Strict):
    streams: list[Stream]


def _metric_fields(suffixes: tuple[str, ...]) -> dict[str, Any]:
    # Null where the metric was not measured (NaN in the store never reaches JSON as a number).
    return {f"{m}{s}": (float | None, None) for m in SERIES_METRICS for s in suffixes}


RawPoint = create_model(
    "RawPoint",
    __base__=_Strict,
    ts=(datetime, ...),
    window_ms=(int, Field(description="Measurement window the sample covers")),
    **_metric_fields(("",)),
)
BucketPoint = create_model(
    "BucketPoint",
    __base__=_Strict,
    ts=(datetime, Field(description="Start of the bucket")),
    samples=(int, Field(description="Samples in the bucket")),
    **_metric_fields(("_min", "_avg", "_max")),
)


class Series(_Strict):
    interval: Literal["raw", "10s", "1m"]
    points: list[RawPoint | BucketPoint]  # fields built from SERIES_METRICS


class Event(_Strict):
    ts: datetime
    type: str
    user_id: str
    session_id: str
    peer_id: str
    state: str
    reason: str
    device: str


class Timeline(_Strict):
    events: list[Event]


MetricInfo = _mirror(query.MetricInfo)


class MetricResult(_Strict):
    interval: query.Interval
    metrics: list[MetricInfo]  # type: ignore[valid-type]
    group_by: list[str]
    rows: list[dict[str, Any]] = Field(
        description="`ts` (bucket start, absent for total), the group-by keys, `samples`, and "
        "one value per metric name (null where nothing was measured)"
    )


class Thresholds(_Strict):
    good: float
    poor: float
    source: str


class MetricDefinition(_Strict):
    name: str
    version: int
    unit: str
    better: Literal["higher", "lower"]
    description: str
    thresholds: Thresholds | None


ERRORS: dict[int | str, dict[str, Any]] = {
    # The model registers Problem in the components; the content entry says the media type we send.
    status: {
        "model": Problem,
        "description": text,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for status, text in (
        (400, "Bad time range, cursor or parameter"),
        (401, "Missing or invalid credentials"),
        (403, "The credential may not read this app"),
        (404, "Nothing matches"),
    )
}
