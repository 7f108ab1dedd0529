"""Janus event handler batches → the same samples and events browsers report, `source=server`.

Janus's sample HTTP event handler (one thread, blocking curl, a few retries, then the event is
dropped) posts JSON arrays of events. `accept()` parses a batch, turns it into rows and queues
them to the group-commit writer without waiting for the commit, so the handler gets its answer in
well under a millisecond per event; rows the writer cannot take (queue full, store down) are
counted and dropped, never answered with an error Janus would retry.

What is read (design/media-plane.md §3; `type` is a bit mask):
- 2 handle attached/detached: the handle's `opaque_id` tag (janus_tags.py) names user and session.
- 64 VideoRoom `joined` (publisher: room, feed id, display), `subscribing`/`subscribed`/`updated`
  (subscriber: room and the feeds per mid), `leaving`/`unpublished`. The room number maps to the
  (app, room) Callscope placed there; the session's first handle in a room stores `join`, its last
  one `leave`.
- 16/6 `webrtcup`, `hangup` → `connection_state` connected / closed. Janus reports a hangup from
  the handle's own loop, so it can reach us after the handle's `detached`: the last
  `DETACHED_KEPT` detached handles are remembered for these late events (and only for them).
- 32/3 media stats per mid every `stats_period`: counters become deltas against the previous
  report of the same handle and mid, so the first report of a stream is its baseline.
  Publisher handles give the uplink (`lost` over `lost + packets-received`, `jitter-local`,
  bytes received); subscriber handles the downlink of the feed's publisher (`lost-by-remote` over
  `packets-sent`, `jitter-remote`, `rtt`, bytes sent). Janus's smoothed `in-*`/`out-*-link-quality`
  scores are not stored: they restate these counters and the sample has no column for them.
- 32/2 slow-link → `media_error` with reason `slow_link <direction>: <n> lost/s` (the event
  vocabulary has no slow-link type yet).
"""

from __future__ import annotations

import logging
import math
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from callscope.collectors.checks import Window
from callscope.collectors.decode import Decoded
from callscope.collectors.events import event_rows
from callscope.collectors.janus_tags import HandleTag, parse_opaque_id
from callscope.collectors.samples import sample_rows
from callscope.domain.events import Event, EventType
from callscope.domain.samples import Direction, Sample, Source, StreamKind
from callscope.domain.tenancy import IngestScope
from callscope.domain.timestamps import now_us
from callscope.errors import CallscopeError, MalformedBody
from callscope.storage.writer import GroupCommitWriter, TableRows

log = logging.getLogger(__name__)

RoomLookup = Callable[[str, int], tuple[str, str] | None]  # (node, Janus room) → (app, room)
_KINDS = {"audio": StreamKind.AUDIO, "video": StreamKind.VIDEO}
_PUBLISHER, _SUBSCRIBER = "publisher", "subscriber"
# Detached handles remembered for their late connection-state events, oldest forgotten first. A
# late event comes within milliseconds of its `detached` (about 10 ms in the media tests), so
# this only has to outlast the handles detached in that time, even on a busy node.
DETACHED_KEPT = 4096


@dataclass
class _Handle:
    node: str
    janus_session: int
    tag: HandleTag | None
    app_id: str = ""
    room_id: str = ""
    number: int = 0
    role: str = ""
    display: str = ""
    feed: int = 0  # a publisher's own feed id
    feeds: dict[str, int] = field(default_factory=dict)  # a subscriber's mid → feed

    @property
    def user_id(self) -> str:
        if self.tag is not None:
            return self.tag.user_id
        return self.display or f"janus-{self.janus_session}"

    @property
    def session_id(self) -> str:
        return self.tag.session_id if self.tag is not None else f"janus-{self.node}-{self.janus_session}"

    @property
    def placed(self) -> bool:
        return bool(self.app_id)


@dataclass(frozen=True, slots=True)
class _Counters:
    ts_us: int
    lost: int
    received: int
    bytes_received: int
    lost_by_remote: int
    sent: int
    bytes_sent: int


@dataclass
class _Batch:
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    events: dict[str, list[Event]] = field(default_factory=dict)

    def sample(self, app_id: str, sample: Sample) -> None:
        self.samples.setdefault(app_id, []).append(sample)

    def event(self, app_id: str, event: Event) -> None:
        self.events.setdefault(app_id, []).append(event)


class JanusTelemetry:
    def __init__(
        self,
        writer: GroupCommitWriter,
        rooms: RoomLookup,
        *,
        max_age_s: int,
        max_skew_s: int,
        clock: Callable[[], int] = now_us,
    ) -> None:
        self._writer = writer
        self._rooms = rooms
        self._max_age_s = max_age_s
        self._max_skew_s = max_skew_s
        self._clock = clock
        self._handles: dict[tuple[str, int], _Handle] = {}
        self._detached: OrderedDict[tuple[str, int], _Handle] = OrderedDict()
        self._baselines: dict[tuple[str, int, str], _Counters] = {}
        self._feeds: dict[tuple[str, int, int], str] = {}  # (node, room, feed) → publisher's user
        self._present: dict[tuple[str, str, str, str], set[int]] = {}  # (node, app, room, session)
        self.counts: Counter[str] = Counter()

    # -- entry points ------------------------------------------------------------------------

    def accept(self, node: str, body: bytes) -> int:
        """Queue what a batch holds; returns the number of events read. Never waits."""
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise MalformedBody(f"not JSON: {exc}") from exc
        events = parsed if isinstance(parsed, list) else [parsed]
        batch = _Batch()
        for event in events:
            if not isinstance(event, dict):
                continue
            try:
                self._read(node, event, batch)
            # One event we cannot read must not cost the batch's others (joins, leaves) their place.
            except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
                self.counts["unreadable"] += 1
                log.debug("janus event not understood", extra={"node": node, "error": repr(exc)})
        self.counts["events"] += len(events)
        self._submit(batch)
        return len(events)

    def node_lost(self, node: str, reason: str) -> None:
        """The node died: every session on it leaves now; its handles and baselines are gone."""
        batch = _Batch()
        ts = self._clock()
        for (n, app_id, room_id, session), handles in list(self._present.items()):
            if n != node:
                continue
            handle = next((self._handles.get((node, h)) for h in handles), None)
            user = handle.user_id if handle is not None else ""
            if user:
                batch.event(app_id, self._event(room_id, user, session, ts, EventType.LEAVE, reason=reason))
            del self._present[(n, app_id, room_id, session)]
        self._handles = {k: v for k, v in self._handles.items() if k[0] != node}
        self._detached = OrderedDict((k, v) for k, v in self._detached.items() if k[0] != node)
        self._baselines = {k: v for k, v in self._baselines.items() if k[0] != node}
        self._feeds = {k: v for k, v in self._feeds.items() if k[0] != node}
        self._submit(batch)

    def live_sessions(self, node: str | None = None) -> int:
        return sum(1 for key in self._present if node is None or key[0] == node)

    def tracked_handles(self) -> int:
        """Handles held in memory: attached (or seen) and not detached since."""
        return len(self._handles)

    # -- reading events ----------------------------------------------------------------------

    def _read(self, node: str, ev: dict[str, Any], batch: _Batch) -> None:
        kind = ev.get("type")
        handle_id = ev.get("handle_id")
        if kind == 2 and handle_id is not None:
            self._handle_event(node, ev, int(handle_id), batch)
            return
        if handle_id is None:
            return  # session, core and handle-less plugin events (`kicked`, `destroyed`)
        key = (node, int(handle_id))
        body = ev.get("event") or {}
        ts_us = int(ev.get("timestamp") or self._clock())
        handle = self._handles.get(key)
        if handle is None:
            detached = self._detached.get(key)
            if detached is not None:
                self._late(detached, ev, body, ts_us, batch)
                return
            # Not seen attached (we started after it did): known from its first event on.
            handle = self._handles[key] = _new_handle(node, ev)
        if kind == 64 and ev.get("event", {}).get("plugin") == "janus.plugin.videoroom":
            self._plugin_event(handle, int(handle_id), body.get("data") or {}, ts_us, batch)
        elif not handle.placed:
            self.counts["unplaced"] += 1
        elif kind == 32 and ev.get("subtype") == 3:
            self._stats(handle, int(handle_id), body, ts_us, batch)
        elif kind == 32 and ev.get("subtype") == 2:
            lost = body.get("lost_lastsec", body.get("lost", 0))
            reason = f"slow_link {body.get('slow_link', '')}: {lost} lost/s ({body.get('media', '')})"
            self._session_event(handle, ts_us, EventType.MEDIA_ERROR, batch, reason=reason)
        elif kind == 16 and ev.get("subtype") == 6:
            self._connection_state(handle, body, ts_us, batch)

    def _late(
        self, handle: _Handle, ev: dict[str, Any], body: dict[str, Any], ts_us: int, batch: _Batch
    ) -> None:
        """An event of a handle already detached: its connection state is placed; the rest
        (stats, plugin events) describe media that is gone, and are counted and dropped."""
        if ev.get("type") == 16 and ev.get("subtype") == 6 and handle.placed:
            self._connection_state(handle, body, ts_us, batch)
        else:
            self.counts["after_detach"] += 1

    def _connection_state(self, handle: _Handle, body: dict[str, Any], ts_us: int, batch: _Batch) -> None:
        state = {"webrtcup": "connected", "hangup": "closed"}.get(str(body.get("connection")))
        if state is not None:
            self._session_event(
                handle,
                ts_us,
                EventType.CONNECTION_STATE,
                batch,
                state=state,
                reason=body.get("reason", ""),
            )

    def _handle_event(self, node: str, ev: dict[str, Any], handle_id: int, batch: _Batch) -> None:
        name = (ev.get("event") or {}).get("name")
        if name == "attached":
            self._detached.pop((node, handle_id), None)
            self._handles[(node, handle_id)] = _new_handle(node, ev)
        elif name == "detached":
            handle = self._handles.pop((node, handle_id), None)
            if handle is not None:
                self._leave(handle, handle_id, int(ev.get("timestamp") or self._clock()), batch, "")
                self._detached[(node, handle_id)] = handle
                if len(self._detached) > DETACHED_KEPT:
                    self._detached.popitem(last=False)
            for key in [k for k in self._baselines if k[:2] == (node, handle_id)]:
                del self._baselines[key]

    def _plugin_event(
        self, handle: _Handle, handle_id: int, data: dict[str, Any], ts: int, batch: _Batch
    ) -> None:
        what = data.get("event")
        if what in ("joined", "subscribing", "subscribed", "updated") and not handle.placed:
            number = int(data.get("room") or 0)
            placed = self._rooms(handle.node, number)
            if placed is None:
                self.counts["foreign_room"] += 1
                return
            handle.app_id, handle.room_id = placed
            handle.number = number
        if what == "joined":
            handle.role, handle.feed = _PUBLISHER, int(data.get("id") or 0)
            handle.display = str(data.get("display") or "")
            self._feeds[(handle.node, handle.number, handle.feed)] = handle.user_id
            self._join(handle, handle_id, ts, batch)
        elif what in ("subscribing", "subscribed", "updated") and handle.placed:
            handle.role = _SUBSCRIBER
            if data.get("feed") is not None:
                handle.feeds.setdefault("", int(data["feed"]))
            for stream in data.get("streams") or []:
                if stream.get("feed_id", stream.get("feed")) is not None and "mid" in stream:
                    handle.feeds[str(stream["mid"])] = int(stream.get("feed_id", stream.get("feed")))
            self._join(handle, handle_id, ts, batch)
        elif what == "leaving" and handle.placed:
            self._leave(handle, handle_id, ts, batch, str(data.get("reason", "")))

    # -- sessions ----------------------------------------------------------------------------

    def _join(self, handle: _Handle, handle_id: int, ts: int, batch: _Batch) -> None:
        key = (handle.node, handle.app_id, handle.room_id, handle.session_id)
        present = self._present.setdefault(key, set())
        if not present:
            batch.event(
                handle.app_id,
                self._event(handle.room_id, handle.user_id, handle.session_id, ts, EventType.JOIN),
            )
        present.add(handle_id)

    def _leave(self, handle: _Handle, handle_id: int, ts: int, batch: _Batch, reason: str) -> None:
        key = (handle.node, handle.app_id, handle.room_id, handle.session_id)
        present = self._present.get(key)
        if present is None or handle_id not in present:
            return
        present.discard(handle_id)
        if not present:
            del self._present[key]
            batch.event(
                handle.app_id,
                self._event(
                    handle.room_id, handle.user_id, handle.session_id, ts, EventType.LEAVE, reason=reason
                ),
            )

    def _session_event(
        self, handle: _Handle, ts: int, type_: EventType, batch: _Batch, **fields: str
    ) -> None:
        batch.event(
            handle.app_id, self._event(handle.room_id, handle.user_id, handle.session_id, ts, type_, **fields)
        )

    def _event(
        self, room: str, user: str, session: str, ts_us: int, type_: EventType, **fields: str
    ) -> Event:
        # Two server events of one session at the same instant stay distinct by type.
        texts: dict[str, Any] = {k: v[:256] for k, v in fields.items()}  # Event has a float field too
        return Event(
            room_id=room,
            user_id=user,
            session_id=session,
            ts=ts_us / 1000,
            type=type_,
            event_id=f"janus-{ts_us}-{type_.value}",
            **texts,
        )

    # -- media stats -------------------------------------------------------------------------

    def _stats(self, handle: _Handle, handle_id: int, body: dict[str, Any], ts: int, batch: _Batch) -> None:
        kind = _KINDS.get(str(body.get("media")))
        mid = str(body.get("mid", ""))
        if kind is None or handle.role not in (_PUBLISHER, _SUBSCRIBER):
            return
        if kind is StreamKind.VIDEO and handle.tag is not None and handle.tag.screen:
            kind = StreamKind.SCREEN
        now = _Counters(
            ts,
            int(body.get("lost", 0)),
            int(body.get("packets-received", 0)),
            int(body.get("bytes-received", 0)),
            int(body.get("lost-by-remote", 0)),
            int(body.get("packets-sent", 0)),
            int(body.get("bytes-sent", 0)),
        )
        key = (handle.node, handle_id, mid)
        before = self._baselines.get(key)
        if before is not None and 0 <= now.ts_us - before.ts_us < 1000:
            # Under a millisecond after the last one: no window to divide by. The older baseline
            # stays, so the next report's window covers this one's counters too.
            return
        self._baselines[key] = now
        if before is None or now.ts_us < before.ts_us:
            return
        window_ms = (now.ts_us - before.ts_us) // 1000
        rtt = float(body.get("rtt", 0))
        common: dict[str, Any] = {
            "room_id": handle.room_id,
            "user_id": handle.user_id,
            "session_id": handle.session_id,
            "ts": ts / 1000,
            "kind": kind,
            "stream_id": f"mid-{mid}",
            "source": Source.SERVER,
            "window_ms": min(window_ms, 600_000),
        }
        if handle.role == _PUBLISHER:
            lost = max(0, now.lost - before.lost)
            expected = max(0, now.received - before.received) + lost
            sample = Sample(
                direction=Direction.UP,
                bitrate_kbps=max(0, now.bytes_received - before.bytes_received) * 8 / window_ms,
                jitter_ms=float(body.get("jitter-local", math.nan)),
                rtt_ms=rtt if rtt > 0 else math.nan,  # 0 on a publish-only PC: not measured
                loss_ratio=lost / expected if expected else math.nan,
                packets_expected=expected,
                packets_lost=lost,
                **common,
            )
        else:
            feed = handle.feeds.get(mid, handle.feeds.get("", 0))
            peer = self._feeds.get((handle.node, handle.number, feed), "")
            sent = max(0, now.sent - before.sent)
            lost = min(sent, max(0, now.lost_by_remote - before.lost_by_remote))
            sample = Sample(
                direction=Direction.DOWN,
                peer_id=peer,
                bitrate_kbps=max(0, now.bytes_sent - before.bytes_sent) * 8 / window_ms,
                jitter_ms=float(body.get("jitter-remote", math.nan)),
                rtt_ms=rtt if rtt > 0 else math.nan,
                loss_ratio=lost / sent if sent else math.nan,
                packets_expected=sent,
                packets_lost=lost,
                **common,
            )
        batch.sample(handle.app_id, sample)

    # -- writing -----------------------------------------------------------------------------

    def _submit(self, batch: _Batch) -> None:
        now = self._clock()
        window = Window(now, self._max_age_s, self._max_skew_s)
        for app_id in set(batch.samples) | set(batch.events):
            tables: dict[str, TableRows] = {}
            scope = IngestScope(app_id)
            samples = batch.samples.get(app_id, [])
            if samples:
                rows, _, problems = sample_rows(
                    Decoded(list(enumerate(samples)), [], len(samples)),
                    app_id=app_id,
                    scope=scope,
                    window=window,
                )
                self._note_problems(problems)
                tables["samples"] = rows
            events = batch.events.get(app_id, [])
            if events:
                rows, _, problems = event_rows(
                    Decoded(list(enumerate(events)), [], len(events)),
                    app_id=app_id,
                    scope=scope,
                    window=window,
                    source=Source.SERVER,
                )
                self._note_problems(problems)
                tables["events"] = rows
            self._queue(tables)

    def _note_problems(self, problems: list[Any]) -> None:
        for problem in problems:
            self.counts["invalid"] += 1
            log.warning("janus record refused", extra={"problem": problem.message})

    def _queue(self, tables: dict[str, TableRows]) -> None:
        tables = {name: rows for name, rows in tables.items() if len(rows)}
        if not tables:
            return
        rows = sum(len(t) for t in tables.values())
        try:
            future = self._writer.submit(tables)
        except CallscopeError as exc:  # queue full or writer stopped: Janus must not retry
            self.counts["dropped_rows"] += rows
            log.warning("janus telemetry dropped", extra={"rows": rows, "error": exc.message})
            return
        self.counts["queued_rows"] += rows

        def done(f: Any) -> None:
            if f.exception() is not None:
                self.counts["failed_rows"] += rows
                log.warning("janus telemetry not stored", extra={"rows": rows, "error": str(f.exception())})

        future.add_done_callback(done)


def _new_handle(node: str, ev: dict[str, Any]) -> _Handle:
    """A handle as its first event (`attached`, or any when we missed that) describes it."""
    return _Handle(node, int(ev.get("session_id") or 0), parse_opaque_id(ev.get("opaque_id")))
