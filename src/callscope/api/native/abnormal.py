"""`GET /v1/apps/{app_id}/abnormal-events[/distribution]`: detected abnormal experience.

Response models mirror the analytics dataclasses (`analytics.abnormal.queries`), as
`schemas.py` does for rooms and participants; docs/abnormal.md defines every code.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from callscope.analytics.abnormal import queries
from callscope.api.deps import AppOwnerDep, ServicesDep
from callscope.api.native import schemas
from callscope.api.native.calls import When, time_range
from callscope.api.responses import JSONBytes

router = APIRouter(tags=["abnormal"], responses=schemas.ERRORS)
AbnormalEvent = schemas._mirror(  # noqa: SLF001 - the one mirroring helper of the native API
    queries.AbnormalEvent,
    ts="Onset: end of the first abnormal window (slow join: the join)",
    stage="join_room or communication",
    location="local (the user) or remote (the peer)",
    peer_id="Publisher of the affected stream; empty for slow joins",
    type="1 slow join, 2 video freeze, 3 audio freeze",
    factor="SparkRTC factor code (docs/abnormal.md)",
    definition_version="Rule set that produced it, e.g. abnormal@v1",
    evidence="The values compared, the rule that matched and the thresholds",
)
DistributionRow = schemas._mirror(queries.DistributionRow)  # noqa: SLF001


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AbnormalEventPage(_Strict):
    total: int = Field(description="Events matching the filters (all pages)")
    limit: int
    offset: int
    events: list[AbnormalEvent]  # type: ignore[valid-type]


class Distribution(_Strict):
    dimensions: list[str]
    rows: list[DistributionRow]  # type: ignore[valid-type]


def _filters(room_id: str | None, user_id: str | None, type_: int | None, factor: int | None) -> Any:
    return queries.Filters(room_id=room_id, user_id=user_id, type=type_, factor=factor)


Dimensions = Annotated[list[str], Query(description="type and/or factor; repeat or comma-separate")]
TypeQuery = Annotated[int | None, Query(alias="type", ge=1, le=3, description="1, 2 or 3")]
FactorQuery = Annotated[int | None, Query(ge=0, le=4_294_967_295, description="Factor code")]


@router.get(
    "/v1/apps/{app_id}/abnormal-events",
    response_model=AbnormalEventPage,
    summary="Abnormal events (slow joins, freezes) with attribution, newest first",
)
async def list_abnormal_events(
    app_id: AppOwnerDep,
    services: ServicesDep,
    start: When,
    end: When,
    room_id: str | None = None,
    user_id: str | None = None,
    abnormal_type: TypeQuery = None,
    factor: FactorQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> JSONBytes:
    page = await asyncio.to_thread(
        queries.list_events,
        services.backend,
        app_id=app_id,
        window=time_range(start, end),
        filters=_filters(room_id, user_id, abnormal_type, factor),
        limit=limit,
        offset=offset,
    )
    return JSONBytes(
        {"total": page.total, "limit": limit, "offset": offset, "events": [e.__dict__ for e in page.events]}
    )


@router.get(
    "/v1/apps/{app_id}/abnormal-events/distribution",
    response_model=Distribution,
    summary="Users with abnormal events, by type and/or factor",
)
async def abnormal_distribution(
    app_id: AppOwnerDep,
    services: ServicesDep,
    start: When,
    end: When,
    room_id: str | None = None,
    dimension: Dimensions = ["type", "factor"],  # noqa: B006 - FastAPI reads it, never mutates it
) -> JSONBytes:
    dimensions = tuple(d.strip() for value in dimension for d in value.split(",") if d.strip())
    rows = await asyncio.to_thread(
        queries.distribution,
        services.backend,
        app_id=app_id,
        window=time_range(start, end),
        filters=_filters(room_id, None, None, None),
        dimensions=dimensions,
    )
    return JSONBytes({"dimensions": list(dict.fromkeys(dimensions)), "rows": [r.__dict__ for r in rows]})
