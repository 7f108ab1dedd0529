"""Health, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from callscope.api.deps import AdminDep, ServicesDep
from callscope.api.errors import problem
from callscope.api.responses import JSONBytes
from callscope.errors import StoreError

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up (no auth)")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The store answers and the writer runs (no auth)", response_model=None)
async def readyz(services: ServicesDep) -> JSONBytes:
    try:
        await asyncio.to_thread(services.backend.scalar, "SELECT 1")
    except StoreError as exc:
        return problem(503, "store_unavailable", f"store is not answering: {exc}")
    if not services.writer.running:
        return problem(503, "writer_stopped", "the writer is not running")
    return JSONBytes({"status": "ready", "queued_rows": services.writer.queued_rows})


@router.get("/metrics", summary="Prometheus metrics (admin token)")
def metrics(services: ServicesDep, _: AdminDep) -> Response:
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
