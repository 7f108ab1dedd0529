"""Joining media rooms through Callscope's signaling with join tokens, with real media.

Three aiortc participants join with tokens minted by the app's backend, publish, and subscribe
to everyone they are told about; all media flows through the managed Janus. Then removal: a
kicked user, the other publisher and a subscribe-only participant are all told within 2 s, the
kicked user's media stops and their token no longer works; dismissing ends the room for everyone.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from callscope.media.join_tokens import DenyList, JoinTokens
from tests.conftest import TOKEN_SECRET
from tests.media.conftest import MediaEnv
from tests.media.signal_client import SignalClient

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
NOTIFY_WITHIN_S = 2.0


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat()


def _app(media: MediaEnv, name: str) -> tuple[str, str]:
    app = media.call("POST", "/v1/admin/apps", json={"name": name})
    return app["app_id"], app["api_key"]


def _token(media: MediaEnv, app: tuple[str, str], room: str, user: str, **perms: Any) -> str:
    path = f"/v1/apps/{app[0]}/rooms/{room}/join-tokens"
    minted = media.call("POST", path, token=app[1], json={"user_id": user, **perms})
    assert minted["room_id"] == room and minted["user_id"] == user, minted
    token: str = minted["token"]
    return token


def _signal_url(media: MediaEnv) -> str:
    return media.url.replace("http://", "ws://") + "/v1/rooms/signal"


def _events(media: MediaEnv, app: tuple[str, str], room: str, since: float) -> list[dict[str, Any]]:
    params = {"start": _iso(since - 60), "end": _iso(time.time() + 5)}
    found: list[dict[str, Any]] = media.call(
        "GET", f"/v1/apps/{app[0]}/rooms/{room}/events", token=app[1], params=params
    )["events"]
    return found


def _wait_events(
    media: MediaEnv, app: tuple[str, str], room: str, since: float, want: dict[str, set[str]]
) -> dict[str, set[str]]:
    """session → event types, once every wanted type is stored (bounded: 15 s)."""
    deadline = time.monotonic() + 15
    got: dict[str, set[str]] = {}
    for _ in range(150):
        got = {}
        for event in _events(media, app, room, since):
            got.setdefault(event["session_id"], set()).add(event["type"])
        if all(types <= got.get(session, set()) for session, types in want.items()):
            return got
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    raise AssertionError(f"events missing: want {want}, stored {got}")


async def _all_receive(clients: list[SignalClient], publishers: list[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        missing = [
            (c.name, p, kind)
            for c in clients
            for p in publishers
            if p != c.name
            for kind in ("audio", "video")
            if c.frames.get((p, kind), 0) < 5
        ]
        if not missing:
            return
        notices = {c.name: [m for _, m in c.notices if m["type"] not in ("candidate",)] for c in clients}
        assert time.monotonic() < deadline, f"no frames for {missing}; notices {notices}"
        await asyncio.sleep(0.1)


async def _join_and_publish(client: SignalClient, hue: int | None) -> None:
    started = time.monotonic()
    await client.join(session_id=f"{client.name}-session")
    assert client.joined["type"] == "joined", client.joined
    if hue is not None:
        await client.publish(hue, started)


def test_three_participants_join_with_tokens_and_receive_each_other(media: MediaEnv) -> None:
    app = _app(media, "signal-app")
    room = "standup"
    names = ["alice", "bob", "carol"]
    tokens = {n: _token(media, app, room, n) for n in names}
    url = _signal_url(media)
    since = time.time()

    async def call() -> dict[str, Any]:
        clients = [SignalClient(url, tokens[n], n) for n in names]
        try:
            for hue, client in enumerate(clients):
                await _join_and_publish(client, hue)
            await _all_receive(clients, names)
            # Mute: the others are told, and the stored timeline says mic_off.
            alice, bob, carol = clients
            await alice.send({"type": "mute", "kind": "audio", "muted": True})
            deadline = time.monotonic() + 5
            while not (bob.seen("muted", user="alice") and carol.seen("muted", user="alice")):
                assert time.monotonic() < deadline, (bob.notices[-3:], carol.notices[-3:])
                await asyncio.sleep(0.05)
            # Refused: a forged token (signature of another secret) and an expired one.
            now = int(time.time())
            forged = JoinTokens("not-the-server-secret-0123456789abcdef", max_ttl_s=3600, deny=DenyList(None))
            bad, _ = forged.issue(app[0], room, "eve", publish=True, subscribe=True, ttl_s=600, now_s=now)
            real = JoinTokens(TOKEN_SECRET, max_ttl_s=86_400, deny=DenyList(None))
            old, _ = real.issue(app[0], room, "eve", publish=True, subscribe=True, ttl_s=60, now_s=now - 600)
            refusals = []
            for token in (bad, old, "csj1.garbage"):
                intruder = SignalClient(url, token, "eve")
                refusals.append(await intruder.join())
                await asyncio.sleep(0.2)
                refusals.append({"code": intruder.closed_code})
                await intruder.close()
            return {
                "frames": [dict(c.frames) for c in clients],
                "setup_s": [c.join_to_connected_s for c in clients],
                "participants": [[p["user"] for p in c.joined["participants"]] for c in clients],
                "refusals": refusals,
            }
        finally:
            for client in clients:
                await client.close()

    result = media.loop.run(call(), timeout=120)
    print(f"join→publisher connected: {[round(s, 3) for s in result['setup_s']]} s")
    assert result["participants"] == [[], ["alice"], ["alice", "bob"]]
    assert max(result["setup_s"]) < 5, result["setup_s"]
    refusals = result["refusals"]
    assert "signature" in refusals[0]["message"], refusals
    assert "expired" in refusals[2]["message"], refusals
    assert refusals[4]["type"] == "error", refusals
    assert all(r["code"] == 4401 for r in refusals[1::2]), refusals

    # join/leave/connection_state from Janus's events (tagged handles), publish (mic_on,
    # camera_on) and mute (mic_off) from the signaling: all stored, source server.
    base = {"join", "leave", "connection_state", "mic_on", "camera_on"}
    want = {f"{n}-session": base | ({"mic_off"} if n == "alice" else set()) for n in names}
    _wait_events(media, app, room, since, want)


def test_kick_notifies_everyone_revokes_the_token_and_dismiss_closes_the_room(media: MediaEnv) -> None:
    app = _app(media, "kick-app")
    room = "town-hall"
    tokens = {
        "alice": _token(media, app, room, "alice"),
        "bob": _token(media, app, room, "bob"),
        "carol": _token(media, app, room, "carol", publish=False),
    }
    url = _signal_url(media)
    since = time.time()

    async def call() -> dict[str, Any]:
        alice, bob, carol = (SignalClient(url, tokens[n], n) for n in ("alice", "bob", "carol"))
        clients = [alice, bob, carol]
        try:
            await _join_and_publish(alice, 0)
            await _join_and_publish(bob, 1)
            await _join_and_publish(carol, None)
            await carol.send({"type": "publish", "sdp": "v=0\r\n"})  # subscribe-only token
            await _all_receive([alice, bob], ["alice", "bob"])
            await _all_receive([carol], ["alice", "bob"])
            refused = carol.seen("error", request="publish")

            kicked_at = time.monotonic()
            kick = f"/v1/apps/{app[0]}/rooms/{room}/kick"
            removed = await media.api("POST", kick, token=app[1], json={"user_ids": ["bob"]})
            deadline = time.monotonic() + 5
            while not (bob.seen("kicked") and all(c.seen("left", user="bob") for c in (alice, carol))):
                assert time.monotonic() < deadline, [c.notices[-3:] for c in clients]
                await asyncio.sleep(0.01)
            latency = {
                "bob": bob.seen("kicked") - kicked_at,  # type: ignore[operator]
                "alice": alice.seen("left", user="bob") - kicked_at,  # type: ignore[operator]
                "carol": carol.seen("left", user="bob") - kicked_at,  # type: ignore[operator]
            }
            # bob's media stops: nobody receives his frames any more.
            await asyncio.sleep(1.0)
            before = [c.frames.get(("bob", "video"), 0) for c in (alice, carol)]
            await asyncio.sleep(1.5)
            after = [c.frames.get(("bob", "video"), 0) for c in (alice, carol)]
            alice_still = alice.frames.get(("bob", "video"), 0), carol.frames.get(("alice", "video"), 0)
            # bob's token is refused now.
            again = SignalClient(url, tokens["bob"], "bob")
            rejoin = await again.join()
            await again.close()

            dismissed_at = time.monotonic()
            await media.api("POST", f"/v1/apps/{app[0]}/rooms/{room}/dismiss", token=app[1], json={})
            deadline = time.monotonic() + 5
            while not (alice.seen("dismissed") and carol.seen("dismissed")):
                assert time.monotonic() < deadline, [c.notices[-3:] for c in clients]
                await asyncio.sleep(0.01)
            seen = [alice.seen("dismissed"), carol.seen("dismissed")]
            dismiss_latency = max(t for t in seen if t is not None) - dismissed_at
            await asyncio.sleep(0.3)
            return {
                "removed": removed,
                "latency": latency,
                "frozen": (before, after),
                "still": alice_still,
                "rejoin": rejoin,
                "refused_publish": refused,
                "dismiss_latency": dismiss_latency,
                "codes": [c.closed_code for c in clients],
            }
        finally:
            for client in clients:
                await client.close()

    result = media.loop.run(call(), timeout=150)
    latency = {k: round(v, 3) for k, v in result["latency"].items()}
    print(f"kick notice latency: {latency} s; dismiss notice {result['dismiss_latency']:.3f} s")
    assert result["removed"]["removed_sessions"] == ["bob-session"]
    assert all(v < NOTIFY_WITHIN_S for v in result["latency"].values()), result["latency"]
    assert result["dismiss_latency"] < NOTIFY_WITHIN_S, result
    before, after = result["frozen"]
    assert before == after, result["frozen"]
    assert result["refused_publish"] is not None
    assert result["rejoin"]["type"] == "error" and "revoked" in result["rejoin"]["message"], result["rejoin"]
    assert result["codes"] == [4000, 4000, 4000], result["codes"]

    # The Janus room is gone; the store says kicked/dismissed, sessions OFFLINE, instance CLOSED.
    assert media.node()["rooms"] == 0
    _wait_events(
        media,
        app,
        room,
        since,
        {
            "bob-session": {"join", "kicked", "leave"},
            "alice-session": {"join", "room_dismissed", "leave"},
            "carol-session": {"join", "room_dismissed", "leave"},
        },
    )
    params = {"start": _iso(since - 60), "end": _iso(time.time() + 5)}
    path = f"/v1/apps/{app[0]}/room-instances"
    instances = media.call("GET", path, token=app[1], params=params)["room_instances"]
    mine = [i for i in instances if i["room_id"] == room]
    assert [i["state"] for i in mine] == ["CLOSED"], mine
    path = f"/v1/apps/{app[0]}/rooms/{room}/instances/{mine[0]['instance_id']}/participants"
    people = media.call("GET", path, token=app[1], params=params)["participants"]
    assert {p["session_id"]: p["state"] for p in people} == {
        f"{n}-session": "OFFLINE" for n in ("alice", "bob", "carol")
    }, people


def test_join_tokens_need_the_app_secret_key(media: MediaEnv) -> None:
    app = _app(media, "token-app")
    other = _app(media, "other-app")

    async def post(token: str) -> int:
        async with httpx.AsyncClient(base_url=media.url, timeout=10) as client:
            response = await client.post(
                f"/v1/apps/{app[0]}/rooms/r/join-tokens",
                headers={"Authorization": f"Bearer {token}"},
                json={"user_id": "u"},
            )
        return response.status_code

    assert media.loop.run(post(other[1])) in (401, 403)
    assert media.loop.run(post("nope")) == 401
    assert media.loop.run(post(app[1])) == 201
