"""Callscope's room signaling: clients join with a join token, Callscope drives Janus for them.

The transport (a WebSocket, api/native/signal.py) hands each client's JSON messages to
`SignalingHub.handle()` and gives the hub a `send` callable back to the client. Per participant
the hub holds one Janus session with a publisher handle (joined on arrival, so presence and the
server-side telemetry start at once) and one subscriber handle per feed the client watches
(one PC per feed: aiortc ignores the second video m-line of a multistream subscription).
Every handle carries the `opaque_id` tag of (user, session), so Janus's events join up with the
client's own reports.

Client → server (`type`):
  join {token, session_id?}        first message; answered by `joined` {user, session_id,
                                   feed, can_publish, can_subscribe, participants: [{user,
                                   feed, publishing, muted, screen_feed}], telemetry?: {token,
                                   expires_at}}
  publish {sdp, sdp_type=offer,    → `answer` {sdp, sdp_type, source}; the others get `published`.
           source?=camera|screen}  A screen is its own Janus publisher (feed) of the same user:
                                   one PC per feed on both sides, and it comes and goes alone
  unpublish {source: screen}       stops the screen share; the others get `unpublished`
  subscribe {feed}                 → `offer` {feed, sdp, sdp_type}
  answer {feed, sdp}               the subscriber's answer; → `subscribed` {feed}
  unsubscribe {feed}
  candidate {feed?, source?,       trickle to the publisher (no feed; `source: screen` for the
             candidate}            screen's) or a subscription; candidate null = end
  mute {kind: audio|video, muted}  stops (or resumes) relaying; the others get `muted`
  leave
Server → client, besides the answers: `participant_joined` {user, feed}, `published` {user,
feed, source}, `unpublished` {user, feed, source}, `muted` {user, feed, kind, muted}, `left`
{user, feed, reason}, `candidate` {feed?, source?, candidate}, `media` {feed?, source?, state:
connected|closed}, `kicked` {reason}, `dismissed` {reason}, `media_server_lost` {reason,
rejoin: true} (the Janus node went down: every participant on it is removed at once and may join
again with the same token once the room is recreated), `error` {message, request?}.

`telemetry` in `joined` is an ingest token for (app, room, user), so the page can post its own
getStats() reports (sdk/callscope.js) without ever holding the app's secret key.

Removal (`remove()`, `dismiss()`): Janus does not tell subscribers that a feed was kicked nor
that a room was destroyed (design/media-plane.md §4), so the hub tells **every** client itself,
before touching Janus, then kicks/destroys and tears the sessions down. The removed users' join
tokens go on the deny list.

Events stored (source server): the handles' `join`/`leave`/`connection_state` come from Janus's
event handler through the collector (tagged handles); the hub stores what Janus cannot know:
`camera_on`/`mic_on` when a participant publishes, `camera_off`/`mic_off` (and on) on mute,
`kicked`, `room_dismissed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections.abc import Callable, Coroutine
from typing import Any

import httpx

from callscope.domain.events import Event, EventType
from callscope.domain.ids import ID_MAX_CHARS, ID_PATTERN
from callscope.errors import AuthError, BadRequest, CallscopeError, Forbidden
from callscope.media.controller import MediaController, MediaUnavailable
from callscope.media.janus_api import JanusError
from callscope.media.janus_session import JanusSession, plugin_data
from callscope.media.join_tokens import JoinGrant, JoinTokens
from callscope.media.participants import CAMERA, SCREEN, Message, Peer, ScreenShare, Send, mids_of

log = logging.getLogger(__name__)

Tagger = Callable[..., str]  # (user, session, *, screen=False) → the handle's opaque_id
Recorder = Callable[[str, list[Event]], None]  # (app_id, events) → stored with source server
TelemetryGrant = Callable[[JoinGrant], Message]  # an ingest token for the grant's user and room
_ID = re.compile(ID_PATTERN)
_KIND_EVENTS = {
    ("audio", True): EventType.MIC_ON,
    ("audio", False): EventType.MIC_OFF,
    ("video", True): EventType.CAMERA_ON,
    ("video", False): EventType.CAMERA_OFF,
}
SUBSCRIBE_ATTEMPTS = 10


class SignalingHub:
    def __init__(
        self,
        controller: MediaController,
        tokens: JoinTokens,
        *,
        tag: Tagger,
        record: Recorder,
        telemetry: TelemetryGrant | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._controller = controller
        self.tokens = tokens
        self._tag = tag
        self._record = record
        self._telemetry = telemetry
        self._clock = clock
        self._http = httpx.AsyncClient()
        self._rooms: dict[tuple[str, str], list[Peer]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        controller.on_node_down(self.node_down)

    async def close(self) -> None:
        for peers in list(self._rooms.values()):
            for peer in list(peers):
                await self._teardown(peer)
        await self._http.aclose()

    def peers(self, app_id: str, room_id: str) -> list[Peer]:
        return list(self._rooms.get((app_id, room_id), []))

    # -- join / leave ------------------------------------------------------------------------

    async def join(self, message: Message, send: Send) -> Peer:
        token = message.get("token")
        if message.get("type") != "join" or not isinstance(token, str):
            raise AuthError("the first message must be {type: join, token}")
        grant = self.tokens.verify(token, now_s=int(self._clock()))
        session_id = message.get("session_id")
        if not (isinstance(session_id, str) and len(session_id) <= ID_MAX_CHARS and _ID.match(session_id)):
            session_id = f"{grant.user_id[:100]}-{secrets.token_hex(6)}"
        room = await self._controller.place_room(grant.app_id, grant.room_id)
        node = self._controller.nodes[room.node]
        if not node.healthy:  # down, or restarted but its rooms not yet recreated
            raise MediaUnavailable("the media server is restarting; join again shortly", retry_after_s=1)
        peers = self._rooms.setdefault((grant.app_id, grant.room_id), [])
        janus = JanusSession(self._http, node.endpoints.api_url, lambda h, e: None)
        peer = Peer(grant, session_id, send, room, janus)
        janus._on_event = lambda handle, event: self._janus_event(peer, handle, event)
        janus.on_lost = lambda reason: self._spawn(self._lost(peer, reason))
        await janus.create()
        try:
            peer.handle = await janus.attach(self._tag(grant.user_id, session_id))
            joined = janus.expect(peer.handle, lambda e: plugin_data(e).get("videoroom") == "joined")
            body = {
                "request": "join",
                "ptype": "publisher",
                "room": room.number,
                "pin": room.pin,
                "display": grant.user_id,
            }
            await janus.message(peer.handle, body)
            peer.feed = int(plugin_data(await janus.wait(joined))["id"])
        except BaseException:
            await janus.destroy()
            raise
        others = [p for p in peers if not p.gone.is_set()]
        peers.append(peer)
        welcome: Message = {
            "type": "joined",
            "user": grant.user_id,
            "session_id": session_id,
            "room_id": grant.room_id,
            "feed": peer.feed,
            "can_publish": grant.publish,
            "can_subscribe": grant.subscribe,
            "participants": [p.describe() for p in others],
        }
        if self._telemetry is not None:
            welcome["telemetry"] = self._telemetry(grant)
        await peer.send(welcome)
        await self._broadcast(peer, {"type": "participant_joined", "user": peer.user, "feed": peer.feed})
        log.info("participant joined", extra={"app_id": grant.app_id, "room_id": grant.room_id})
        return peer

    async def leave(self, peer: Peer, reason: str = "left") -> None:
        if peer.gone.is_set():
            return
        await self._broadcast(peer, {"type": "left", "user": peer.user, "feed": peer.feed, "reason": reason})
        await self._teardown(peer)

    async def _lost(self, peer: Peer, reason: str) -> None:
        """Janus lost the participant's session (node died or restarted): the client must
        join again (the room is recreated by the controller); everyone is told."""
        await peer.send({"type": "error", "message": f"{reason}; join again"})
        await self.leave(peer, "media_server_lost")

    def node_down(self, node: str, reason: str) -> None:
        """The controller saw `node` go down: its Janus sessions are gone (or going), so every
        participant on it is told at once, not when its long poll gives up (up to 5 s later)."""
        lost = [p for peers in self._rooms.values() for p in peers if p.room.node == node]
        for peer in lost:
            peer.janus.closed = True  # its session died with Janus: no destroy request to wait on
            self._spawn(self._node_lost(peer, reason))

    async def _node_lost(self, peer: Peer, reason: str) -> None:
        await peer.send({"type": "media_server_lost", "reason": reason, "rejoin": True})
        await self.leave(peer, "media_server_lost")

    async def _teardown(self, peer: Peer) -> None:
        if peer.gone.is_set():
            return
        peer.gone.set()
        key = (peer.grant.app_id, peer.grant.room_id)
        peers = self._rooms.get(key, [])
        if peer in peers:
            peers.remove(peer)
        if not peers:
            self._rooms.pop(key, None)
        # Subscriptions to the departed feeds end with them.
        for other in peers:
            for feed in peer.feeds():
                handle = other.subscriptions.pop(feed, None)
                if handle is not None:
                    await other.janus.detach(handle)
        await peer.janus.destroy()  # detaches its handles: the collector stores the leave

    # -- messages ----------------------------------------------------------------------------

    async def handle(self, peer: Peer, message: Message) -> None:
        kind = message.get("type")
        try:
            if kind == "publish":
                await self._publish(peer, message)
            elif kind == "subscribe":
                await self._subscribe(peer, _feed(message))
            elif kind == "answer":
                await self._start(peer, _feed(message), message)
            elif kind == "unpublish":
                await self._stop_screen(peer)
            elif kind == "unsubscribe":
                handle = peer.subscriptions.pop(_feed(message), None)
                if handle is not None:
                    await peer.janus.detach(handle)
            elif kind == "candidate":
                await self._candidate(peer, message)
            elif kind == "mute":
                await self._mute(peer, message)
            elif kind == "leave":
                await self.leave(peer)
            else:
                raise BadRequest(f"unknown message type {kind!r}")
        except (CallscopeError, KeyError, TypeError, ValueError) as exc:
            text = exc.message if isinstance(exc, CallscopeError) else f"bad message: {type(exc).__name__}"
            await peer.send({"type": "error", "request": kind, "message": text})

    async def _publish(self, peer: Peer, message: Message) -> None:
        if not peer.grant.publish:
            raise Forbidden("this join token does not allow publishing")
        if message.get("source", CAMERA) == SCREEN:
            await self._publish_screen(peer, message)
            return
        sdp = str(message["sdp"])
        peer.mids = mids_of(sdp)
        answered = peer.janus.expect(peer.handle, lambda e: "jsep" in e)
        jsep = {"type": str(message.get("sdp_type", "offer")), "sdp": sdp}
        await peer.janus.message(peer.handle, {"request": "publish", "display": peer.user}, jsep=jsep)
        answer = (await peer.janus.wait(answered))["jsep"]
        await peer.send(
            {"type": "answer", "sdp": answer["sdp"], "sdp_type": answer["type"], "source": CAMERA}
        )
        peer.muted = {kind: False for kind in peer.mids if kind in ("audio", "video")}
        self._store(peer, [_KIND_EVENTS[(kind, True)] for kind in peer.muted])
        # The others hear of it at webrtcup (`_janus_event`): before that Janus has no feed to
        # subscribe to ("No such feed", 428).

    async def _publish_screen(self, peer: Peer, message: Message) -> None:
        if peer.screen is None:
            handle = await peer.janus.attach(self._tag(peer.user, peer.session_id, screen=True))
            joined = peer.janus.expect(handle, lambda e: plugin_data(e).get("videoroom") == "joined")
            body = {
                "request": "join",
                "ptype": "publisher",
                "room": peer.room.number,
                "pin": peer.room.pin,
                "display": peer.user,
            }
            try:
                await peer.janus.message(handle, body)
                feed = int(plugin_data(await peer.janus.wait(joined))["id"])
            except BaseException:
                await peer.janus.detach(handle)
                raise
            peer.screen = ScreenShare(handle, feed)
        screen = peer.screen
        answered = peer.janus.expect(screen.handle, lambda e: "jsep" in e)
        jsep = {"type": str(message.get("sdp_type", "offer")), "sdp": str(message["sdp"])}
        await peer.janus.message(screen.handle, {"request": "publish", "display": peer.user}, jsep=jsep)
        answer = (await peer.janus.wait(answered))["jsep"]
        await peer.send(
            {"type": "answer", "sdp": answer["sdp"], "sdp_type": answer["type"], "source": SCREEN}
        )
        self._store(peer, [EventType.SCREEN_ON])
        # Announced at its webrtcup, like the camera.

    async def _stop_screen(self, peer: Peer) -> None:
        screen, peer.screen = peer.screen, None
        if screen is None:
            raise BadRequest("not sharing a screen")
        notice = {"type": "unpublished", "user": peer.user, "feed": screen.feed, "source": SCREEN}
        await self._broadcast(peer, notice)
        for other in self.peers(peer.grant.app_id, peer.grant.room_id):
            handle = other.subscriptions.pop(screen.feed, None)
            if handle is not None:
                await other.janus.detach(handle)
        await peer.janus.detach(screen.handle)  # leaves the room: Janus ends the feed
        self._store(peer, [EventType.SCREEN_OFF])

    async def _announce(self, peer: Peer, source: str) -> None:
        if source == SCREEN:
            if peer.screen is not None and not peer.screen.publishing:
                peer.screen.publishing = True
                notice = {"type": "published", "user": peer.user, "feed": peer.screen.feed, "source": SCREEN}
                await self._broadcast(peer, notice)
            return
        peer.publishing = True
        if not peer.announced:
            peer.announced = True
            notice = {"type": "published", "user": peer.user, "feed": peer.feed, "source": CAMERA}
            await self._broadcast(peer, notice)

    async def _subscribe(self, peer: Peer, feed: int) -> None:
        if not peer.grant.subscribe:
            raise Forbidden("this join token does not allow subscribing")
        others = self.peers(peer.grant.app_id, peer.grant.room_id)
        screens = {p.screen.feed for p in others if p.screen is not None and p.screen.publishing}
        if feed not in screens and not any(p.feed == feed and p.publishing for p in others):
            raise BadRequest(f"feed {feed} is not publishing in this room")
        old = peer.subscriptions.pop(feed, None)
        if old is not None:
            await peer.janus.detach(old)
        handle = await peer.janus.attach(self._tag(peer.user, peer.session_id, screen=feed in screens))
        peer.subscriptions[feed] = handle
        body = {
            "request": "join",
            "ptype": "subscriber",
            "room": peer.room.number,
            "pin": peer.room.pin,
            "streams": [{"feed": feed}],
        }
        for attempt in range(SUBSCRIBE_ATTEMPTS):
            offered = peer.janus.expect(handle, lambda e: "jsep" in e)
            try:
                await peer.janus.message(handle, body)
                offer = (await peer.janus.wait(offered))["jsep"]
                break
            except JanusError as exc:  # the feed's media may be a moment behind its webrtcup
                if "(428)" not in str(exc) or attempt == SUBSCRIBE_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.2)
        await peer.send({"type": "offer", "feed": feed, "sdp": offer["sdp"], "sdp_type": offer["type"]})

    async def _start(self, peer: Peer, feed: int, message: Message) -> None:
        handle = peer.subscriptions.get(feed)
        if handle is None:
            raise BadRequest(f"no subscription to feed {feed}")
        started = peer.janus.expect(handle, lambda e: plugin_data(e).get("started") == "ok")
        jsep = {"type": str(message.get("sdp_type", "answer")), "sdp": str(message["sdp"])}
        await peer.janus.message(handle, {"request": "start"}, jsep=jsep)
        await peer.janus.wait(started)
        await peer.send({"type": "subscribed", "feed": feed})

    async def _candidate(self, peer: Peer, message: Message) -> None:
        if message.get("source") == SCREEN:
            handle = peer.screen.handle if peer.screen is not None else None
        elif message.get("feed") is None:
            handle = peer.handle
        else:
            handle = peer.subscriptions.get(_feed(message))
        if handle is None:
            raise BadRequest("no such subscription")
        candidate = message.get("candidate")
        await peer.janus.trickle(handle, candidate if isinstance(candidate, dict) else None)

    async def _mute(self, peer: Peer, message: Message) -> None:
        kind, muted = str(message["kind"]), bool(message["muted"])
        mid = peer.mids.get(kind)
        if not peer.publishing or mid is None:
            raise BadRequest(f"not publishing {kind}")
        configured = peer.janus.expect(peer.handle, lambda e: plugin_data(e).get("configured") == "ok")
        body = {"request": "configure", "streams": [{"mid": mid, "send": not muted}]}
        await peer.janus.message(peer.handle, body)
        await peer.janus.wait(configured)
        peer.muted[kind] = muted
        self._store(peer, [_KIND_EVENTS[(kind, not muted)]])
        notice = {"type": "muted", "user": peer.user, "feed": peer.feed, "kind": kind, "muted": muted}
        await asyncio.gather(peer.send(notice), self._broadcast(peer, notice))

    def _janus_event(self, peer: Peer, handle: int, event: dict[str, Any]) -> None:
        """Janus events nobody waits for: relay what the client can use."""
        source: str | None = None  # one of the participant's own publishers, or a subscription
        feed: int | None = None
        if handle == peer.handle:
            source = CAMERA
        elif peer.screen is not None and handle == peer.screen.handle:
            source = SCREEN
        else:
            feed = next((f for f, h in peer.subscriptions.items() if h == handle), None)
            if feed is None:
                return
        what = event.get("janus")
        notice: Message | None = None
        if what == "trickle":
            candidate = event.get("candidate") or {}
            notice = {
                "type": "candidate",
                "feed": feed,
                "candidate": None if candidate.get("completed") else candidate,
            }
        elif what in ("webrtcup", "hangup"):
            notice = {"type": "media", "feed": feed, "state": "connected" if what == "webrtcup" else "closed"}
            if what == "webrtcup" and source is not None:
                self._spawn(self._announce(peer, source))
        if notice is not None and source is not None:
            notice["source"] = source
        if notice is not None:
            self._spawn(peer.send(notice))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- removal -----------------------------------------------------------------------------

    async def remove(self, app_id: str, room_id: str, users: set[str], reason: str) -> list[str]:
        """Kick `users`: notify every client, then Janus `kick`, store, tear down; the users'
        tokens are revoked. Returns the sessions removed."""
        peers = self.peers(app_id, room_id)
        gone = [p for p in peers if p.user in users]
        stay = [p for p in peers if p.user not in users]
        now_s = int(self._clock())
        notices = [p.send({"type": "kicked", "reason": reason}) for p in gone]
        for p in gone:
            self.tokens.deny_list.deny(p.grant.token_id, p.grant.expires_at_s, now_s)
            notice = {"type": "left", "user": p.user, "feed": p.feed, "reason": "kicked"}
            notices += [other.send(notice) for other in stay]
        await asyncio.gather(*notices)
        for p in gone:
            self._store(p, [EventType.KICKED], reason=reason)
            client = self._controller.nodes[p.room.node].client
            if client is not None:
                for feed in p.feeds():
                    with contextlib.suppress(JanusError):
                        await client.videoroom("kick", room=p.room.number, secret=p.room.secret, id=feed)
            await self._teardown(p)
        return [p.session_id for p in gone]

    async def dismiss(self, app_id: str, room_id: str, reason: str) -> list[str]:
        """Every client is told, every token revoked, the Janus room destroyed, sessions closed."""
        peers = self.peers(app_id, room_id)
        now_s = int(self._clock())
        await asyncio.gather(*(p.send({"type": "dismissed", "reason": reason}) for p in peers))
        for p in peers:
            self.tokens.deny_list.deny(p.grant.token_id, p.grant.expires_at_s, now_s)
            self._store(p, [EventType.ROOM_DISMISSED], reason=reason)
        if self._controller.find_room(app_id, room_id) is not None:
            with contextlib.suppress(JanusError):
                await self._controller.close_room(app_id, room_id)
        for p in peers:
            await self._teardown(p)
        return [p.session_id for p in peers]

    # -- helpers -----------------------------------------------------------------------------

    async def _broadcast(self, sender: Peer, message: Message) -> None:
        others = [p for p in self.peers(sender.grant.app_id, sender.grant.room_id) if p is not sender]
        await asyncio.gather(*(p.send(message) for p in others))

    def _store(self, peer: Peer, types: list[EventType], reason: str = "") -> None:
        ts_us = int(self._clock() * 1_000_000)
        events = [
            Event(
                room_id=peer.grant.room_id,
                user_id=peer.user,
                session_id=peer.session_id,
                ts=ts_us / 1000,
                type=type_,
                event_id=f"signal-{ts_us}-{type_.value}",
                reason=reason[:256],
            )
            for type_ in types
        ]
        if events:
            self._record(peer.grant.app_id, events)


def _feed(message: Message) -> int:
    return int(message["feed"])
