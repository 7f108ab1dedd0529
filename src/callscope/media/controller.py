"""The media controller: a list of Janus nodes, their health, and the rooms placed on them.

Nodes are managed (a Janus child process with our generated config) or external (URLs and
secrets from settings). Every node gets a health loop: the admin API's `list_sessions` every
`health_interval_s` (it also gives the session count used for placement), and for a managed node
the child's exit status, which is noticed on the next tick. A node is down after its process
exits or after `FAILURES_DOWN` failed checks in a row; the listener hears it at once (telemetry
marks the node's sessions), a managed Janus is restarted with a growing back-off, and when a node
answers again its rooms are recreated with the same number, secret and pin (Janus keeps rooms in
memory only), or closed when that fails.

New rooms go to the healthy node with the fewest rooms (then the fewest sessions).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from callscope.errors import CallscopeError, NotFound
from callscope.media.janus_api import JanusClient, JanusError, NodeEndpoints
from callscope.media.process import JanusProcess

log = logging.getLogger(__name__)
FAILURES_DOWN = 2  # failed checks in a row that make a reachable-but-silent node "down"
RESTART_BACKOFF_S = (0.0, 0.5, 1.0, 2.0, 5.0, 10.0)
ROOM_EXISTS = 427  # VideoRoom error code: "Room already exists"


class MediaUnavailable(CallscopeError):
    status = 503
    code = "media_unavailable"


class NodeListener(Protocol):
    def node_down(self, node: str, reason: str) -> None: ...

    def room_closed(self, app_id: str, room_id: str, reason: str) -> None: ...


@dataclass
class PlacedRoom:
    app_id: str
    room_id: str
    node: str
    number: int  # the Janus room id
    secret: str
    pin: str

    def public(self, api_url: str) -> dict[str, Any]:
        """What a client needs to join (the secret, which allows destroy/kick, stays here)."""
        return {
            "app_id": self.app_id,
            "room_id": self.room_id,
            "node": self.node,
            "janus_url": api_url,
            "janus_room": self.number,
            "pin": self.pin,
        }


@dataclass
class Node:
    endpoints: NodeEndpoints
    public_url: str  # the Janus API URL handed to clients
    process: JanusProcess | None = None
    client: JanusClient | None = None
    healthy: bool = False
    sessions: int = 0
    failures: int = 0
    restarts: int = 0
    crash_restarts: int = 0
    down_events: int = 0
    last_down_reason: str = ""
    rooms: dict[tuple[str, str], PlacedRoom] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.endpoints.name

    def status(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "managed": self.process is not None,
            "healthy": self.healthy,
            "pid": self.process.pid if self.process is not None else None,
            "sessions": self.sessions,
            "rooms": len(self.rooms),
            "restarts": self.restarts,
            "down_events": self.down_events,
            "last_down_reason": self.last_down_reason,
            "janus_url": self.public_url,
        }


class MediaController:
    def __init__(self, nodes: list[Node], *, listener: NodeListener, health_interval_s: float = 1.0) -> None:
        if len({n.name for n in nodes}) != len(nodes):
            raise ValueError("Janus node names must be unique")
        self.nodes = {n.name: n for n in nodes}
        self._listener = listener
        self._interval = health_interval_s
        self._http = httpx.AsyncClient()
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()  # room placement and recreation do not interleave
        self._by_number: dict[tuple[str, int], PlacedRoom] = {}
        self._down_watchers: list[Callable[[str, str], None]] = []

    def on_node_down(self, watcher: Callable[[str, str], None]) -> None:
        """Also call `watcher(node, reason)` when a node goes down (the signaling's clients)."""
        self._down_watchers.append(watcher)

    async def start(self, collector_ready: Callable[[], Awaitable[bool]]) -> None:
        """Start the health loops; managed Janus starts once the collector answers (its event
        handler drops what it cannot deliver, the `started` event included)."""
        for node in self.nodes.values():
            node.client = JanusClient(node.endpoints, self._http)
            self._tasks.append(
                asyncio.create_task(self._watch(node, collector_ready), name=f"janus-{node.name}")
            )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for node in self.nodes.values():
            if node.client is not None:
                await node.client.close()
            if node.process is not None:
                await asyncio.to_thread(node.process.stop)
        await self._http.aclose()

    # -- health ------------------------------------------------------------------------------

    async def _watch(self, node: Node, collector_ready: Callable[[], Awaitable[bool]]) -> None:
        if node.process is not None:
            for _ in range(100):
                if await collector_ready():
                    break
                await asyncio.sleep(0.1)
            node.process.start()
        while True:
            try:
                await self._check(node)
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must outlive any one bad tick
                log.exception("janus health check failed", extra={"node": node.name})
            await asyncio.sleep(self._interval)

    async def _check(self, node: Node) -> None:
        assert node.client is not None
        process = node.process
        if process is not None and (code := process.exit_code()) is not None:
            await self._down(node, f"janus exited with status {code}")
            await self._restart(node)
            return
        try:
            node.sessions = await node.client.ping(timeout=min(1.0, self._interval))
        except JanusError as exc:
            node.failures += 1
            if node.failures >= FAILURES_DOWN:
                await self._down(node, str(exc))
            if process is not None and node.failures >= 2 * FAILURES_DOWN + 1:
                await asyncio.to_thread(process.stop)  # hung: the next tick restarts it
            return
        node.failures = 0
        if not node.healthy:
            await self._up(node)

    async def _down(self, node: Node, reason: str) -> None:
        if not node.healthy:
            return
        node.healthy = False
        node.down_events += 1
        node.last_down_reason = reason
        log.warning("janus node down", extra={"node": node.name, "reason": reason})
        self._listener.node_down(node.name, reason)
        for watcher in self._down_watchers:
            watcher(node.name, reason)

    async def _restart(self, node: Node) -> None:
        assert node.process is not None
        delay = RESTART_BACKOFF_S[min(node.crash_restarts, len(RESTART_BACKOFF_S) - 1)]
        node.crash_restarts += 1
        await asyncio.sleep(delay)
        await asyncio.to_thread(node.process.stop)
        node.process.start()
        node.restarts += 1

    async def _up(self, node: Node) -> None:
        assert node.client is not None
        await node.client.open()
        async with self._lock:
            for room in list(node.rooms.values()):
                try:
                    await self._create(node, room)
                except JanusError as exc:
                    self._forget(room)
                    log.warning(
                        "room closed after janus restart", extra={"node": node.name, "error": str(exc)}
                    )
                    self._listener.room_closed(room.app_id, room.room_id, "media server restarted")
        node.healthy = True
        node.crash_restarts = 0
        log.info("janus node up", extra={"node": node.name, "rooms": len(node.rooms)})

    # -- rooms -------------------------------------------------------------------------------

    async def _create(self, node: Node, room: PlacedRoom) -> None:
        assert node.client is not None
        try:
            await node.client.videoroom(
                "create",
                room=room.number,
                admin_key=node.endpoints.admin_key,
                secret=room.secret,
                pin=room.pin,
                is_private=True,
                description=f"callscope {room.app_id}/{room.room_id}"[:120],
                publishers=16,
                bitrate=1_024_000,
                audiocodec="opus",
                videocodec="vp8",
                notify_joining=True,
            )
        except JanusError as exc:
            if f"({ROOM_EXISTS})" not in str(exc) and "already exists" not in str(exc):
                raise

    def _forget(self, room: PlacedRoom) -> None:
        self.nodes[room.node].rooms.pop((room.app_id, room.room_id), None)
        self._by_number.pop((room.node, room.number), None)

    def find_room(self, app_id: str, room_id: str) -> PlacedRoom | None:
        for node in self.nodes.values():
            if (app_id, room_id) in node.rooms:
                return node.rooms[(app_id, room_id)]
        return None

    def room_for(self, node: str, number: int) -> tuple[str, str] | None:
        """The (app_id, room_id) a Janus room on `node` belongs to, for telemetry."""
        room = self._by_number.get((node, number))
        return (room.app_id, room.room_id) if room is not None else None

    async def place_room(self, app_id: str, room_id: str) -> PlacedRoom:
        """The room's Janus room, created on the least loaded healthy node on first use."""
        async with self._lock:
            found = self.find_room(app_id, room_id)
            if found is not None:
                return found
            healthy = [n for n in self.nodes.values() if n.healthy]
            if not healthy:
                raise MediaUnavailable("no media server is available; retry shortly", retry_after_s=1)
            node = min(healthy, key=lambda n: (len(n.rooms), n.sessions, n.name))
            room = PlacedRoom(
                app_id,
                room_id,
                node.name,
                number=secrets.randbelow(2**52) + 1,
                secret=secrets.token_urlsafe(24),
                pin=secrets.token_urlsafe(12),
            )
            await self._create(node, room)
            node.rooms[(app_id, room_id)] = room
            self._by_number[(node.name, room.number)] = room
            return room

    async def close_room(self, app_id: str, room_id: str) -> None:
        async with self._lock:
            room = self.find_room(app_id, room_id)
            if room is None:
                raise NotFound(f"room {room_id!r} has no media room")
            client = self.nodes[room.node].client
            assert client is not None
            await client.videoroom("destroy", room=room.number, secret=room.secret)
            self._forget(room)

    def public_url(self, node: str) -> str:
        return self.nodes[node].public_url

    def status(self) -> list[dict[str, Any]]:
        return [n.status() for n in self.nodes.values()]
