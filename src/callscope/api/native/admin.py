"""Operator endpoints (`/v1/admin/*`, admin token): what the CLI uses while the server runs."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from pydantic import BaseModel, Field

from callscope.api.deps import AdminDep, ServicesDep

router = APIRouter(tags=["admin"])

_ROW_COUNTS_SQL = """
SELECT table, sum(rows) AS rows FROM system.parts
WHERE database = currentDatabase() AND active AND table IN ('samples', 'events', 'abnormal_events')
GROUP BY table
"""


class AppCreate(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    project_id: str = Field("default", min_length=1, max_length=128)


class AppCreated(BaseModel):
    app_id: str
    project_id: str
    name: str
    api_key: str = Field(description="Shown once; only its hash is stored.")


class AppInfo(BaseModel):
    app_id: str
    project_id: str
    name: str


@router.post("/v1/admin/apps", status_code=201)
def create_app(body: AppCreate, services: ServicesDep, _: AdminDep) -> AppCreated:
    app, api_key = services.tenancy.create_app(body.name, project_id=body.project_id)
    services.auth.refresh()
    return AppCreated(app_id=app.app_id, project_id=app.project_id, name=app.name, api_key=api_key)


@router.get("/v1/admin/apps")
def list_apps(services: ServicesDep, _: AdminDep) -> list[AppInfo]:
    return [
        AppInfo(app_id=a.app_id, project_id=a.project_id, name=a.name) for a in services.tenancy.list_apps()
    ]


@router.get("/v1/admin/stats")
async def stats(services: ServicesDep, _: AdminDep) -> dict[str, int]:
    """Rows stored per table and rows waiting for the writer."""
    rows = await asyncio.to_thread(services.backend.query, _ROW_COUNTS_SQL)
    counts = {"samples": 0, "events": 0, "abnormal_events": 0}
    counts.update({row["table"]: int(row["rows"]) for row in rows})
    return {**counts, "queued_rows": services.writer.queued_rows}
