"""A sample: one measurement window of one stream (ARCHITECTURE.md, "Vocabulary").

Units live in the field names. A metric a source did not measure is absent on the wire and NaN
in the store (never 0, which would read as "perfect" for loss and "dead" for bitrate); integer
fields use 0 for "not applicable" (an audio stream has no width).

The bounds below are physical limits, not quality judgements: they catch unit mistakes (loss as
a percentage, jitter in seconds, RTT in microseconds) before they poison averages.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated

import msgspec

from callscope.domain.ids import Id, OptionalId
from callscope.domain.timestamps import WireTimestamp

NAN = math.nan


class StreamKind(StrEnum):
    """What a stream carries. `connection` is the ICE candidate pair; `device` the endpoint's CPU."""

    AUDIO = "audio"
    VIDEO = "video"
    SCREEN = "screen"
    CONNECTION = "connection"
    DEVICE = "device"


class Direction(StrEnum):
    UP = "up"  # published by this participant
    DOWN = "down"  # received by this participant; peer_id names the publisher
    NONE = "none"  # connection- and device-level samples


class Source(StrEnum):
    """Who measured: the participant's client, or the media server (Janus) on its behalf."""

    CLIENT = "client"
    SERVER = "server"


class QualityLimitation(StrEnum):
    """W3C `qualityLimitationReason` (https://www.w3.org/TR/webrtc-stats/#rtcqualitylimitationreason-enum)."""

    NONE = "none"
    CPU = "cpu"
    BANDWIDTH = "bandwidth"
    OTHER = "other"


def _bounded(lo: float, hi: float, what: str) -> msgspec.Meta:
    return msgspec.Meta(ge=lo, le=hi, description=what)


MAX_RTT_MS = 60_000.0  # one minute: anything above is a unit mistake or a dead connection
MAX_JITTER_MS = 10_000.0
MAX_BITRATE_KBPS = 1_000_000.0  # 1 Gbit/s
MAX_FPS = 240.0
MAX_DIMENSION_PX = 16_384
MAX_WINDOW_MS = 600_000  # ten minutes

# The per-window measurements a stream's series reports (the query API's raw and bucketed
# series, and the simulator's ground-truth averages); window and counters are not among them.
SERIES_MEASUREMENTS = (
    "bitrate_kbps",
    "rtt_ms",
    "jitter_ms",
    "loss_ratio",
    "fps",
    "width_px",
    "height_px",
    "freeze_ms",
    "concealment_ratio",
    "app_cpu_ratio",
    "system_cpu_ratio",
)

BitrateKbps = Annotated[float, _bounded(0, MAX_BITRATE_KBPS, "kbit/s over the window")]
RttMs = Annotated[float, _bounded(0, MAX_RTT_MS, "round-trip time in milliseconds")]
JitterMs = Annotated[float, _bounded(0, MAX_JITTER_MS, "interarrival jitter in milliseconds")]
Ratio = Annotated[float, _bounded(0, 1, "a ratio from 0 to 1, not a percentage")]
Fps = Annotated[float, _bounded(0, MAX_FPS, "frames per second")]
Pixels = Annotated[int, _bounded(0, MAX_DIMENSION_PX, "pixels")]
Count = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
WindowMs = Annotated[int, msgspec.Meta(ge=0, le=MAX_WINDOW_MS)]


# gc=False: a sample holds only scalars, so it can never be part of a reference cycle, and
# untracked structs keep the collector from walking every in-flight sample (decode measured
# 1.86 → 1.39 µs per sample in the ingest microbenchmark).
class Sample(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, gc=False):
    """The normalized sample as ingest accepts it (`POST /v1/ingest/samples`)."""

    room_id: Id
    user_id: Id
    session_id: Id
    ts: WireTimestamp
    kind: StreamKind
    direction: Direction = Direction.NONE
    peer_id: OptionalId = ""
    stream_id: OptionalId = ""  # track id, SSRC or simulcast layer; "" when one per kind
    source: Source = Source.CLIENT
    window_ms: WindowMs = 0  # 0 = unknown
    bitrate_kbps: BitrateKbps = NAN
    rtt_ms: RttMs = NAN
    jitter_ms: JitterMs = NAN
    loss_ratio: Ratio = NAN
    packets_expected: Count = 0
    packets_lost: Count = 0
    width_px: Pixels = 0
    height_px: Pixels = 0
    fps: Fps = NAN
    freeze_count: Count = 0
    freeze_ms: Annotated[int, msgspec.Meta(ge=0, le=MAX_WINDOW_MS)] = 0
    concealment_ratio: Ratio = NAN
    app_cpu_ratio: Ratio = NAN
    system_cpu_ratio: Ratio = NAN
    quality_limitation: QualityLimitation = QualityLimitation.NONE
    cpu_limited_ratio: Ratio = NAN
    bandwidth_limited_ratio: Ratio = NAN
    relayed: bool = False
    transport: Annotated[str, msgspec.Meta(max_length=8, pattern="^(|udp|tcp|tls)$")] = ""
