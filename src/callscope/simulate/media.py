"""What one planned session reports: its events, and every window one sample per live stream.

Pure like `scenario`: a session's items depend only on the plan, the seed and the wall-clock
origin of the run. Each stream draws from its own seeded generator, so the values do not depend
on the order in which sessions are sent.

Streams of a joined session: audio up, video up while the camera is on, the connection (ICE
candidate pair), the device (CPU), and from every other joined participant of the meeting audio
down and video down while that publisher's camera is on. A received stream suffers from both
ends' network episodes; a publisher's CPU saturation lowers its frame rate for everyone.

Track starts, as the browser SDK reports them: `publish` for the session's audio and video
soon after its join, `subscribe` for each other participant's audio and video from the later of
the two joins, and `first_audio_frame` / `first_video_frame` with `elapsed_ms` from that moment
(video only while the publisher's camera is on). A share of starts (`failed_stream_ratio`)
fails first (`publish_failed` / `subscribe_failed`) and works on a retry, which the first-frame
time includes. Nothing is reported after the session ends.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from callscope.simulate.scenario import Episode, EpisodeKind, SessionPlan

# (ts in epoch ms, "events" or "samples", the item as the ingest API takes it)
Item = tuple[int, str, dict[str, Any]]
StreamKey = tuple[str, str, str]  # kind, direction, peer_id (the publisher's user id)

NETWORK_EPISODES = (EpisodeKind.LOSS_BURST, EpisodeKind.JITTER, EpisodeKind.RTT_SPIKE)
AUDIO_PACKETS_PER_S = 50  # 20 ms Opus frames
VIDEO_PAYLOAD_BITS = 9600  # ~1200-byte RTP packets


@dataclass
class _Path:
    """Network conditions of one stream at one instant."""

    factor: float  # baseline impairment, 1 = good
    rtt_extra_ms: float = 0.0
    jitter_extra_ms: float = 0.0
    burst_loss_ratio: float = 0.0


def session_items(
    session: SessionPlan,
    meeting: Sequence[SessionPlan],
    *,
    origin_ms: int,
    seed: int,
    window_ms: int,
    failed_ratio: float = 0.0,
) -> Iterator[Item]:
    """The session's items in time order; `meeting` is every session of its room instance."""
    publishers = [p for p in meeting if p.join_ms is not None and p.session_id != session.session_id]
    # Seeded by the plan, not the session id (which holds the run id): a config fails the same
    # track starts in every run.
    plan_key = f"{session.room_id}/{session.instance_index}/{session.user_id}/{session.attempt_ms}"
    starts = random.Random(f"{seed}/{plan_key}/starts")  # noqa: S311
    events = _events(session, _track_starts(session, publishers, starts, failed_ratio))
    rngs: dict[StreamKey, random.Random] = {}
    next_event = 0
    windows = 0 if session.join_ms is None else (session.end_ms - session.join_ms) // window_ms
    for k in range(1, windows + 1):
        t = (session.join_ms or 0) + k * window_ms
        while next_event < len(events) and events[next_event][0] <= t:
            yield _event_item(session, origin_ms, *events[next_event])
            next_event += 1
        for key, publisher in _live_streams(session, publishers, t):
            if key not in rngs:
                rngs[key] = random.Random(f"{seed}/{session.session_id}/{'/'.join(key)}")  # noqa: S311
            sample = _sample(rngs[key], session, key, publisher, t, window_ms)
            yield origin_ms + t, "samples", {**_ids(session), "ts": origin_ms + t, **sample}
    for event in events[next_event:]:
        yield _event_item(session, origin_ms, *event)


def _ids(session: SessionPlan) -> dict[str, str]:
    return {"room_id": session.room_id, "user_id": session.user_id, "session_id": session.session_id}


def _event_item(session: SessionPlan, origin_ms: int, at_ms: int, fields: dict[str, Any]) -> Item:
    return origin_ms + at_ms, "events", {**_ids(session), "ts": origin_ms + at_ms, **fields}


Timed = list[tuple[int, dict[str, Any]]]  # (offset ms, event fields)


def _started(rng: random.Random, at: int, ok: str, failed: str, ratio: float) -> tuple[Timed, int]:
    """A track start: its events, and when it worked (after a retry when the first try failed)."""
    out: Timed = []
    if rng.random() < ratio:
        at += rng.randint(500, 2000)  # how long the first try waited for media
        out.append((at, {"type": failed, "reason": "no_media"}))
        at += rng.randint(300, 1500)
    at += rng.randint(50, 300)
    out.append((at, {"type": ok}))
    return out, at


def _track_starts(
    session: SessionPlan, publishers: Sequence[SessionPlan], rng: random.Random, ratio: float
) -> Timed:
    if session.join_ms is None:
        return []
    f = session.network_factor
    out: Timed = []
    for _kind in ("audio", "video"):
        out += _started(rng, session.join_ms, "publish", "publish_failed", ratio)[0]
    for publisher in publishers:
        assert publisher.join_ms is not None
        start = max(session.join_ms, publisher.join_ms)
        peer = {"peer_id": publisher.user_id}
        for kind, frame_ms in (("audio", (50, 250)), ("video", (150, 600))):
            events, subscribed = _started(rng, start, "subscribe", "subscribe_failed", ratio)
            out += [(at, {**fields, **peer}) for at, fields in events]
            first = subscribed + round(rng.uniform(*frame_ms) * f)
            if kind == "video" and not publisher.device_on("camera", first):
                continue  # no frame to decode while the camera is off
            if publisher.present(first):
                elapsed = {"elapsed_ms": float(first - start)}
                out.append((first, {"type": f"first_{kind}_frame", **peer, **elapsed}))
    return [(at, fields) for at, fields in out if at <= session.end_ms]


def _events(session: SessionPlan, starts: Timed) -> Timed:
    """(offset, fields) in time order. event_id keeps same-instant events of a type distinct."""
    attributes = session.client.attributes()
    out: Timed = [
        (session.attempt_ms, {"type": "connection_state", "state": "connecting"}),
    ]
    if session.join_ms is None:
        # A real SDK knows its device when the attempt fails, so the attributes ride along.
        out += [
            (session.end_ms, {"type": "connection_state", "state": "failed"}),
            (session.end_ms, {"type": "join_failed", "reason": "ice_failed", **attributes}),
        ]
    else:
        out += [
            (session.join_ms, {"type": "join", **attributes}),
            (session.join_ms, {"type": "connection_state", "state": "connected"}),
        ]
        out += [(toggle.at_ms, {"type": toggle.type}) for toggle in session.toggles]
        if session.ending == "leave":
            out.append((session.end_ms, {"type": "leave", "reason": "hangup"}))
    out += starts
    out.sort(key=lambda e: e[0])
    return [(at, {**fields, "event_id": f"e{n}"}) for n, (at, fields) in enumerate(out)]


def _live_streams(
    session: SessionPlan, publishers: Sequence[SessionPlan], t: int
) -> Iterator[tuple[StreamKey, SessionPlan | None]]:
    yield ("audio", "up", ""), None
    if session.device_on("camera", t):
        yield ("video", "up", ""), None
    yield ("connection", "none", ""), None
    yield ("device", "none", ""), None
    for publisher in publishers:
        if publisher.present(t):
            yield ("audio", "down", publisher.user_id), publisher
            if publisher.device_on("camera", t):
                yield ("video", "down", publisher.user_id), publisher


def _active(session: SessionPlan, kind: EpisodeKind, t: int) -> Episode | None:
    return next((e for e in session.episodes if e.kind is kind and e.active(t)), None)


def _path(ends: Sequence[SessionPlan], t: int) -> _Path:
    path = _Path(factor=sum(s.network_factor for s in ends) / len(ends))
    delivered = 1.0
    for end in ends:
        for episode in end.episodes:
            if episode.kind not in NETWORK_EPISODES or not episode.active(t):
                continue
            if episode.kind is EpisodeKind.RTT_SPIKE:
                path.rtt_extra_ms += episode.magnitude
            elif episode.kind is EpisodeKind.JITTER:
                path.jitter_extra_ms += episode.magnitude
            else:
                delivered *= 1 - episode.magnitude
    path.burst_loss_ratio = 1 - delivered
    return path


def _sample(
    rng: random.Random,
    session: SessionPlan,
    key: StreamKey,
    publisher: SessionPlan | None,
    t: int,
    window_ms: int,
) -> dict[str, Any]:
    kind, direction, peer_id = key
    if kind == "device":
        return _device_sample(rng, session, t, window_ms)
    path = _path([session] if publisher is None else [session, publisher], t)
    f = path.factor
    rtt_ms = rng.uniform(20, 50) * f + path.rtt_extra_ms
    if kind == "connection":
        return {
            "kind": kind,
            "window_ms": window_ms,
            "bitrate_kbps": round(rng.uniform(1500, 4000) / f, 1),
            "rtt_ms": round(rtt_ms, 1),
            "relayed": f > 2,  # a congested network falls back to TURN over TCP
            "transport": "tcp" if f > 2 else "udp",
        }
    loss_ratio = min(1.0, path.burst_loss_ratio + rng.uniform(0, 0.005) * f)
    sample: dict[str, Any] = {
        "kind": kind,
        "direction": direction,
        "peer_id": peer_id,
        "window_ms": window_ms,
        "rtt_ms": round(rtt_ms, 1),
        "jitter_ms": round(rng.uniform(1, 6) * f + path.jitter_extra_ms, 2),
        "loss_ratio": round(loss_ratio, 4),
    }
    if kind == "audio":
        muted = not (publisher or session).device_on("mic", t)
        bitrate = rng.uniform(1, 3) if muted else rng.uniform(28, 40)  # muted Opus sends DTX frames
        expected = AUDIO_PACKETS_PER_S * window_ms // 1000
        sample.update(bitrate_kbps=round(bitrate, 1), packets_expected=expected)
        sample["packets_lost"] = round(expected * sample["loss_ratio"])
        if direction == "down":
            sample["concealment_ratio"] = round(min(1.0, loss_ratio * 0.9 + rng.uniform(0, 0.002)), 4)
        return sample
    return {**sample, **_video(rng, session, publisher, f, loss_ratio, t, window_ms)}


def _video(
    rng: random.Random,
    session: SessionPlan,
    publisher: SessionPlan | None,
    f: float,
    loss_ratio: float,
    t: int,
    window_ms: int,
) -> dict[str, Any]:
    sender = publisher or session
    cpu = _active(sender, EpisodeKind.CPU_SATURATION, t)
    height_px = 720 if f < 1.5 else 360
    fps = rng.uniform(24, 30) * (1 if f < 1.5 else 0.7) * (0.4 if cpu else 1)
    bitrate = rng.uniform(900, 1500) / f * (1 - loss_ratio) * (0.6 if cpu else 1)
    video: dict[str, Any] = {"width_px": height_px * 16 // 9, "height_px": height_px}
    if publisher is None:  # what the encoder says limits it
        limit = "cpu" if cpu else "bandwidth" if loss_ratio > 0.05 else "none"
        video.update(
            quality_limitation=limit,
            cpu_limited_ratio=round(rng.uniform(0.6, 0.9), 3) if cpu else 0.0,
            bandwidth_limited_ratio=round(rng.uniform(0.3, 0.8), 3) if limit == "bandwidth" else 0.0,
        )
    else:  # what the decoder saw: freezes
        freeze = _active(session, EpisodeKind.FREEZE, t)
        freeze_ms = min(window_ms, int(freeze.magnitude * rng.uniform(0.8, 1.2))) if freeze else 0
        if freeze:
            fps *= 1 - freeze_ms / window_ms
        video.update(freeze_count=rng.randint(1, 2) if freeze else 0, freeze_ms=freeze_ms)
    expected = int(bitrate * window_ms / VIDEO_PAYLOAD_BITS)
    video.update(
        bitrate_kbps=round(bitrate, 1),
        fps=round(fps, 1),
        packets_expected=expected,
        packets_lost=round(expected * loss_ratio),
    )
    return video


def _device_sample(rng: random.Random, session: SessionPlan, t: int, window_ms: int) -> dict[str, Any]:
    cpu = _active(session, EpisodeKind.CPU_SATURATION, t)
    system = min(1.0, cpu.magnitude + rng.uniform(-0.02, 0.01)) if cpu else rng.uniform(0.2, 0.5)
    app = rng.uniform(0.6, 0.8) if cpu else rng.uniform(0.1, 0.3)
    return {
        "kind": "device",
        "window_ms": window_ms,
        "app_cpu_ratio": round(app, 3),
        "system_cpu_ratio": round(max(system, app), 3),
    }
