"""An aiortc participant that joins through Callscope's signaling WebSocket with a join token.

It publishes a pattern video and a sine tone, subscribes to every feed it is told about (one PC
per feed), counts the frames it receives per (publisher, kind) and timestamps every notice.
It never talks to Janus itself. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from websockets.asyncio.client import ClientConnection, connect

from tests.media.clients import PatternVideoTrack, SineAudioTrack, rtc_config

WAIT_S = 15.0


async def connected(pc: RTCPeerConnection, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while pc.connectionState != "connected":
        assert time.monotonic() < deadline, f"PC stuck in {pc.connectionState}"
        await asyncio.sleep(0.02)


@dataclass
class SignalClient:
    url: str  # ws://…/v1/rooms/signal
    token: str
    name: str
    ws: ClientConnection | None = None
    joined: dict[str, Any] = field(default_factory=dict)
    pub: RTCPeerConnection | None = None
    subs: dict[int, RTCPeerConnection] = field(default_factory=dict)
    users: dict[int, str] = field(default_factory=dict)  # feed → user
    sources: dict[int, str] = field(default_factory=dict)  # feed → camera | screen
    screen: RTCPeerConnection | None = None
    frames: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    notices: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    closed_code: int | None = None
    join_to_connected_s: float = 0.0
    _waiters: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    subscribe_all: bool = True

    async def send(self, message: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send(orjson.dumps(message).decode())

    def _expect(self, key: str) -> asyncio.Future[dict[str, Any]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters[key] = future
        return future

    async def _wait(self, future: asyncio.Future[dict[str, Any]]) -> dict[str, Any]:
        return await asyncio.wait_for(future, WAIT_S)

    async def join(self, session_id: str = "") -> dict[str, Any]:
        """Connect and join; raises AssertionError with the server's error when refused."""
        self.ws = await connect(self.url, open_timeout=WAIT_S)
        joined = self._expect("joined")
        self._tasks.append(asyncio.ensure_future(self._read()))
        message = {"type": "join", "token": self.token}
        if session_id:
            message["session_id"] = session_id
        await self.send(message)
        self.joined = await self._wait(joined)
        if self.joined["type"] != "joined":
            return self.joined  # refused: {type: error, …}
        for p in self.joined["participants"]:
            self.users[p["feed"]] = p["user"]
            if p["publishing"] and self.subscribe_all:
                self._tasks.append(asyncio.ensure_future(self.subscribe(p["feed"])))
            if p["screen_feed"]:
                self.users[p["screen_feed"]] = p["user"]
                self.sources[p["screen_feed"]] = "screen"
                if self.subscribe_all:
                    self._tasks.append(asyncio.ensure_future(self.subscribe(p["screen_feed"])))
        return self.joined

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for raw in self.ws:
                message = orjson.loads(raw)
                kind = message["type"]
                self.notices.append((time.monotonic(), message))
                key = {"joined": "joined"}.get(kind)
                if kind == "answer":
                    key = "answer-screen" if message.get("source") == "screen" else "answer"
                if kind in ("offer", "subscribed"):
                    key = f"{kind}-{message['feed']}"
                if kind == "error" and message.get("request") == "join":
                    key = "joined"
                if key is not None and key in self._waiters and not self._waiters[key].done():
                    self._waiters.pop(key).set_result(message)
                if kind in ("participant_joined", "published"):
                    self.users[message["feed"]] = message["user"]
                    self.sources[message["feed"]] = message.get("source", "camera")
                if kind == "published" and self.joined.get("can_subscribe") and self.subscribe_all:
                    self._tasks.append(asyncio.ensure_future(self.subscribe(message["feed"])))
        except Exception:  # noqa: BLE001 (connection closed: recorded below)
            pass
        self.closed_code = self.ws.close_code
        for future in self._waiters.values():
            if not future.done():
                future.set_result({"type": "closed", "code": self.closed_code})

    async def publish(self, hue: int, started: float) -> None:
        pc = self.pub = RTCPeerConnection(rtc_config())
        pc.addTrack(SineAudioTrack(freq=440.0 * (hue + 1)))
        pc.addTrack(PatternVideoTrack(hue=hue))
        await pc.setLocalDescription(await pc.createOffer())  # aiortc gathers fully
        answer = self._expect("answer")
        await self.send({"type": "publish", "sdp": pc.localDescription.sdp, "sdp_type": "offer"})
        got = await self._wait(answer)
        assert got["type"] == "answer", got
        await pc.setRemoteDescription(RTCSessionDescription(sdp=got["sdp"], type=got["sdp_type"]))
        await connected(pc)
        self.join_to_connected_s = time.monotonic() - started

    async def publish_screen(self, hue: int) -> float:
        """Share a 'screen' (a pattern video on its own PC and feed); returns the seconds from
        the publish request to a connected PC."""
        started = time.monotonic()
        pc = self.screen = RTCPeerConnection(rtc_config())
        pc.addTrack(PatternVideoTrack(hue=hue))
        await pc.setLocalDescription(await pc.createOffer())
        answer = self._expect("answer-screen")
        await self.send(
            {"type": "publish", "sdp": pc.localDescription.sdp, "sdp_type": "offer", "source": "screen"}
        )
        got = await self._wait(answer)
        assert got["type"] == "answer" and got["source"] == "screen", got
        await pc.setRemoteDescription(RTCSessionDescription(sdp=got["sdp"], type=got["sdp_type"]))
        await connected(pc)
        return time.monotonic() - started

    async def subscribe(self, feed: int) -> None:
        offer = self._expect(f"offer-{feed}")
        await self.send({"type": "subscribe", "feed": feed})
        got = await self._wait(offer)
        assert got["type"] == "offer", got
        pc = self.subs[feed] = RTCPeerConnection(rtc_config())
        user = self.users.get(feed, str(feed))
        screen = self.sources.get(feed) == "screen"

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            async def consume() -> None:
                while True:
                    try:
                        await track.recv()
                    except Exception:  # noqa: BLE001 (MediaStreamError: the track ended)
                        return
                    self.frames[(user, "screen" if screen else track.kind)] += 1

            self._tasks.append(asyncio.ensure_future(consume()))

        await pc.setRemoteDescription(RTCSessionDescription(sdp=got["sdp"], type=got["sdp_type"]))
        await pc.setLocalDescription(await pc.createAnswer())
        subscribed = self._expect(f"subscribed-{feed}")
        sdp = pc.localDescription.sdp
        await self.send({"type": "answer", "feed": feed, "sdp": sdp, "sdp_type": "answer"})
        assert (await self._wait(subscribed))["type"] == "subscribed"
        await connected(pc)

    def seen(self, kind: str, **match: Any) -> float | None:
        """Monotonic time of the first notice of `kind` whose fields match."""
        for ts, message in self.notices:
            if message["type"] == kind and all(message.get(k) == v for k, v in match.items()):
                return ts
        return None

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        for pc in [self.pub, self.screen, *self.subs.values()]:
            if pc is not None:
                await pc.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
