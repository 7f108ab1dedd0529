"""Golden vectors of the rule set: rows in, abnormal events out (docs/abnormal.md lists them).

Rows are samples and events of a receiver `r` and a publisher `p` in one room, at `at_s` seconds
from an origin, windows of 5 s; unlisted columns take ingest's defaults (numbers NaN or 0).
`tests/analytics/test_abnormal_vectors.py` stores them on the real engine, runs the detector and
compares what it stored. Expected events are (type, factor, location, user, peer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Expected = tuple[int, int, str, str, str]
HEALTHY: dict[str, dict[str, float]] = {
    "audio": {"bitrate_kbps": 32.0, "loss_ratio": 0.002, "jitter_ms": 4.0, "rtt_ms": 40.0},
    "video": {"bitrate_kbps": 1200.0, "loss_ratio": 0.002, "jitter_ms": 4.0, "rtt_ms": 40.0, "fps": 28.0},
}
FROZEN: dict[str, dict[str, Any]] = {
    "audio": {"concealment_ratio": 0.12},
    "video": {"freeze_ms": 1500, "freeze_count": 1},
}
IDLE_CPU = {"system_cpu_ratio": 0.3, "app_cpu_ratio": 0.2}


@dataclass(frozen=True)
class Vector:
    name: str
    rows: tuple[dict[str, Any], ...]
    expected: tuple[Expected, ...]


def _row(user: str, at_s: int, kind: str, direction: str, values: dict[str, Any]) -> dict[str, Any]:
    return {"table": "samples", "user": user, "at_s": at_s, "kind": kind, "direction": direction, **values}


def scene(
    media: str,
    *,
    receiver: dict[str, Any] | None = None,
    publisher: dict[str, Any] | None = None,
    receiver_cpu: dict[str, float] | None = None,
    publisher_cpu: dict[str, float] | None = None,
    publisher_sends: bool = True,
    publisher_online: bool = True,
    frozen_at: tuple[int, ...] = (10,),
) -> tuple[dict[str, Any], ...]:
    """Windows at 5 and 10 s: `p` publishes `media` to `r`; `r`'s windows in `frozen_at` froze
    (with `receiver` overrides), `p`'s sent windows carry `publisher` overrides at 10 s."""
    rows = []
    for at in (5, 10):
        down: dict[str, Any] = dict(HEALTHY[media])
        if media == "audio":
            down["concealment_ratio"] = 0.002
        if at in frozen_at:
            down |= FROZEN[media] | (receiver or {})
        rows.append(_row("r", at, media, "down", {"peer": "p", **down}))
        rows.append(_row("r", at, "device", "none", receiver_cpu if at == 10 and receiver_cpu else IDLE_CPU))
        if publisher_online:
            cpu = publisher_cpu if at == 10 and publisher_cpu else IDLE_CPU
            rows.append(_row("p", at, "device", "none", cpu))
            if publisher_sends:
                sent = HEALTHY[media] | ((publisher or {}) if at == 10 else {})
                rows.append(_row("p", at, media, "up", sent))
    return tuple(rows)


def _event(user: str, at_s: float, type_: str, **values: Any) -> dict[str, Any]:
    return {"table": "events", "user": user, "at_s": at_s, "type": type_, **values}


def _join(
    at_s: float, *, failure: str | None = None, earlier_stay: bool = False
) -> tuple[dict[str, Any], ...]:
    rows = [_event("r", 0, "connection_state", state="connecting")]
    if earlier_stay:  # a previous stay of the same user: its own states do not start this attempt
        rows = [
            _event("r", -100, "connection_state", state="connecting", session="before"),
            _event("r", -99, "join", session="before"),
            _event("r", -99, "connection_state", state="connected", session="before"),
            _event("r", -50, "connection_state", state="disconnected", session="before"),
            _event("r", 1, "connection_state", state="connecting"),
        ]
    if failure is not None:
        rows += [_event("r", 3, "join_failed", reason=failure, session="first")]
    rows.append(_event("r", at_s, "join"))
    return tuple(rows)


R, L = "remote", "local"
VECTORS: tuple[Vector, ...] = (
    Vector(
        "audio: publisher's uplink loss → remote 11",
        scene("audio", publisher={"loss_ratio": 0.1}, receiver={"loss_ratio": 0.11}),
        ((3, 11, R, "r", "p"),),
    ),
    Vector(
        "audio: loss only downstream → local 13",
        scene("audio", receiver={"loss_ratio": 0.1}),
        ((3, 13, L, "r", "p"),),
    ),
    Vector(
        "video: loss both sides, uplink first → remote 12",
        scene("video", publisher={"loss_ratio": 0.06}, receiver={"loss_ratio": 0.2}),
        ((2, 12, R, "r", "p"),),
    ),
    Vector(
        "video: downlink share of loss → local 14",
        scene("video", publisher={"loss_ratio": 0.02}, receiver={"loss_ratio": 0.1}),
        ((2, 14, L, "r", "p"),),
    ),
    Vector(
        "audio: uplink jitter → remote 4",
        scene("audio", publisher={"jitter_ms": 60.0}, receiver={"jitter_ms": 64.0}),
        ((3, 4, R, "r", "p"),),
    ),
    Vector(
        "video: jitter added downstream → local 10",
        scene("video", receiver={"jitter_ms": 80.0}),
        ((2, 10, L, "r", "p"),),
    ),
    Vector(
        "video: uplink delay → remote 5",
        scene("video", publisher={"rtt_ms": 500.0}, receiver={"rtt_ms": 520.0}),
        ((2, 5, R, "r", "p"),),
    ),
    Vector(
        "audio: downlink delay → local 7", scene("audio", receiver={"rtt_ms": 450.0}), ((3, 7, L, "r", "p"),)
    ),
    Vector(
        "video: publisher's system CPU saturated → remote 1",
        scene(
            "video", publisher={"fps": 10.0}, publisher_cpu={"system_cpu_ratio": 0.95, "app_cpu_ratio": 0.7}
        ),
        ((2, 1, R, "r", "p"),),
    ),
    Vector(
        "video: receiver's app CPU → local 2",
        scene("video", receiver_cpu={"system_cpu_ratio": 0.85, "app_cpu_ratio": 0.82}),
        ((2, 2, L, "r", "p"),),
    ),
    Vector(
        "video: publisher gone → remote 17", scene("video", publisher_online=False), ((2, 17, R, "r", "p"),)
    ),
    Vector(
        "audio: publisher online but not sending → remote 18",
        scene("audio", publisher_sends=False),
        ((3, 18, R, "r", "p"),),
    ),
    Vector(
        "video: publisher sends no frames → remote 19",
        scene("video", publisher={"fps": 0.0}),
        ((2, 19, R, "r", "p"),),
    ),
    Vector(
        "audio: nothing arrives downstream → local 20",
        scene("audio", receiver={"bitrate_kbps": 0.0}),
        ((3, 20, L, "r", "p"),),
    ),
    Vector(
        "video: no frames downstream while sent → local 21",
        scene("video", receiver={"fps": 0.0}),
        ((2, 21, L, "r", "p"),),
    ),
    Vector("video: freeze with nothing else wrong → local 16", scene("video"), ((2, 16, L, "r", "p"),)),
    Vector(
        "video: a freeze of 500 ms is under 600 ms → none", scene("video", receiver={"freeze_ms": 500}), ()
    ),
    Vector(
        "audio: 3 % concealment is under 4 % → none", scene("audio", receiver={"concealment_ratio": 0.03}), ()
    ),
    Vector(
        "audio: unmeasured concealment falls back to loss → local 13",
        scene("audio", receiver={"concealment_ratio": float("nan"), "loss_ratio": 0.08}),
        ((3, 13, L, "r", "p"),),
    ),
    Vector(
        "video: two frozen windows in a row are one event, at the first",
        scene("video", frozen_at=(5, 10)),
        ((2, 16, L, "r", "p"),),
    ),
    Vector("join after 7 s → type 1, others", _join(7.0), ((1, 16, L, "r", ""),)),
    Vector("join after 5 s is not slow", _join(5.0), ()),
    Vector(
        "a dropped earlier stay (no leave) does not start the next attempt",
        _join(3.0, earlier_stay=True),
        (),
    ),
    Vector(
        "ICE failure then a retry → type 1, link setup failure",
        _join(12.0, failure="ice_failed"),
        ((1, 1, L, "r", ""),),
    ),
    Vector(
        "signaling timeout then a retry → type 1, 90000004",
        _join(9.0, failure="signaling_timeout"),
        ((1, 90000004, L, "r", ""),),
    ),
)
