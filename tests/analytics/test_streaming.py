"""The streaming view over real HTTP on the real store: known answers for connections,
bandwidth and places, for the whole app, a room slice, a published stream and a media server.

The scene is ingested 20 minutes in the past and read `at` a fixed instant, so every answer
is independent of how long the test takes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from callscope.analytics import calls
from callscope.analytics.streaming import StreamRef, country_of_ip
from callscope.analytics.timerange import TimeRange
from callscope.api.deps import Services
from tests.helpers import bearer

S_MS = 1000


class Scene:
    """Builds the ingest payloads: sessions with a join and streams sampled every 5 s."""

    def __init__(self, t0_ms: int, at_ms: int) -> None:
        self.t0_ms, self.at_ms = t0_ms, at_ms
        self.events: list[dict[str, Any]] = []
        self.samples: list[dict[str, Any]] = []

    def join(self, room: str, user: str, after_s: float = 0, **attributes: str) -> None:
        self.event(room, user, "join", self.t0_ms + int(after_s * S_MS), **attributes)

    def event(self, room: str, user: str, type_: str, ts_ms: int, **attributes: str) -> None:
        self.events.append(
            {
                "room_id": room,
                "user_id": user,
                "session_id": f"s-{user}",
                "ts": ts_ms,
                "type": type_,
                **attributes,
            }
        )

    def stream(
        self,
        room: str,
        user: str,
        kind: str,
        direction: str,
        *,
        last_kbps: float,
        until_s_before_at: float = 3,
        from_s: float = 0,
        peer: str = "",
        source: str = "client",
    ) -> None:
        """Samples of 500 kbps every 5 s, ending `until_s_before_at` before `at` with `last_kbps`."""
        end_ms = self.at_ms - int(until_s_before_at * S_MS)
        ts = self.t0_ms + int(from_s * S_MS)
        times = list(range(ts, end_ms, 5 * S_MS)) + [end_ms]
        for i, ts_ms in enumerate(times):
            self.samples.append(
                {
                    "room_id": room,
                    "user_id": user,
                    "session_id": f"s-{user}",
                    "ts": ts_ms,
                    "kind": kind,
                    "direction": direction,
                    "peer_id": peer,
                    "source": source,
                    "stream_id": f"{source}-{kind}-{direction}-{peer}",
                    "window_ms": 5000,
                    "bitrate_kbps": last_kbps if i == len(times) - 1 else 500.0,
                }
            )


def build_scene(t0_ms: int, at_ms: int) -> Scene:
    s = Scene(t0_ms, at_ms)
    # live-1: alice publishes; bob also publishes audio; four receive; others come and go.
    s.join("live-1", "alice", ip="8.8.8.8")  # US
    s.stream("live-1", "alice", "video", "up", last_kbps=1500)
    s.stream("live-1", "alice", "video", "up", last_kbps=1400, source="server", until_s_before_at=2)
    s.stream("live-1", "alice", "audio", "up", last_kbps=40)
    s.join("live-1", "bob", 10, ip="1.0.16.1")  # JP
    s.stream("live-1", "bob", "video", "down", peer="alice", last_kbps=900, from_s=10)
    s.stream("live-1", "bob", "audio", "down", peer="alice", last_kbps=30, from_s=10)
    s.stream("live-1", "bob", "audio", "up", last_kbps=35, from_s=10)
    s.join("live-1", "carol", 20, ip="193.0.6.139", country="NL", city="Amsterdam")  # NL
    s.stream("live-1", "carol", "video", "down", peer="alice", last_kbps=800, from_s=20)
    s.stream("live-1", "carol", "audio", "down", peer="bob", last_kbps=20, from_s=20)
    # Its newest sample is 15 s old: outside a 10 s bandwidth window, inside a 20 s one.
    s.stream("live-1", "carol", "audio", "down", peer="alice", last_kbps=50, from_s=20, until_s_before_at=15)
    s.join("live-1", "dave", 30, ip="10.1.2.3")  # private: unknown
    s.stream("live-1", "dave", "video", "down", peer="alice", last_kbps=700, from_s=30)
    s.stream("live-1", "hank", "audio", "down", peer="alice", last_kbps=25, from_s=40)  # no join event
    # Offline at `at`: left (a sample after the leave changes nothing), idle, failed.
    s.join("live-1", "erin", ip="8.8.4.4")
    s.event("live-1", "erin", "leave", t0_ms + 60 * S_MS)
    s.stream("live-1", "erin", "audio", "down", peer="alice", last_kbps=99, until_s_before_at=2)
    s.join("live-1", "frank", ip="8.8.4.4")
    s.stream("live-1", "frank", "audio", "down", peer="alice", last_kbps=77, until_s_before_at=90)
    s.event("live-1", "gina", "join_failed", t0_ms + 5 * S_MS, ip="8.8.4.4")
    # live-2: one publisher over IPv6.
    s.join("live-2", "ivan", ip="2001:4860:4860::8888")  # US
    s.stream("live-2", "ivan", "video", "up", last_kbps=2000)
    return s


def post(client: httpx.Client, key: str, endpoint: str, items: list[dict[str, Any]]) -> None:
    for i in range(0, len(items), 500):
        batch = items[i : i + 500]
        reply = client.post(f"/v1/ingest/{endpoint}", json={endpoint: batch}, headers=bearer(key))
        assert reply.status_code == 200, reply.text
        assert reply.json()["accepted"] == len(batch), reply.text


@pytest.fixture(scope="module")
def scene(services: Services, base_url: str) -> dict[str, Any]:
    app, key = services.tenancy.create_app("streaming")
    services.auth.refresh()
    t0_ms = (int(time.time()) - 20 * 60) * S_MS
    at_ms = t0_ms + 120 * S_MS
    built = build_scene(t0_ms, at_ms)
    with httpx.Client(base_url=base_url, timeout=30) as client:
        post(client, key, "events", built.events)
        post(client, key, "samples", built.samples)
    return {"app_id": app.app_id, "key": key, "at_ms": at_ms}


def realtime(client: httpx.Client, scene: dict[str, Any], **params: Any) -> dict[str, Any]:
    reply = client.get(
        f"/v1/apps/{scene['app_id']}/streaming/realtime",
        params={"at": scene["at_ms"], **params},
        headers=bearer(scene["key"]),
    )
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def create_slice(client: httpx.Client, scene: dict[str, Any], **body: Any) -> dict[str, Any]:
    reply = client.post(f"/v1/apps/{scene['app_id']}/data-slices", json=body, headers=bearer(scene["key"]))
    assert reply.status_code == 201, reply.text
    created: dict[str, Any] = reply.json()
    return created


def test_whole_app_connections_bandwidth_and_countries(client: httpx.Client, scene: dict[str, Any]) -> None:
    body = realtime(client, scene)
    # Online: alice, bob, carol, dave, hank (live-1) and ivan (live-2). erin left, frank went
    # idle 90 s before `at`, gina never joined.
    assert body["connections"] == 6
    # In: alice video as the media server measured it (1400, not the client's 1500), alice
    # audio 40, bob audio 35, ivan video 2000. Out: every downlink's newest bitrate.
    assert body["bandwidth_in_kbps"] == pytest.approx(1400 + 40 + 35 + 2000)
    assert body["bandwidth_out_kbps"] == pytest.approx(900 + 30 + 800 + 20 + 700 + 25)
    assert body["bandwidth_kbps"] == pytest.approx(body["bandwidth_in_kbps"] + body["bandwidth_out_kbps"])
    assert body["streams_measured"] == 10
    assert body["window_s"] == 10
    assert datetime.fromisoformat(body["at"]) == datetime.fromtimestamp(scene["at_ms"] / 1000, tz=UTC)
    # Countries from the bundled table; dave (private IP) and hank (no join) are unknown.
    us, jp, nl = country_of_ip("8.8.8.8"), country_of_ip("1.0.16.1"), country_of_ip("193.0.6.139")
    assert (us, jp, nl) == ("US", "JP", "NL")
    assert body["countries"] == [
        {"country": "US", "connections": 2},
        {"country": "JP", "connections": 1},
        {"country": "NL", "connections": 1},
    ]
    assert body["unknown_country_connections"] == 2
    assert body["cities"] == [{"country": "NL", "city": "Amsterdam", "connections": 1}]
    assert body["definition_version"] == "streaming@v1"


def test_connections_are_the_sessions_the_call_view_calls_online(
    services: Services, scene: dict[str, Any]
) -> None:
    at = datetime.fromtimestamp(scene["at_ms"] / 1000, tz=UTC)
    window = TimeRange.parse(scene["at_ms"] - 3_600_000, scene["at_ms"])
    online = 0
    for instance in calls.room_instances(services.backend, app_id=scene["app_id"], window=window, now=at):
        members = calls.participants(
            services.backend,
            app_id=scene["app_id"],
            room_id=instance.room_id,
            instance_id=instance.instance_id,
            window=window,
            now=at,
        )
        online += sum(1 for p in members if p.state == "ONLINE")
    assert online == 6


def test_a_wider_bandwidth_window_takes_older_samples(client: httpx.Client, scene: dict[str, Any]) -> None:
    body = realtime(client, scene, window_s=20)
    assert body["bandwidth_out_kbps"] == pytest.approx(900 + 30 + 800 + 20 + 50 + 700 + 25)
    assert body["connections"] == 6


def test_one_published_stream(client: httpx.Client, scene: dict[str, Any]) -> None:
    alice = realtime(client, scene, room_id="live-1", publisher="alice")
    assert alice["connections"] == 5  # alice and her four receivers
    assert alice["bandwidth_in_kbps"] == pytest.approx(1400 + 40)
    assert alice["bandwidth_out_kbps"] == pytest.approx(900 + 30 + 800 + 700 + 25)
    bob = realtime(client, scene, room_id="live-1", publisher="bob")
    assert bob["connections"] == 2  # bob and carol
    assert (bob["bandwidth_in_kbps"], bob["bandwidth_out_kbps"]) == (pytest.approx(35), pytest.approx(20))
    assert bob["countries"] == [{"country": "JP", "connections": 1}, {"country": "NL", "connections": 1}]
    nobody = realtime(client, scene, room_id="live-2", publisher="alice")
    assert (nobody["connections"], nobody["bandwidth_kbps"], nobody["countries"]) == (0, 0, [])


def test_data_slices_filter_rooms_and_streams(client: httpx.Client, scene: dict[str, Any]) -> None:
    room = create_slice(client, scene, name="Room live-1", room_ids=["live-1"])
    body = realtime(client, scene, data_slice=room["slice_id"])
    assert body["connections"] == 5
    assert body["bandwidth_in_kbps"] == pytest.approx(1400 + 40 + 35)
    assert body["bandwidth_out_kbps"] == pytest.approx(900 + 30 + 800 + 20 + 700 + 25)
    # The same numbers on the slice's own path.
    both_rooms = create_slice(client, scene, name="Both", room_ids=["live-1", "live-2"])
    assert realtime(client, scene, data_slice=both_rooms["slice_id"])["connections"] == 6
    # Filters AND together: bob's stream within live-1; then within live-2, which holds no such stream.
    bob = create_slice(
        client, scene, name="Bob", room_ids=["live-1"], streams=[{"room_id": "live-1", "user_id": "bob"}]
    )
    assert realtime(client, scene, data_slice=bob["slice_id"])["connections"] == 2
    disjoint = create_slice(
        client, scene, name="None", room_ids=["live-2"], streams=[{"room_id": "live-1", "user_id": "bob"}]
    )
    assert realtime(client, scene, data_slice=disjoint["slice_id"])["connections"] == 0
    # A slice and an explicit stream intersect too.
    assert (
        realtime(client, scene, data_slice=room["slice_id"], room_id="live-1", publisher="bob")["connections"]
        == 2
    )
    assert realtime(client, scene, data_slice=both_rooms["slice_id"], room_id="live-2", publisher="ivan")[
        "bandwidth_in_kbps"
    ] == pytest.approx(2000)


def test_media_servers(client: httpx.Client, scene: dict[str, Any]) -> None:
    # This app runs no Janus node: a slice over media servers selects nobody, and an explicit
    # server is unknown.
    on_sfu = create_slice(client, scene, name="SFU 1", media_servers=["sfu-1"])
    body = realtime(client, scene, data_slice=on_sfu["slice_id"])
    assert (body["connections"], body["bandwidth_kbps"], body["countries"]) == (0, 0, [])
    reply = client.get(
        f"/v1/apps/{scene['app_id']}/streaming/realtime",
        params={"media_server": "sfu-1"},
        headers=bearer(scene["key"]),
    )
    assert reply.status_code == 404 and reply.headers["content-type"] == "application/problem+json"


def test_selection_of_media_servers_is_the_rooms_placed_on_them() -> None:
    from callscope.analytics.streaming import Selection, SliceFilters

    placements = {"sfu-1": frozenset({"live-1", "live-3"}), "sfu-2": frozenset({"live-2"})}
    on_one = Selection.build(media_server="sfu-1", placements=placements)
    assert on_one.room_ids == {"live-1", "live-3"} and on_one.streams is None
    sliced = SliceFilters(room_ids=("live-1", "live-2"), media_servers=("sfu-1", "gone"))
    assert Selection.build(data_slice=sliced, placements=placements).room_ids == {"live-1"}
    stream = StreamRef("live-2", "ivan")
    assert Selection.build(stream=stream, media_server="sfu-1", placements=placements).room_ids == frozenset()
    assert Selection.build(stream=stream).room_ids == {"live-2"}
    assert Selection.build() == Selection(None, None)


def test_slice_crud_is_durable_and_ids_are_stable(
    client: httpx.Client, services: Services, new_app: Callable[[], tuple[str, str]]
) -> None:
    app_id, key = new_app()
    url = f"/v1/apps/{app_id}/data-slices"
    first = client.post(url, json={"name": "Full data slice"}, headers=bearer(key)).json()
    second = client.post(
        url,
        json={"name": "DS2", "room_ids": ["a", "b", "a"], "streams": [{"room_id": "a", "user_id": "u"}]},
        headers=bearer(key),
    ).json()
    assert len(first["slice_id"]) == 24 and int(first["slice_id"], 16) >= 0
    assert second["room_ids"] == ["a", "b"]  # duplicates dropped, order kept
    assert second["streams"] == [{"room_id": "a", "user_id": "u"}]
    listed = client.get(url, headers=bearer(key)).json()["data_slices"]
    assert [s["name"] for s in listed] == ["Full data slice", "DS2"]
    replaced = client.put(
        f"{url}/{second['slice_id']}",
        json={"name": "DS2 renamed", "media_servers": ["sfu-1"]},
        headers=bearer(key),
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json() | {"created_at": None} == {
        "slice_id": second["slice_id"],
        "name": "DS2 renamed",
        "room_ids": [],
        "streams": [],
        "media_servers": ["sfu-1"],
        "created_at": None,
    }
    assert replaced.json()["created_at"] == second["created_at"]
    assert client.get(f"{url}/{second['slice_id']}", headers=bearer(key)).json()["name"] == "DS2 renamed"
    assert client.delete(f"{url}/{first['slice_id']}", headers=bearer(key)).status_code == 204
    assert client.get(f"{url}/{first['slice_id']}", headers=bearer(key)).status_code == 404
    assert client.delete(f"{url}/{first['slice_id']}", headers=bearer(key)).status_code == 404
    # What the store holds is what a restarted server reads: the newest version of each row.
    stored = services.backend.query(
        "SELECT slice_id, name FROM data_slices FINAL WHERE app_id = {a:String} AND deleted = 0",
        {"a": app_id},
    )
    assert stored == [{"slice_id": second["slice_id"], "name": "DS2 renamed"}]


def test_auth_and_tenant_isolation(
    client: httpx.Client, scene: dict[str, Any], new_app: Callable[[], tuple[str, str]]
) -> None:
    other_app, other_key = new_app()
    mine = create_slice(client, scene, name="Mine", room_ids=["live-1"])
    base = f"/v1/apps/{scene['app_id']}"
    for method, path in (
        ("GET", f"{base}/data-slices"),
        ("POST", f"{base}/data-slices"),
        ("GET", f"{base}/data-slices/{mine['slice_id']}"),
        ("PUT", f"{base}/data-slices/{mine['slice_id']}"),
        ("DELETE", f"{base}/data-slices/{mine['slice_id']}"),
        ("GET", f"{base}/streaming/realtime"),
    ):
        assert client.request(method, path, json={"name": "x"}).status_code == 401
        assert client.request(method, path, json={"name": "x"}, headers=bearer(other_key)).status_code == 403
    # The other app cannot reach this slice through its own URL either, and sees none of the data.
    theirs = f"/v1/apps/{other_app}"
    assert (
        client.get(f"{theirs}/data-slices/{mine['slice_id']}", headers=bearer(other_key)).status_code == 404
    )
    assert (
        client.get(
            f"{theirs}/streaming/realtime", params={"data_slice": mine["slice_id"]}, headers=bearer(other_key)
        ).status_code
        == 404
    )
    assert client.get(f"{theirs}/data-slices", headers=bearer(other_key)).json() == {"data_slices": []}
    body = client.get(
        f"{theirs}/streaming/realtime", params={"at": scene["at_ms"]}, headers=bearer(other_key)
    ).json()
    assert (body["connections"], body["bandwidth_kbps"], body["countries"]) == (0, 0, [])
    assert (
        client.get(f"{base}/data-slices/{mine['slice_id']}", headers=bearer(scene["key"])).status_code == 200
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"window_s": "0"}, "window_s"),
        ({"window_s": "61"}, "window_s"),
        ({"window_s": "ten"}, "window_s"),
        ({"at": "yesterday"}, "at"),
        ({"at": str(int(time.time() * 1000) + 3_600_000)}, "at"),
        ({"room_id": "live-1"}, "publisher"),
        ({"publisher": "alice"}, "publisher"),
        ({"room_id": "live-1", "publisher": " alice"}, "publisher"),
        ({"data_slice": "not-a-slice"}, "slice_id"),
        ({"data_slice": "ABCDEF0123456789ABCDEF01"}, "slice_id"),
    ],
)
def test_bad_realtime_parameters_are_400_problems(
    client: httpx.Client, scene: dict[str, Any], params: dict[str, str], field: str
) -> None:
    reply = client.get(
        f"/v1/apps/{scene['app_id']}/streaming/realtime", params=params, headers=bearer(scene["key"])
    )
    assert reply.status_code == 400, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["field"] == field


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "malformed_body"),
        (b"[]", "bad_request"),
        (b'{"room_ids": ["a"]}', "bad_request"),  # no name
        (b'{"name": ""}', "bad_request"),
        (b'{"name": "x", "rooms": ["a"]}', "bad_request"),  # unknown field
        (b'{"name": "x", "room_ids": ["a\\u0000b"]}', "bad_request"),
        (b'{"name": "x", "room_ids": [""]}', "bad_request"),
        (b'{"name": "x", "streams": [{"room_id": "a"}]}', "bad_request"),
        (b'{"name": "x", "media_servers": [1]}', "bad_request"),
        (b'{"name": "x", "room_ids": [' + b",".join(b'"r%d"' % i for i in range(201)) + b"]}", "bad_request"),
    ],
)
def test_bad_slices_are_400_problems(
    client: httpx.Client, app_creds: tuple[str, str], body: bytes, code: str
) -> None:
    app_id, key = app_creds
    headers = bearer(key) | {"Content-Type": "application/json"}
    reply = client.post(f"/v1/apps/{app_id}/data-slices", content=body, headers=headers)
    assert reply.status_code == 400, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["code"] == code
    assert client.get(f"/v1/apps/{app_id}/data-slices", headers=bearer(key)).json() == {"data_slices": []}
