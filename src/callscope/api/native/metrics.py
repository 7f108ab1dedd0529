"""`GET /v1/apps/{app_id}/metrics`: catalog metrics over a scope, time range and interval;
`GET /v1/apps/{app_id}/online-users/distribution`: who was online in a minute, by attribute."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from callscope.analytics import calls, query
from callscope.analytics.metrics import CATALOG
from callscope.api.deps import AppOwnerDep, ServicesDep
from callscope.api.native import schemas
from callscope.api.native.calls import When, _when, time_range
from callscope.api.responses import JSONBytes
from callscope.domain.timestamps import to_epoch_us
from callscope.errors import BadRequest

router = APIRouter(tags=["metrics"], responses=schemas.ERRORS)
Many = Annotated[list[str], Query()]
Dimension = Literal["region", "isp", "country", "network_type", "platform", "sdk_version"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DimensionValue(_Strict):
    value: str  # '' for sessions whose join did not say
    online_users: int


class StreamIndicators(_Strict):
    kind: Literal["audio", "video", "screen", "connection", "device"]
    direction: Literal["up", "down", "none"]
    peer_id: str
    points: list[schemas.BucketPoint]


class Indicators(_Strict):
    interval: Literal["10s", "1m"]
    streams: list[StreamIndicators]


class OnlineDistribution(_Strict):
    minute: datetime
    dimension: Dimension
    online_users: int
    values: list[DimensionValue]


@router.get("/v1/apps/{app_id}/metrics", response_model=schemas.MetricResult)
async def metrics(
    app_id: AppOwnerDep,
    services: ServicesDep,
    start: When,
    end: When,
    metric: Annotated[list[str], Query(description="Catalog names (docs/metrics.md); repeat for several")],
    interval: query.Interval = "1m",
    room_id: str | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
    peer_id: str | None = None,
    kind: Many = [],  # noqa: B006 - FastAPI reads the default, never mutates it
    direction: Many = [],  # noqa: B006
    source: Many = [],  # noqa: B006
    sdk_type: Many = [],  # noqa: B006
    group_by: Many = [],  # noqa: B006
) -> JSONBytes:
    """Metric values per bucket (or in total), optionally grouped; `null` where nothing was measured."""
    result = await asyncio.to_thread(
        query.query_metrics,
        services.backend,
        metrics=metric,
        scope=query.Scope(app_id, room_id, user_id, session_id, peer_id),
        window=time_range(start, end),
        interval=interval,
        filters=query.Filters(tuple(kind), tuple(direction), tuple(source), tuple(sdk_type)),
        group_by=group_by,
    )
    return JSONBytes(
        {
            "interval": result.interval,
            "metrics": [m.__dict__ for m in result.metrics],
            "group_by": result.group_by,
            "rows": result.rows,
        }
    )


@router.get(
    "/v1/apps/{app_id}/metric-definitions",
    response_model=list[schemas.MetricDefinition],
    summary="The metric catalog (the same for every app; docs/metrics.md has the formulas)",
)
async def catalog(app_id: AppOwnerDep) -> JSONBytes:
    return JSONBytes(
        [
            {
                "name": m.name,
                "version": m.version,
                "unit": m.unit,
                "better": m.better.value,
                "description": m.description,
                "thresholds": None if m.thresholds is None else m.thresholds.__dict__,
            }
            for m in CATALOG
        ]
    )


@router.get(
    "/v1/apps/{app_id}/online-users/distribution",
    response_model=OnlineDistribution,
    summary="Users online in one minute, per region, ISP, country, network type, platform or SDK version",
)
async def online_distribution(
    app_id: AppOwnerDep,
    services: ServicesDep,
    time: When,
    dimension: Dimension,
    room_id: str | None = None,
    sdk_type: Many = [],  # noqa: B006
) -> JSONBytes:
    """The minute holding `time`; values sorted by users, most first, adding up to `online_users`."""
    try:
        at = to_epoch_us(_when(time, "time"))
    except (ValueError, OverflowError) as exc:
        raise BadRequest(f"time: {exc}", field="time") from exc
    found = await asyncio.to_thread(
        query.online_distribution,
        services.backend,
        scope=query.Scope(app_id, room_id),
        at_us=at,
        dimension=dimension,
        filters=query.Filters(sdk_type=tuple(sdk_type)),
    )
    return JSONBytes(found.__dict__)


@router.get(
    "/v1/apps/{app_id}/rooms/{room_id}/sessions/{session_id}/indicators",
    response_model=Indicators,
    summary="A participant's per-user indicators: every stream's min/avg/max per bucket, in one read",
)
async def session_indicators(
    app_id: AppOwnerDep,
    room_id: str,
    session_id: str,
    services: ServicesDep,
    start: When,
    end: When,
    interval: Literal["10s", "1m"] = "1m",
) -> JSONBytes:
    """Each stream (kind, direction, publisher) with the points `…/series` gives for it."""
    found = await asyncio.to_thread(
        calls.session_series,
        services.backend,
        app_id=app_id,
        room_id=room_id,
        session_id=session_id,
        window=time_range(start, end),
        interval=interval,
    )
    return JSONBytes({"interval": interval, "streams": found})
