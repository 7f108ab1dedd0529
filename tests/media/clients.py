"""Synthetic WebRTC clients (aiortc) talking to Janus VideoRoom over its HTTP API.

Until browsers join through Callscope's signaling, test clients attach their own handles and
tag them with `opaque_id(user, session)` (collectors/janus_tags.py), as docs/media.md says.
Media: a moving gradient (VP8) and a sine tone (Opus), small enough for a 2-core CI machine.
Every wait is bounded; aiortc never gets a STUN server (no internet).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import math
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from av import AudioFrame, VideoFrame

from callscope.collectors.janus_tags import opaque_id

CONNECT_TIMEOUT_S = 15.0
HANGUP_TIMEOUT_S = 3.0  # Participant.close waits this long at most for Janus to see the hang-up


def rtc_config() -> RTCConfiguration:
    return RTCConfiguration(iceServers=[])  # aiortc's default would be a public STUN server


class PatternVideoTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, width: int = 320, height: int = 240, fps: int = 15, hue: int = 0) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self._start: float | None = None
        self._n = 0
        x = np.linspace(0, 255, width, dtype=np.float32)
        y = np.linspace(0, 255, height, dtype=np.float32)
        xx, yy = np.meshgrid(x, y)
        base = np.zeros((height, width, 3), dtype=np.uint8)
        base[..., hue % 3] = xx.astype(np.uint8)
        base[..., (1 + hue) % 3] = yy.astype(np.uint8)
        base[..., (2 + hue) % 3] = 128
        self._base = base

    async def recv(self) -> VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self._n / self.fps - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        image = np.roll(self._base, self._n * 4, axis=1)
        box = (self._n * 8) % (self.width - 40)
        image[self.height // 2 - 20 : self.height // 2 + 20, box : box + 40] = 255
        frame = VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = int(self._n * 90000 / self.fps)
        frame.time_base = fractions.Fraction(1, 90000)
        self._n += 1
        return frame


class SineAudioTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, freq: float = 440.0, rate: int = 48000, ptime: float = 0.02) -> None:
        super().__init__()
        self.freq, self.rate = freq, rate
        self.samples = int(rate * ptime)
        self._start: float | None = None
        self._n = 0

    async def recv(self) -> AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self._n * self.samples / self.rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        t0 = self._n * self.samples
        t = np.arange(t0, t0 + self.samples) / self.rate
        pcm = (0.3 * 32767 * np.sin(2 * math.pi * self.freq * t)).astype(np.int16)
        frame = AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.rate
        frame.pts = t0
        frame.time_base = fractions.Fraction(1, self.rate)
        self._n += 1
        return frame


class JanusSession:
    """One Janus session over HTTP with a long poll that routes events to its handles."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http, self.url = http, url
        self.id = 0
        self.queues: dict[int, asyncio.Queue[dict[str, Any]]] = {}
        self._poll: asyncio.Task[None] | None = None

    async def post(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post(url, json={**body, "transaction": secrets.token_hex(6)}, timeout=10)
        answer: dict[str, Any] = response.json()
        assert answer.get("janus") != "error", answer
        return answer

    async def create(self) -> None:
        self.id = (await self.post(self.url, {"janus": "create"}))["data"]["id"]
        self._poll = asyncio.create_task(self._long_poll())

    async def attach(self, opaque: str) -> int:
        body = {"janus": "attach", "plugin": "janus.plugin.videoroom", "opaque_id": opaque}
        handle: int = (await self.post(f"{self.url}/{self.id}", body))["data"]["id"]
        self.queues[handle] = asyncio.Queue()
        return handle

    async def message(self, handle: int, body: dict[str, Any], jsep: dict[str, str] | None = None) -> Any:
        message: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            message["jsep"] = jsep
        return await self.post(f"{self.url}/{self.id}/{handle}", message)

    async def _long_poll(self) -> None:
        while True:
            try:
                response = await self.http.get(f"{self.url}/{self.id}?maxev=10", timeout=40)
                events = response.json()
            except (httpx.HTTPError, ValueError):
                await asyncio.sleep(0.5)
                continue
            for event in events if isinstance(events, list) else [events]:
                queue = self.queues.get(event.get("sender", 0))
                if queue is not None:
                    queue.put_nowait(event)

    async def wait_event(self, handle: int, want: str, timeout: float = 10) -> dict[str, Any]:
        """The next event of `handle` whose plugin data `videoroom` is `want` ("jsep": has an SDP)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {want!r} event from Janus within {timeout} s"
            event = await asyncio.wait_for(self.queues[handle].get(), remaining)
            data = event.get("plugindata", {}).get("data", {})
            assert "error" not in data, data
            if (want == "jsep" and "jsep" in event) or data.get("videoroom") == want:
                return event

    async def wait_hangup(self, handle: int, timeout: float) -> bool:
        """Whether Janus reported `handle`'s PeerConnection closed within `timeout` s."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                event = await asyncio.wait_for(self.queues[handle].get(), remaining)
            except TimeoutError:
                return False
            if event.get("janus") == "hangup":
                return True
        return False

    async def destroy(self) -> None:
        if self._poll is not None:
            self._poll.cancel()
        with contextlib.suppress(httpx.HTTPError, AssertionError):  # the server may be gone already
            await self.post(f"{self.url}/{self.id}", {"janus": "destroy"})


@dataclass
class Participant:
    user_id: str
    session_id: str
    janus: JanusSession
    handle: int
    pc: RTCPeerConnection
    feed: int = 0
    frames: dict[str, int] = field(default_factory=dict)

    @property
    def local_port(self) -> int:
        """The UDP port of this PC's (bundled) ICE transport, for per-client iptables rules."""
        transport = self.pc.getTransceivers()[0].sender.transport.transport
        candidates = transport.iceGatherer.getLocalCandidates()
        return int(candidates[0].port)

    async def close(self) -> None:
        """Hang up, then leave once Janus has seen the hang-up (bounded), as a browser's page
        does. Janus reports a hang-up from the handle's own loop; destroying the session at once
        can let it come after the handle's `detached` event, which the telemetry collector cannot
        place. `test_telemetry` missed a session's `closed` state that way, we think (1 fresh run
        in 8 this session; the order of the two events was not captured)."""
        await self.pc.close()
        await self.janus.wait_hangup(self.handle, timeout=HANGUP_TIMEOUT_S)
        await self.janus.destroy()


async def _connected(pc: RTCPeerConnection) -> None:
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while pc.connectionState != "connected":
        assert time.monotonic() < deadline, f"PC stuck in {pc.connectionState}"
        await asyncio.sleep(0.05)


async def publish(
    http: httpx.AsyncClient, url: str, room: int, pin: str, user: str, *, hue: int = 0
) -> Participant:
    janus = JanusSession(http, url)
    await janus.create()
    session = f"{user}-session"
    handle = await janus.attach(opaque_id(user, session))
    body = {"request": "join", "ptype": "publisher", "room": room, "pin": pin, "display": user}
    await janus.message(handle, body)
    joined = await janus.wait_event(handle, "joined")
    pc = RTCPeerConnection(rtc_config())
    pc.addTrack(SineAudioTrack(freq=440.0 * (hue + 1)))
    pc.addTrack(PatternVideoTrack(hue=hue))
    await pc.setLocalDescription(await pc.createOffer())  # aiortc gathers fully: no trickle
    offer = {"type": pc.localDescription.type, "sdp": pc.localDescription.sdp}
    await janus.message(handle, {"request": "publish", "display": user}, jsep=offer)
    answer = (await janus.wait_event(handle, "jsep"))["jsep"]
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"]))
    await _connected(pc)
    feed = joined["plugindata"]["data"]["id"]
    return Participant(user, session, janus, handle, pc, feed=feed)


async def subscribe(
    http: httpx.AsyncClient, url: str, room: int, pin: str, user: str, feed: int, *, session: str = ""
) -> Participant:
    """One PC per feed (aiortc drops the second video m-line of a multistream subscription)."""
    janus = JanusSession(http, url)
    await janus.create()
    session = session or f"{user}-session"
    handle = await janus.attach(opaque_id(user, session))
    body = {"request": "join", "ptype": "subscriber", "room": room, "pin": pin, "streams": [{"feed": feed}]}
    await janus.message(handle, body)
    offer = (await janus.wait_event(handle, "jsep"))["jsep"]
    pc = RTCPeerConnection(rtc_config())
    participant = Participant(user, session, janus, handle, pc, feed=feed)

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        async def consume() -> None:
            participant.frames[track.kind] = 0
            while True:
                try:
                    await track.recv()
                except Exception:  # noqa: BLE001 (MediaStreamError: the track ended)
                    return
                participant.frames[track.kind] += 1

        asyncio.ensure_future(consume())

    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type=offer["type"]))
    await pc.setLocalDescription(await pc.createAnswer())
    answer = {"type": pc.localDescription.type, "sdp": pc.localDescription.sdp}
    await janus.message(handle, {"request": "start"}, jsep=answer)
    await janus.wait_event(handle, "event")  # {"videoroom": "event", "started": "ok"}
    await _connected(pc)
    return participant
