"""`make demo`'s server: starts on demo secrets and demo traffic reaches the store over HTTP."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from callscope.settings import DEMO_ADMIN_TOKEN
from tests.helpers import bearer
from tests.serverproc import ServerProcess


def test_demo_serves_and_stores_traffic(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", demo=True)
    server.start()
    try:
        # --demo ignores nothing from the environment but allows the built-in secrets.
        deadline = time.monotonic() + 30
        stats: dict[str, int] = {}
        while time.monotonic() < deadline:
            stats = httpx.get(
                f"{server.url}/v1/admin/stats", headers=bearer(server.env["CALLSCOPE_ADMIN_TOKEN"])
            ).json()
            if stats["samples"] > 0 and stats["events"] > 0:
                break
            time.sleep(0.5)
        assert stats["samples"] > 0 and stats["events"] >= 12, stats
        assert httpx.get(f"{server.url}/docs").status_code == 200
        assert httpx.get(f"{server.url}/v1/admin/stats", headers=bearer(DEMO_ADMIN_TOKEN)).status_code == 401
    finally:
        server.stop()
