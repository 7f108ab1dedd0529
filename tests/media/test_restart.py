"""Killing Janus mid-call: Callscope notices within 5 s, ends the sessions, restarts Janus and
recreates the room (same number and pin), which a new publisher can then join."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.media.clients import Participant, publish, subscribe
from tests.media.conftest import MediaEnv

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
DETECT_DEADLINE_S = 5.0  # issue 5: "Callscope notices within 5 s"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat()


async def _close(people: list[Participant], http: httpx.AsyncClient) -> None:
    await asyncio.gather(*(p.close() for p in people))
    await http.aclose()


def test_janus_killed_mid_call_is_noticed_restarted_and_its_room_recreated(media: MediaEnv) -> None:
    app = media.call("POST", "/v1/admin/apps", json={"name": "restart"})
    app_id, token = app["app_id"], app["api_key"]
    placed = media.call("POST", "/v1/admin/media/rooms", json={"app_id": app_id, "room_id": "r1"})
    url, room, pin = placed["janus_url"], placed["janus_room"], placed["pin"]
    started = time.time()

    async def call() -> tuple[list[Participant], httpx.AsyncClient]:
        http = httpx.AsyncClient()
        alice = await publish(http, url, room, pin, "alice")
        carol = await subscribe(http, url, room, pin, "carol", alice.feed)
        return [alice, carol], http

    people, http = media.loop.run(call(), timeout=60)
    before = media.wait_node(True, 10, live_sessions=2)  # both sessions joined, per telemetry

    os.kill(before["pid"], signal.SIGKILL)
    killed = time.monotonic()
    deadline = killed + DETECT_DEADLINE_S
    for _ in range(int(DETECT_DEADLINE_S / 0.05) + 1):
        node = media.node()
        if node["down_events"] > before["down_events"]:
            break
        assert time.monotonic() < deadline, f"Janus's death not noticed in {DETECT_DEADLINE_S} s: {node}"
        time.sleep(0.05)
    noticed_s = time.monotonic() - killed
    print(f"Janus killed; noticed after {noticed_s:.2f} s")
    assert node["live_sessions"] == 0, node
    assert "exited" in node["last_down_reason"], node

    after = media.wait_node(True, 30, restarts=before["restarts"] + 1, rooms=1)
    assert after["pid"] != before["pid"], after
    print(f"Janus back after {time.monotonic() - killed:.2f} s")
    media.loop.run(_close(people, http), timeout=30)

    # The sessions were marked: each got a `leave` naming the lost media server.
    events = media.call(
        "GET",
        f"/v1/apps/{app_id}/rooms/r1/events",
        token=token,
        params={"start": _iso(started - 60), "end": _iso(time.time() + 5)},
    )["events"]
    leaves = {e["session_id"]: e["reason"] for e in events if e["type"] == "leave"}
    assert set(leaves) == {"alice-session", "carol-session"}, events
    assert all(reason.startswith("media_server_lost: janus exited") for reason in leaves.values()), leaves

    # The room is back on the new Janus, with the same number and pin: a publisher joins it.
    again = media.call("POST", "/v1/admin/media/rooms", json={"app_id": app_id, "room_id": "r1"})
    assert (again["janus_room"], again["pin"]) == (room, pin)

    async def rejoin() -> list[Any]:
        http = httpx.AsyncClient()
        dave = await publish(http, url, room, pin, "dave")
        state = dave.pc.connectionState
        await _close([dave], http)
        return [state]

    assert media.loop.run(rejoin(), timeout=60) == ["connected"]
