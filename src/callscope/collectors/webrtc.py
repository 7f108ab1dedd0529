"""W3C `getStats()` reports → per-stream samples (https://www.w3.org/TR/webrtc-stats/).

Counters in stats are cumulative, so a sample is the difference between two reports of the
same peer connection: the first report of a connection only sets the baseline. Real stats are
messy, and each mess has a rule here:
- a counter that goes down, or a stream whose SSRC changed (renegotiation), restarts that
  stream's baseline: no sample for that window rather than a negative or huge one;
- a report older than or as old as the last one (retry, reordering) is a duplicate;
- a gap longer than MAX_WINDOW_S (a tab in the background, a laptop lid) restarts every
  baseline: one long window would average a freeze away;
- missing or non-numeric fields leave that metric unmeasured (NaN), never 0;
- values outside physical bounds are treated as unmeasured too.
Baselines live in memory, per (app, session, peer connection), and are advanced only after the
samples are committed; after a restart the next report of each connection is a baseline again.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from callscope.domain.samples import (
    MAX_BITRATE_KBPS,
    MAX_FPS,
    MAX_JITTER_MS,
    MAX_RTT_MS,
    Direction,
    QualityLimitation,
    Sample,
    Source,
    StreamKind,
)
from callscope.domain.webrtc import RtcStats, WebRtcReport

MAX_WINDOW_S = 60.0
NAN = math.nan
# The counters whose going down means a stream restarted, per direction.
_SENT = ("bytesSent", "packetsSent")
_RECEIVED = ("bytesReceived", "packetsReceived")
# A baseline keeps only the stats types with counters, which is all the next window subtracts
# from. RtcStats already holds only the members the normalizer reads, so nothing is copied: a
# copy of just the counters per stat cost about what decoding into RtcStats saved. Measured on
# the bench's SFU-shaped reports: 7.0 KB per connection (3.9 KB with the former copies), 0.7 GB
# at the default cap of 100k connections; a node at ~3.3k reports/s with reports every 5 s
# holds ~16k connections (~115 MB).
_COUNTED = frozenset({"inbound-rtp", "outbound-rtp", "remote-inbound-rtp", "candidate-pair"})
_NO_STATS = RtcStats()


def _pruned(stats: dict[str, RtcStats]) -> dict[str, RtcStats]:
    return {i: s for i, s in stats.items() if s.type in _COUNTED}


def _num(value: Any) -> float | None:
    # Exact type checks (JSON gives exactly float or int; bool is not a number here): this runs
    # ~140 times per report, the normalizer's hottest line.
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is int:
        return float(value)
    return None


def _delta(now: RtcStats, before: RtcStats | None, member: str) -> float | None:
    return None if before is None else _difference(getattr(now, member), getattr(before, member))


def _ref(value: Any) -> str:
    """An id that points at another stats object ("" when absent or not a string)."""
    return value if type(value) is str else ""


def _difference(now: Any, then: Any) -> float | None:
    a, b = _num(now), _num(then)
    return None if a is None or b is None else a - b


def _bounded(value: float | None, hi: float) -> float:
    return value if value is not None and 0 <= value <= hi else NAN


def _ratio(part: float | None, whole: float | None) -> float:
    if part is None or whole is None or whole <= 0:
        return NAN
    return min(1.0, max(0.0, part / whole))


@dataclass
class Baseline:
    """The previous report of one peer connection: its time and its stats by id."""

    ts_ms: float
    stats: dict[str, RtcStats] = field(default_factory=dict)


@dataclass
class Normalized:
    samples: list[Sample]
    baseline_key: tuple[str, str, str]
    baseline: Baseline


class Outdated(Exception):
    """The report is not newer than the last one seen for its connection."""


class WebRtcNormalizer:
    def __init__(self, max_connections: int = 100_000, *, prune_baselines: bool = True) -> None:
        self._baselines: OrderedDict[tuple[str, str, str], Baseline] = OrderedDict()
        self._max_connections = max_connections
        self._prune = _pruned if prune_baselines else dict

    def normalize(
        self,
        app_id: str,
        report: WebRtcReport,
        ts_ms: float,
        pending: dict[tuple[str, str, str], Baseline] | None = None,
    ) -> Normalized:
        """Samples for the window since the previous report; raises Outdated for old reports.

        `pending` holds the not yet committed baselines of the batch being normalized, so that
        several reports of one connection in one batch form consecutive windows.
        """
        key = (app_id, report.session_id, report.pc_id)
        previous = (pending or {}).get(key) or self._baselines.get(key)
        stats = {s.id: s for s in report.stats if type(s.id) is str and s.type is not None}
        current = Baseline(ts_ms, self._prune(stats))
        if previous is not None and ts_ms <= previous.ts_ms:
            raise Outdated(f"report at {ts_ms} ms is not newer than the last one ({previous.ts_ms} ms)")
        if pending is not None:
            pending[key] = current
        if previous is None or (ts_ms - previous.ts_ms) / 1000 > MAX_WINDOW_S:
            return Normalized([], key, current)
        window = _Window(report, stats, previous, ts_ms)
        return Normalized(window.samples(), key, current)

    def commit(self, normalized: Normalized) -> None:
        """Advance the baseline once the window's samples are stored."""
        self._baselines[normalized.baseline_key] = normalized.baseline
        self._baselines.move_to_end(normalized.baseline_key)
        while len(self._baselines) > self._max_connections:
            self._baselines.popitem(last=False)


class _Window:
    """One report against the previous one of the same connection."""

    def __init__(self, report: WebRtcReport, stats: dict[str, RtcStats], previous: Baseline, ts_ms: float):
        self.report = report
        self.stats = stats
        self.previous = previous.stats
        self.window_ms = ts_ms - previous.ts_ms
        self.ts_ms = ts_ms
        self.screen_tracks = set(report.screen_track_ids)

    def samples(self) -> list[Sample]:
        out: list[Sample] = []
        for stat in self.stats.values():
            kind = stat.type
            if kind == "outbound-rtp":
                sample = self._outbound(stat)
            elif kind == "inbound-rtp":
                sample = self._inbound(stat)
            else:
                continue
            if sample is not None:
                out.append(sample)
        connection = self._connection()
        if connection is not None:
            out.append(connection)
        return out

    def _before(self, stat: RtcStats, counters: tuple[str, str]) -> RtcStats | None:
        """The same stream's previous stats, or None when its counters restarted."""
        before = self.previous.get(stat.id)
        if before is None or before.ssrc != stat.ssrc:
            return None
        for counter in counters:
            change = _delta(stat, before, counter)
            if change is not None and change < 0:
                return None
        return before

    def _kind(self, stat: RtcStats) -> StreamKind | None:
        media = stat.kind or stat.mediaType
        if media == "audio":
            return StreamKind.AUDIO
        if media != "video":
            return None
        source = self.stats.get(_ref(stat.mediaSourceId), _NO_STATS)
        track = _ref(stat.trackIdentifier) or _ref(source.trackIdentifier)
        if stat.contentType == "screenshare" or (track and track in self.screen_tracks):
            return StreamKind.SCREEN
        return StreamKind.VIDEO

    def _base(self, stat: RtcStats, kind: StreamKind, direction: Direction, peer_id: str) -> dict[str, Any]:
        r = self.report
        return {
            "room_id": r.room_id,
            "user_id": r.user_id,
            "session_id": r.session_id,
            "ts": self.ts_ms,
            "kind": kind,
            "direction": direction,
            "peer_id": peer_id,
            "source": Source.CLIENT,
            "stream_id": str(stat.mid or stat.ssrc or stat.id)
            + (f":{stat.rid}" if type(stat.rid) is str else ""),
            "window_ms": round(self.window_ms),
        }

    def _bitrate(self, delta_bytes: float | None) -> float:
        return _bounded(None if delta_bytes is None else delta_bytes * 8 / self.window_ms, MAX_BITRATE_KBPS)

    def _fps(self, stat: RtcStats, before: RtcStats, frames_member: str) -> float:
        frames = _delta(stat, before, frames_member)
        measured = frames * 1000 / self.window_ms if frames is not None else _num(stat.framesPerSecond)
        return _bounded(measured, MAX_FPS)

    def _outbound(self, stat: RtcStats) -> Sample | None:
        kind, before = self._kind(stat), self._before(stat, _SENT)
        if kind is None or before is None:
            return None
        fields = self._base(stat, kind, Direction.UP, "")
        fields["bitrate_kbps"] = self._bitrate(_delta(stat, before, "bytesSent"))
        remote = self.stats.get(_ref(stat.remoteId), _NO_STATS)
        remote_before = self.previous.get(_ref(stat.remoteId))
        rtt_s, jitter_s = _num(remote.roundTripTime), _num(remote.jitter)
        fields["rtt_ms"] = _bounded(None if rtt_s is None else rtt_s * 1000, MAX_RTT_MS)
        fields["jitter_ms"] = _bounded(None if jitter_s is None else jitter_s * 1000, MAX_JITTER_MS)
        sent, lost = _delta(stat, before, "packetsSent"), _delta(remote, remote_before, "packetsLost")
        if sent is not None and lost is not None and sent > 0:
            fields["packets_expected"], fields["packets_lost"] = int(sent), max(0, min(int(lost), int(sent)))
            fields["loss_ratio"] = _ratio(max(lost, 0), sent)
        else:
            fraction = _num(remote.fractionLost)
            fields["loss_ratio"] = fraction if fraction is not None and 0 <= fraction <= 1 else NAN
        if kind is not StreamKind.AUDIO:
            fields["width_px"] = int(_num(stat.frameWidth) or 0)
            fields["height_px"] = int(_num(stat.frameHeight) or 0)
            fields["fps"] = self._fps(stat, before, "framesEncoded")
            fields.update(self._limitation(stat, before))
        return Sample(**fields)

    def _limitation(self, stat: RtcStats, before: RtcStats) -> dict[str, Any]:
        reason = _ref(stat.qualityLimitationReason)
        shares: dict[str, Any] = {
            "quality_limitation": reason if reason in QualityLimitation._value2member_map_ else "none"
        }
        now, then = stat.qualityLimitationDurations, before.qualityLimitationDurations
        if isinstance(now, dict) and isinstance(then, dict):
            deltas = {k: _difference(now.get(k), then.get(k)) for k in ("none", "cpu", "bandwidth", "other")}
            total = sum(d for d in deltas.values() if d is not None and d > 0)
            shares["cpu_limited_ratio"] = _ratio(deltas["cpu"], total)
            shares["bandwidth_limited_ratio"] = _ratio(deltas["bandwidth"], total)
        return shares

    def _inbound(self, stat: RtcStats) -> Sample | None:
        kind, before = self._kind(stat), self._before(stat, _RECEIVED)
        if kind is None or before is None:
            return None
        fields = self._base(stat, kind, Direction.DOWN, self.report.peer_id)
        fields["bitrate_kbps"] = self._bitrate(_delta(stat, before, "bytesReceived"))
        jitter_s = _num(stat.jitter)
        fields["jitter_ms"] = _bounded(None if jitter_s is None else jitter_s * 1000, MAX_JITTER_MS)
        received, lost = _delta(stat, before, "packetsReceived"), _delta(stat, before, "packetsLost")
        if received is not None and lost is not None:
            lost = max(lost, 0)  # duplicated packets make packetsLost go down
            # packetsReceived includes retransmissions (RTX), packetsLost counts only originals
            # lost on the wire: Chromium's bandwidth probes resend old packets over RTX, which
            # would otherwise dilute the loss (measured: 3.9 % shown for 5.4 % dropped).
            resent = _delta(stat, before, "retransmittedPacketsReceived")
            if resent is not None and 0 <= resent <= received:
                received -= resent
            fields["packets_expected"], fields["packets_lost"] = int(received + lost), int(lost)
            fields["loss_ratio"] = _ratio(lost, received + lost)
        rtt_s = _num(self.stats.get(_ref(stat.remoteId), _NO_STATS).roundTripTime)
        fields["rtt_ms"] = _bounded(None if rtt_s is None else rtt_s * 1000, MAX_RTT_MS)
        if kind is StreamKind.AUDIO:
            concealed = _delta(stat, before, "concealedSamples")
            silent = _delta(stat, before, "silentConcealedSamples") or 0.0
            total = _delta(stat, before, "totalSamplesReceived")
            fields["concealment_ratio"] = _ratio(None if concealed is None else concealed - silent, total)
        else:
            fields["width_px"] = int(_num(stat.frameWidth) or 0)
            fields["height_px"] = int(_num(stat.frameHeight) or 0)
            fields["fps"] = self._fps(stat, before, "framesDecoded")
            # Freeze counters exclude pauses (https://www.w3.org/TR/webrtc-stats/#dom-rtcinboundrtpstreamstats-freezecount).
            freezes = _delta(stat, before, "freezeCount")
            frozen_s = _delta(stat, before, "totalFreezesDuration")
            fields["freeze_count"] = max(0, int(freezes or 0))
            fields["freeze_ms"] = min(fields["window_ms"], max(0, round((frozen_s or 0) * 1000)))
        return Sample(**fields)

    def _connection(self) -> Sample | None:
        pair = self._selected_pair()
        if pair is None:
            return None
        local = self.stats.get(_ref(pair.localCandidateId), _NO_STATS)
        before = self.previous.get(pair.id)
        fields = self._base(pair, StreamKind.CONNECTION, Direction.NONE, "")
        fields["stream_id"] = ""
        rtt_s = _num(pair.currentRoundTripTime)
        fields["rtt_ms"] = _bounded(None if rtt_s is None else rtt_s * 1000, MAX_RTT_MS)
        sent, received = _delta(pair, before, "bytesSent"), _delta(pair, before, "bytesReceived")
        fields["bitrate_kbps"] = self._bitrate(None if sent is None or received is None else sent + received)
        fields["relayed"] = local.candidateType == "relay"
        protocol = local.relayProtocol if fields["relayed"] else local.protocol
        fields["transport"] = protocol if protocol in ("udp", "tcp", "tls") else ""
        return Sample(**fields)

    def _selected_pair(self) -> RtcStats | None:
        for stat in self.stats.values():
            if stat.type == "transport" and _ref(stat.selectedCandidatePairId) in self.stats:
                return self.stats[stat.selectedCandidatePairId]
        for stat in self.stats.values():
            if stat.type == "candidate-pair" and stat.nominated and stat.state == "succeeded":
                return stat
        return None
