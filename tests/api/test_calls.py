"""The native query API on a scenario whose answers are known."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from callscope.api.native import schemas
from tests.helpers import bearer

MIN_MS = 60_000


@pytest.fixture
def scenario(client: httpx.Client, new_app: Callable[[], tuple[str, str]]) -> dict[str, Any]:
    app_id, key = new_app()
    t0 = (int(time.time() * 1000) // MIN_MS) * MIN_MS - 20 * MIN_MS

    def ev(room: str, user: str, at: int, type_: str, **extra: Any) -> dict[str, Any]:
        return {"room_id": room, "user_id": user, "session_id": f"s-{user}", "ts": at, "type": type_, **extra}

    events = [
        ev("A", "alice", t0, "join", platform="web", network_type="wifi", country="DE", isp="Telekom"),
        ev("A", "bob", t0 + MIN_MS, "join", platform="ios"),
        ev("A", "bob", t0 + 4 * MIN_MS, "leave"),
        ev("A", "alice", t0 + 5 * MIN_MS, "leave"),
        ev("A", "carol", t0 + 10 * MIN_MS, "join", platform="android", region="EU"),
        ev("A", "dave", t0 + 10 * MIN_MS + 30_000, "join_failed", reason="ice failed", platform="web"),
    ]
    # alice receives bob's video: 12 samples in the first minute, bitrate 100, 200, … 1200
    samples = [
        {
            "room_id": "A",
            "user_id": "alice",
            "session_id": "s-alice",
            "ts": t0 + i * 5000,
            "kind": "video",
            "direction": "down",
            "peer_id": "bob",
            "window_ms": 5000,
            "bitrate_kbps": 100.0 * (i + 1),
            "fps": 30,
        }
        for i in range(12)
    ]
    now_ms = int(time.time() * 1000)
    samples += [  # carol is still reporting
        {
            "room_id": "A",
            "user_id": "carol",
            "session_id": "s-carol",
            "ts": now_ms - 5000 - i,
            "kind": "audio",
            "direction": "up",
            "window_ms": 5000,
            "bitrate_kbps": 32.0,
        }
        for i in range(2)
    ]
    samples += [  # eve never sent events: her session is known from samples alone
        {
            "room_id": "B",
            "user_id": "eve",
            "session_id": "s-eve",
            "ts": t0 + i * 10_000,
            "kind": "audio",
            "direction": "up",
            "window_ms": 10_000,
            "bitrate_kbps": 40.0,
        }
        for i in range(12)
    ]
    assert (
        client.post("/v1/ingest/events", json={"events": events}, headers=bearer(key)).json()["accepted"] == 6
    )
    assert (
        client.post("/v1/ingest/samples", json={"samples": samples}, headers=bearer(key)).json()["invalid"]
        == 0
    )
    return {"app_id": app_id, "key": key, "t0": t0, "range": {"start": t0 - MIN_MS, "end": now_ms + MIN_MS}}


def get(client: httpx.Client, s: dict[str, Any], path: str, **params: Any) -> httpx.Response:
    query = {**s["range"], **params}
    return client.get(f"/v1/apps/{s['app_id']}{path}", params=query, headers=bearer(s["key"]))


def test_room_instances_split_at_gaps_and_know_their_state(
    client: httpx.Client, scenario: dict[str, Any]
) -> None:
    instances = get(client, scenario, "/room-instances").json()["room_instances"]
    summary = sorted((i["room_id"], i["state"], i["participants"]) for i in instances)
    assert summary == [("A", "CLOSED", 2), ("A", "RUNNING", 2), ("B", "CLOSED", 1)]
    running = get(client, scenario, "/room-instances", state="RUNNING").json()["room_instances"]
    assert [i["room_id"] for i in running] == ["A"] and running[0]["end_ts"] is None


def test_room_instances_paginate_by_cursor(client: httpx.Client, scenario: dict[str, Any]) -> None:
    seen, cursor = [], None
    for _ in range(5):
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = get(client, scenario, "/room-instances", **params).json()
        seen += [i["instance_id"] for i in page["room_instances"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 3 == len(set(seen))


def test_participants_carry_state_and_attributes(client: httpx.Client, scenario: dict[str, Any]) -> None:
    running = get(client, scenario, "/room-instances", state="RUNNING").json()["room_instances"][0]
    people = get(client, scenario, f"/rooms/A/instances/{running['instance_id']}/participants").json()[
        "participants"
    ]
    by_user = {p["user_id"]: p for p in people}
    assert by_user["carol"]["state"] == "ONLINE" and by_user["carol"]["platform"] == "android"
    assert (by_user["dave"]["state"], by_user["dave"]["platform"]) == ("FAIL", "web")
    closed = next(
        i
        for i in get(client, scenario, "/room-instances").json()["room_instances"]
        if i["room_id"] == "A" and i["state"] == "CLOSED"
    )
    first = get(client, scenario, f"/rooms/A/instances/{closed['instance_id']}/participants").json()[
        "participants"
    ]
    alice = next(p for p in first if p["user_id"] == "alice")
    assert (alice["state"], alice["country"], alice["isp"], alice["network_type"]) == (
        "OFFLINE",
        "DE",
        "Telekom",
        "wifi",
    )
    assert alice["leave_ts"] is not None
    eve = get(client, scenario, "/room-instances").json()["room_instances"]
    eve_instance = next(i for i in eve if i["room_id"] == "B")
    [eve_row] = get(
        client, scenario, f"/rooms/B/instances/{eve_instance['instance_id']}/participants"
    ).json()["participants"]
    assert eve_row["state"] == "OFFLINE"


def alice_video(client: httpx.Client, s: dict[str, Any], interval: str = "raw") -> list[dict[str, Any]]:
    """The series of the video alice received from bob."""
    response = get(
        client,
        s,
        "/rooms/A/sessions/s-alice/series",
        kind="video",
        direction="down",
        peer_id="bob",
        interval=interval,
    )
    points: list[dict[str, Any]] = response.json()["points"]
    return points


def test_streams_and_resampled_series(client: httpx.Client, scenario: dict[str, Any]) -> None:
    [stream] = get(client, scenario, "/rooms/A/sessions/s-alice/streams").json()["streams"]
    assert (stream["kind"], stream["direction"], stream["peer_id"], stream["samples"]) == (
        "video",
        "down",
        "bob",
        12,
    )
    raw = alice_video(client, scenario)
    assert [p["bitrate_kbps"] for p in raw] == [100.0 * (i + 1) for i in range(12)]
    [minute] = alice_video(client, scenario, "1m")
    assert (
        minute["samples"],
        minute["bitrate_kbps_min"],
        minute["bitrate_kbps_avg"],
        minute["bitrate_kbps_max"],
    ) == (12, 100, 650, 1200)
    assert minute["rtt_ms_avg"] is minute["rtt_ms_min"] is minute["rtt_ms_max"] is None  # never measured
    assert minute["ts"] == raw[0]["ts"]  # buckets are timestamps like raw points
    # A range starting mid-bucket keeps that bucket's in-range samples and nothing past `end`.
    t0 = scenario["t0"]
    edge = get(
        client,
        scenario,
        "/rooms/A/sessions/s-alice/series",
        kind="video",
        direction="down",
        peer_id="bob",
        interval="10s",
        start=t0 + 5000,
        end=t0 + 25_000,
    ).json()["points"]
    assert [(p["samples"], p["bitrate_kbps_avg"]) for p in edge] == [(1, 200), (2, 350), (1, 500)]
    tens = alice_video(client, scenario, "10s")
    assert [p["bitrate_kbps_avg"] for p in tens] == [150, 350, 550, 750, 950, 1150]


def test_event_timeline_is_ordered(client: httpx.Client, scenario: dict[str, Any]) -> None:
    events = get(client, scenario, "/rooms/A/events").json()["events"]
    assert [(e["user_id"], e["type"]) for e in events] == [
        ("alice", "join"),
        ("bob", "join"),
        ("bob", "leave"),
        ("alice", "leave"),
        ("carol", "join"),
        ("dave", "join_failed"),
    ]
    only_bob = get(client, scenario, "/rooms/A/events", session_id="s-bob").json()["events"]
    assert [e["type"] for e in only_bob] == ["join", "leave"]


@pytest.mark.parametrize(
    ("start", "end", "needle"),
    [
        ("2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z", "before end"),
        ("2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "at most"),
        ("yesterday", "2026-01-01T00:00:00Z", "not a timestamp"),
    ],
)
def test_time_ranges_are_validated(
    client: httpx.Client, scenario: dict[str, Any], start: str, end: str, needle: str
) -> None:
    response = client.get(
        f"/v1/apps/{scenario['app_id']}/room-instances",
        params={"start": start, "end": end},
        headers=bearer(scenario["key"]),
    )
    assert response.status_code == 400 and response.headers["content-type"] == "application/problem+json"
    assert needle in response.json()["detail"]


def test_another_apps_key_cannot_read(
    client: httpx.Client, scenario: dict[str, Any], new_app: Callable[[], tuple[str, str]]
) -> None:
    _, other_key = new_app()
    response = client.get(
        f"/v1/apps/{scenario['app_id']}/room-instances", params=scenario["range"], headers=bearer(other_key)
    )
    assert response.status_code == 403


def test_responses_match_the_published_schemas(client: httpx.Client, scenario: dict[str, Any]) -> None:
    """Every query route's real answer validates against the model its OpenAPI entry names."""
    paths = client.get("/openapi.json").json()["paths"]
    instance = get(client, scenario, "/room-instances").json()["room_instances"][0]
    room = instance["room_id"]
    reads = {
        "/v1/apps/{app_id}/room-instances": ("/room-instances", {}),
        "/v1/apps/{app_id}/rooms/{room_id}/instances/{instance_id}/participants": (
            f"/rooms/{room}/instances/{instance['instance_id']}/participants",
            {},
        ),
        "/v1/apps/{app_id}/rooms/{room_id}/sessions/{session_id}/streams": (
            "/rooms/A/sessions/s-alice/streams",
            {},
        ),
        "/v1/apps/{app_id}/rooms/{room_id}/sessions/{session_id}/series": (
            "/rooms/A/sessions/s-alice/series",
            {"kind": "video", "direction": "down", "peer_id": "bob"},
        ),
        "/v1/apps/{app_id}/rooms/{room_id}/events": ("/rooms/A/events", {}),
    }
    for template, (path, params) in reads.items():
        responses = paths[template]["get"]["responses"]
        ref = responses["200"]["content"]["application/json"]["schema"]["$ref"]
        model = getattr(schemas, ref.rsplit("/", 1)[-1])
        assert responses["404"]["content"]["application/problem+json"]["schema"]["$ref"].endswith("/Problem")
        intervals = ["raw", "10s", "1m"] if template.endswith("/series") else [None]
        for interval in intervals:
            extra = {"interval": interval} if interval else {}
            body = get(client, scenario, path, **params, **extra).json()
            model.model_validate(body)  # raises, naming the field, on any drift
    with pytest.raises(ValueError, match="extra"):
        schemas.StreamList.model_validate({"streams": [], "surprise": 1})
