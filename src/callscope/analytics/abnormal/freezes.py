"""Types 2 and 3: frozen windows of received streams, attributed against the same window's
publisher uplink, receiver downlink and both devices' CPU.

An event is a freeze's *onset*: a frozen window whose stream's previous window (within 1.5
windows) was not frozen. A freeze that lasts six windows is one event, at its first window.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from callscope.analytics.abnormal.rules import (
    THRESHOLDS,
    VERSION,
    Cpu,
    Side,
    Thresholds,
    Window,
    attribute,
    frozen_sql,
)
from callscope.analytics.abnormal.store import DetectedEvent
from callscope.analytics.abnormal.taxonomy import AbnormalType, Stage
from callscope.storage.base import StorageBackend

CONTINUES_WITHIN = 1.5  # windows: a frozen window this close after a frozen one continues it
MAX_SESSIONS_PER_CONTEXT = 200  # bound parameters per context read
MAX_CONTEXT_SPAN_US = 120 * 1_000_000  # candidates further apart in one room are read apart
_MEDIA_TYPE = {"video": AbnormalType.VIDEO_FREEZE, "audio": AbnormalType.AUDIO_FREEZE}
_SIDE = ("loss_ratio", "jitter_ms", "rtt_ms", "fps", "bitrate_kbps")
# Over the publisher's overlapping windows the maximum counts: the worst loss, jitter and delay,
# and the best frame rate and bitrate (a stream "without frames" had none in any of them).


@dataclass(frozen=True)
class Candidate:
    app_id: str
    room_id: str
    user_id: str
    session_id: str
    kind: str
    peer_id: str
    ts_us: int
    window_us: int
    ingested_ms: int
    media: str


def candidates_sql(th: Thresholds = THRESHOLDS) -> str:
    frozen = frozen_sql(th)
    # Thresholds are numbers from the rule set, never request input.
    return f"""SELECT app_id, room_id, user_id, session_id, kind, peer_id,
    toUnixTimestamp64Micro(ts) AS ts_us, toUInt64(window_ms) * 1000 AS window_us,
    toUnixTimestamp64Milli(ingested_at) AS ingested_ms,
    if({frozen["video"]}, 'video', 'audio') AS media
FROM samples
WHERE ingested_at > fromUnixTimestamp64Milli({{lo:Int64}}, 'UTC')
  AND ingested_at <= fromUnixTimestamp64Milli({{hi:Int64}}, 'UTC')
  AND (({frozen["video"]}) OR ({frozen["audio"]}))
ORDER BY ingested_at
LIMIT {{limit:UInt32}}"""  # noqa: S608


def read_candidates(backend: StorageBackend, lo_ms: int, hi_ms: int, limit: int) -> list[Candidate]:
    rows = backend.query(candidates_sql(), {"lo": lo_ms, "hi": hi_ms, "limit": limit})
    return [Candidate(**r) for r in rows]


def _context_sql(sessions: int, th: Thresholds) -> str:
    frozen = frozen_sql(th)
    listed = ", ".join(f"{{s{i}:String}}" for i in range(sessions))
    return f"""SELECT user_id, session_id, kind, direction, peer_id,
    toUnixTimestamp64Micro(ts) AS ts_us, toUInt64(window_ms) * 1000 AS window_us,
    loss_ratio, jitter_ms, rtt_ms, fps, bitrate_kbps, app_cpu_ratio, system_cpu_ratio,
    freeze_ms, concealment_ratio, ({frozen["video"]}) OR ({frozen["audio"]}) AS frozen
FROM samples
WHERE app_id = {{app:String}} AND room_id = {{room:String}}
  AND ts >= fromUnixTimestamp64Micro({{lo:Int64}}, 'UTC')
  AND ts <= fromUnixTimestamp64Micro({{hi:Int64}}, 'UTC')
  AND kind != 'connection'
  AND (direction != 'down' OR session_id IN ({listed}))"""  # noqa: S608


def _finite(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def read_context(
    backend: StorageBackend, group: Sequence[Candidate], th: Thresholds = THRESHOLDS
) -> list[dict[str, Any]]:
    """Every non-connection sample of the room around the candidates: the publishers' sent
    streams, both sides' devices and the receivers' own received streams (for onsets)."""
    sessions = sorted({c.session_id for c in group})
    longest = max(c.window_us for c in group)
    params: dict[str, Any] = {
        "app": group[0].app_id,
        "room": group[0].room_id,
        "lo": min(c.ts_us for c in group) - 3 * longest,
        "hi": max(c.ts_us for c in group) + 2 * longest,
    }
    params |= {f"s{i}": s for i, s in enumerate(sessions)}
    rows = backend.query(_context_sql(len(sessions), th), params)
    for row in rows:
        for name in (*_SIDE, "app_cpu_ratio", "system_cpu_ratio", "concealment_ratio"):
            row[name] = _finite(row[name])
    return rows


def groups(candidates: Iterable[Candidate]) -> list[list[Candidate]]:
    """Candidates of one room, close in time and few enough sessions to read together."""
    by_room: dict[tuple[str, str], list[Candidate]] = {}
    for c in candidates:
        by_room.setdefault((c.app_id, c.room_id), []).append(c)
    out: list[list[Candidate]] = []
    for members in by_room.values():
        members.sort(key=lambda c: c.ts_us)
        current: list[Candidate] = []
        for c in members:
            sessions = {m.session_id for m in current} | {c.session_id}
            if current and (
                c.ts_us - current[0].ts_us > MAX_CONTEXT_SPAN_US or len(sessions) > MAX_SESSIONS_PER_CONTEXT
            ):
                out.append(current)
                current = []
            current.append(c)
        out.append(current)
    return out


def _overlaps(row: dict[str, Any], c: Candidate) -> bool:
    start_us: int = row["ts_us"] - max(row["window_us"], 1)
    return start_us < c.ts_us and c.ts_us - max(c.window_us, 1) < row["ts_us"]


def _side(rows: list[dict[str, Any]]) -> Side:
    values: dict[str, float | None] = {}
    for name in _SIDE:
        measured = [r[name] for r in rows if r[name] is not None]
        values[name] = max(measured) if measured else None
    return Side(**values)


def _cpu(rows: list[dict[str, Any]]) -> Cpu:
    system = [r["system_cpu_ratio"] for r in rows if r["system_cpu_ratio"] is not None]
    app = [r["app_cpu_ratio"] for r in rows if r["app_cpu_ratio"] is not None]
    return Cpu(max(system) if system else None, max(app) if app else None)


def _is_onset(c: Candidate, rows: list[dict[str, Any]]) -> bool:
    earlier = [
        r
        for r in rows
        if r["session_id"] == c.session_id
        and r["kind"] == c.kind
        and r["direction"] == "down"
        and r["peer_id"] == c.peer_id
        and r["ts_us"] < c.ts_us
    ]
    if not earlier:
        return True
    previous = max(earlier, key=lambda r: r["ts_us"])
    return not (previous["frozen"] and c.ts_us - previous["ts_us"] <= CONTINUES_WITHIN * c.window_us)


def evaluate(
    group: Sequence[Candidate],
    rows: list[dict[str, Any]],
    *,
    now_ms: int,
    peer_grace_ms: int,
    th: Thresholds = THRESHOLDS,
) -> tuple[list[DetectedEvent], list[Candidate]]:
    """Events for the onsets among `group`, and the candidates deferred because the publisher's
    reports for the window may still be on their way."""
    events, deferred = [], []
    for c in group:
        if not _is_onset(c, rows):
            continue
        own = next(
            r
            for r in rows
            if r["session_id"] == c.session_id
            and r["ts_us"] == c.ts_us
            and r["kind"] == c.kind
            and r["direction"] == "down"
            and r["peer_id"] == c.peer_id
        )
        publisher_rows = [r for r in rows if c.peer_id and r["user_id"] == c.peer_id]
        covered = any(r["ts_us"] >= c.ts_us for r in publisher_rows)
        if c.peer_id and not covered and now_ms - c.ingested_ms < peer_grace_ms:
            deferred.append(c)
            continue
        window = _window(c, own, publisher_rows, rows)
        rule, factor = attribute(window, th)
        events.append(
            DetectedEvent(
                app_id=c.app_id,
                room_id=c.room_id,
                user_id=c.user_id,
                session_id=c.session_id,
                ts_us=c.ts_us,
                type=int(_MEDIA_TYPE[c.media]),
                factor=factor,
                stage=Stage.COMMUNICATION.value,
                location=rule.location.value,
                peer_id=c.peer_id,
                definition_version=VERSION,
                evidence=_evidence(c, own, rule.name, window, th),
            )
        )
    return events, deferred


def _window(
    c: Candidate, own: dict[str, Any], publisher_rows: list[dict[str, Any]], rows: list[dict[str, Any]]
) -> Window:
    receiver = Side(**{name: own[name] for name in _SIDE})
    receiver_device = [
        r for r in rows if r["session_id"] == c.session_id and r["kind"] == "device" and _overlaps(r, c)
    ]
    if not c.peer_id:  # a stream of unknown origin: nothing to compare upstream
        return Window(c.media, receiver, True, Side(), _cpu(receiver_device), Cpu())
    around = [r for r in publisher_rows if _overlaps(r, c)]
    sent = [r for r in around if r["direction"] == "up" and r["kind"] == c.kind]
    device = [r for r in around if r["kind"] == "device"]
    return Window(
        media=c.media,
        receiver=receiver,
        publisher_online=bool(around),
        publisher=_side(sent) if sent else None,
        receiver_cpu=_cpu(receiver_device),
        publisher_cpu=_cpu(device),
    )


def _evidence(c: Candidate, own: dict[str, Any], rule: str, w: Window, th: Thresholds) -> dict[str, Any]:
    return {
        "rule": rule,
        "stream": {"kind": c.kind, "direction": "down", "peer_id": c.peer_id},
        "window_ms": c.window_us // 1000,
        "frozen": {"freeze_ms": own["freeze_ms"], "concealment_ratio": own["concealment_ratio"]},
        "receiver_downlink": w.receiver.__dict__,
        "downlink_share": w.downlink().__dict__,
        "publisher_online": w.publisher_online,
        "publisher_uplink": None if w.publisher is None else w.publisher.__dict__,
        "receiver_cpu": w.receiver_cpu.__dict__,
        "publisher_cpu": w.publisher_cpu.__dict__,
        "thresholds": th.as_dict(),
    }
