"""One real chDB store and one real HTTP server for the session; tests isolate by app.

chDB binds one store path per process, so tests share it and each test creates its own app
(tenancy is exactly the isolation we promise users). Tests that need their own server or store
start a subprocess.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from callscope.api.deps import Services
from callscope.app import build_services, create_app
from callscope.settings import Settings

ADMIN_TOKEN = "test-admin-token-that-is-long-enough-0123"
TOKEN_SECRET = "test-token-secret-that-is-long-enough-0123"


def pytest_report_header() -> str:
    if os.environ.get("CALLSCOPE_TEST_CLICKHOUSE_URL"):
        return "storage contract: chDB and the ClickHouse server at CALLSCOPE_TEST_CLICKHOUSE_URL"
    return (
        "storage contract: chDB only; the ClickHouse-server case runs when "
        "CALLSCOPE_TEST_CLICKHOUSE_URL is set (no server is installable from CI's registries)"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("store")


@pytest.fixture(scope="session")
def settings(store_dir: Path) -> Settings:
    port = free_port()
    return Settings(
        data_dir=store_dir,
        port=port,
        admin_token=ADMIN_TOKEN,
        token_secret=TOKEN_SECRET,
        log_level="WARNING",
    )


@pytest.fixture(scope="session")
def services(settings: Settings) -> Iterator[Services]:
    built = build_services(settings)
    yield built
    built.close()


@pytest.fixture(scope="session")
def base_url(settings: Settings, services: Services) -> Iterator[str]:
    config = uvicorn.Config(
        create_app(settings, services),
        host="127.0.0.1",
        port=settings.port,
        log_config=None,
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "test server did not start"
        time.sleep(0.05)
    yield settings.resolved_public_url
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=30) as c:
        yield c


@pytest.fixture
def new_app(services: Services) -> Callable[[], tuple[str, str]]:
    """Create an app; returns (app_id, secret API key)."""

    def make(name: str = "test") -> tuple[str, str]:
        app, key = services.tenancy.create_app(name)
        services.auth.refresh()
        return app.app_id, key

    return make


@pytest.fixture
def app_creds(new_app: Callable[[], tuple[str, str]]) -> tuple[str, str]:
    return new_app()
