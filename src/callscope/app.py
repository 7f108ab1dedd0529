"""The composition root: the only module that wires every layer together."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp

from callscope import __version__, web
from callscope.analytics import abnormal as abnormal_detection
from callscope.analytics import rollups
from callscope.analytics.metrics import CATALOG
from callscope.api import errors as api_errors
from callscope.api import ops
from callscope.api.auth import Authenticator
from callscope.api.deps import Services
from callscope.api.middleware import RequestContext, add_cors
from callscope.api.native import abnormal, admin, apps, calls, ingest, janus, metrics, rooms, signal
from callscope.api.native.streaming import router as streaming_router
from callscope.api.tokens import IngestTokens
from callscope.collectors.janus import JanusTelemetry
from callscope.collectors.janus_tags import opaque_id
from callscope.collectors.pipeline import IngestLimits, IngestPipeline
from callscope.media.controller import MediaController
from callscope.media.join_tokens import DenyList, JoinTokens
from callscope.media.nodes import build_nodes
from callscope.media.signaling import SignalingHub
from callscope.observability import Metrics
from callscope.settings import Settings
from callscope.storage.dedupe import RecentKeys, reload_recent_keys
from callscope.storage.idempotency import IdempotencyLedger
from callscope.storage.migrations import (
    DURABLE_TABLES,
    INGEST_TABLES,
    migrate,
    set_fsync,
    set_merge_base,
    set_retention,
)
from callscope.storage.registry import open_backend
from callscope.storage.tenancy import TenancyStore
from callscope.storage.writer import GroupCommitWriter
from callscope.web import demo

log = logging.getLogger(__name__)


def build_services(settings: Settings) -> Services:
    """Open the store, bring its schema up to date and start the writer."""
    backend = open_backend(settings.resolved_store_url)
    try:
        applied = migrate(backend)
        rollup_columns = rollups.ensure(
            backend,
            CATALOG,
            retention_days=settings.minute_rollup_retention_days,
            day_retention_days=settings.day_rollup_retention_days,
            views=settings.rollups,
        )
        set_retention(backend, "samples", "ts", settings.sample_retention_days)
        set_fsync(backend, enabled=settings.fsync, tables=(*DURABLE_TABLES, *rollups.TABLES))
        set_merge_base(backend, (*INGEST_TABLES, *rollups.TABLES))
        abnormal_detection.ensure(backend, fsync=settings.fsync)
        metrics = Metrics()
        recent = RecentKeys(settings.dedupe_memory_keys)
        reloaded = reload_recent_keys(
            backend, recent, settings.dedupe_reload_window_s, settings.dedupe_memory_keys
        )
    except BaseException:
        backend.close()
        raise
    log.info(
        "store open",
        extra={
            "store": backend.url,
            "migrations_applied": applied,
            "rollup_columns_added": len(rollup_columns),
            "dedupe_keys_reloaded": reloaded,
        },
    )
    writer = GroupCommitWriter(
        backend,
        metrics=metrics,
        recent_keys=recent,
        max_queue_rows=settings.writer_queue_max_rows,
        max_batch_rows=settings.writer_max_batch_rows,
        linger_s=settings.writer_linger_ms / 1000,
        threads=settings.writer_threads,
    )
    writer.start()
    pipeline = IngestPipeline(
        writer=writer,
        ledger=IdempotencyLedger(backend, settings.idempotency_ttl_s),
        limits=IngestLimits(
            settings.max_items_per_batch, settings.max_sample_age_s, settings.max_clock_skew_s
        ),
        metrics=metrics,
    )
    tenancy = TenancyStore(backend)
    tokens = IngestTokens(settings.token_secret.get_secret_value(), max_ttl_s=settings.ingest_token_max_ttl_s)
    auth = Authenticator(tenancy, tokens, settings.admin_token.get_secret_value())
    auth.refresh()
    return Services(settings, backend, writer, pipeline, tenancy, tokens, auth, metrics)


class _MediaListener:
    """What the media controller tells the rest: a node died, a room could not be recreated."""

    def __init__(self, telemetry: JanusTelemetry) -> None:
        self._telemetry = telemetry

    def node_down(self, node: str, reason: str) -> None:
        self._telemetry.node_lost(node, f"media_server_lost: {reason}")

    def room_closed(self, app_id: str, room_id: str, reason: str) -> None:
        log.warning("media room closed", extra={"app_id": app_id, "room_id": room_id, "reason": reason})


def build_janus(settings: Settings, services: Services) -> janus.JanusRuntime | None:
    """The media plane, when a Janus node is configured (managed or external); else None."""
    if not settings.janus_managed and not settings.janus_nodes:
        return None
    local = f"http://{_loopback(settings.host)}:{settings.port}"
    nodes, secrets = build_nodes(settings, f"{local}/v1/janus/events")
    controller: MediaController
    telemetry = JanusTelemetry(
        services.writer,
        lambda node, number: controller.room_for(node, number),
        max_age_s=settings.max_sample_age_s,
        max_skew_s=settings.max_clock_skew_s,
    )
    controller = MediaController(
        nodes, listener=_MediaListener(telemetry), health_interval_s=settings.janus_health_interval_s
    )
    return janus.JanusRuntime(controller, telemetry, secrets)


def _loopback(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104 (comparing, not binding)


async def _answers(url: str) -> bool:
    async with httpx.AsyncClient() as client:
        try:
            return (await client.get(url, timeout=0.5)).status_code == 200
        except httpx.HTTPError:
            return False


class _CallscopeApp(FastAPI):
    """FastAPI with the ingest lane (api/native/ingest.py) ahead of its whole middleware stack."""

    def build_middleware_stack(self) -> ASGIApp:
        return ingest.IngestLane(super().build_middleware_stack(), lambda: self.state.services)


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    """The ASGI app. Services are built on start-up unless given (tests share one store)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = services or build_services(settings)
        app.state.janus = build_janus(settings, app.state.services)
        app.state.join_tokens = JoinTokens(
            settings.token_secret.get_secret_value(),
            max_ttl_s=settings.join_token_max_ttl_s,
            deny=DenyList(settings.data_dir / "join-tokens-denied.json"),
        )
        app.state.signaling = None
        if app.state.janus is not None:
            healthz = f"http://{_loopback(settings.host)}:{settings.port}/healthz"
            await app.state.janus.controller.start(lambda: _answers(healthz))
            app.state.signaling = SignalingHub(
                app.state.janus.controller,
                app.state.join_tokens,
                tag=opaque_id,
                record=signal.event_recorder(app.state.services.writer, settings),
                telemetry=signal.telemetry_grant(app.state.services),
            )
        detector = None
        if settings.abnormal_detection:
            detector = abnormal_detection.BackgroundDetector(
                abnormal_detection.Detector(app.state.services.backend), settings.abnormal_poll_s
            )
            detector.start()
        try:
            yield
        finally:
            if detector is not None:
                await detector.stop()
            if app.state.signaling is not None:
                await app.state.signaling.close()
            if app.state.janus is not None:
                await app.state.janus.controller.stop()
            if owned:
                app.state.services.close()

    app = _CallscopeApp(
        title="Callscope",
        version=__version__,
        summary="Real-time communication quality: ingest, store and query.",
        lifespan=lifespan,
        # We export Prometheus metrics ourselves; FastAPI's OpenTelemetry hooks would only
        # re-check for a configured provider on every request (measured ~15 µs each).
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    api_errors.install(app)
    for router in (
        ops.router,
        ingest.router,
        apps.router,
        calls.router,
        metrics.router,
        admin.router,
        janus.router,
        rooms.router,
        signal.router,
        abnormal.router,
        streaming_router,
        demo.router,
    ):
        app.include_router(router)
    app.mount("/sdk", StaticFiles(directory=Path(web.__file__).parent / "static" / "sdk"), name="sdk")
    add_cors(app)
    app.add_middleware(RequestContext)
    return app
