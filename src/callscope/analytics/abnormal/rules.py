"""The detection and attribution rules, as versioned data (docs/abnormal.md is rendered from here).

Detection: a received stream's window is *frozen* by a SQL predicate on its own sample (video:
freeze time; audio: concealment, or loss where concealment is not measured). A slow join is a
`join` more than `slow_join_ms` after the first connection attempt of that user in the room.

Attribution of a frozen window walks FACTOR_RULES in order and takes the first that holds,
comparing, over the same window, the publisher's uplink (its sent stream of the same kind), the
receiver's downlink (the frozen stream), and both devices' CPU. Received-stream loss, jitter and
delay are end-to-end (publisher → SFU → receiver): the downlink's own share is what exceeds the
publisher's uplink. A change of any threshold or rule is a new VERSION; every stored event names
the version that produced it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from callscope.analytics.abnormal.taxonomy import OTHERS, Location

VERSION = "abnormal@v1"


@dataclass(frozen=True)
class Thresholds:
    slow_join_ms: int = 5000  # SparkRTC type 1: "longer than 5s"
    join_lookback_s: int = 120  # how far back a join's first attempt is looked for
    video_freeze_ms: int = 600  # SparkRTC vblock: a freeze counts from 600 ms
    audio_concealment_ratio: float = 0.04  # Agora: audio freeze at 4 % frame loss per interval
    loss_ratio: float = 0.03  # Twilio high-packet-loss: average > 3 %
    jitter_ms: float = 30.0  # Twilio high-jitter: > 30 ms
    rtt_ms: float = 300.0  # ObserveRTC: > 300 ms is a major penalty
    system_cpu_ratio: float = 0.9  # catalog system_cpu_ratio "poor" (saturated from 90 %)
    app_cpu_ratio: float = 0.8  # catalog app_cpu_ratio "poor"

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


THRESHOLDS = Thresholds()
SOURCES = {
    "slow_join_ms": "SparkRTC abnormal type 1 (spec §10.13)",
    "join_lookback_s": "ours: covers a failed attempt (ICE timeout ≤ 30 s) and its retry",
    "video_freeze_ms": "SparkRTC `vblock`: a freeze counts at ≥ 600 ms (spec §10.10)",
    "audio_concealment_ratio": "Agora: audio freeze when frame loss reaches 4 % in an interval",
    "loss_ratio": "Twilio Voice SDK high-packet-loss warning (> 3 %)",
    "jitter_ms": "Twilio Voice SDK high-jitter warning (> 30 ms)",
    "rtt_ms": "ObserveRTC score penalties (> 300 ms major)",
    "system_cpu_ratio": "metric catalog `system_cpu_ratio` poor band",
    "app_cpu_ratio": "metric catalog `app_cpu_ratio` poor band",
}


def frozen_sql(th: Thresholds = THRESHOLDS) -> dict[str, str]:
    """Per-row predicates over `samples` marking a received window as frozen, by media."""
    return {
        "video": (
            f"direction = 'down' AND kind IN ('video', 'screen') AND freeze_ms >= {int(th.video_freeze_ms)}"
        ),
        "audio": (
            "direction = 'down' AND kind = 'audio' AND if(isFinite(concealment_ratio), "
            f"concealment_ratio >= {float(th.audio_concealment_ratio)}, "
            f"isFinite(loss_ratio) AND loss_ratio >= {float(th.audio_concealment_ratio)})"
        ),
    }


@dataclass(frozen=True)
class Side:
    """One side's measurements over the window (worst of the overlapping samples); None where
    nothing measured it."""

    loss_ratio: float | None = None
    jitter_ms: float | None = None
    rtt_ms: float | None = None
    fps: float | None = None
    bitrate_kbps: float | None = None


@dataclass(frozen=True)
class Cpu:
    system_cpu_ratio: float | None = None
    app_cpu_ratio: float | None = None


@dataclass(frozen=True)
class Window:
    """What attribution sees for one frozen window of one received stream."""

    media: str  # "audio" or "video"
    receiver: Side  # the frozen stream, as the receiver measured it (end to end)
    publisher_online: bool  # the publisher reported anything overlapping the window
    publisher: Side | None  # the publisher's sent stream of that kind; None: it sent none
    receiver_cpu: Cpu
    publisher_cpu: Cpu

    def downlink(self) -> Side:
        """The downlink's own share: end-to-end minus what the uplink already had."""
        up, down = self.publisher or Side(), self.receiver
        loss = down.loss_ratio
        if loss is not None and up.loss_ratio is not None and up.loss_ratio < 1:
            loss = max(0.0, 1 - (1 - loss) / (1 - up.loss_ratio))
        return Side(
            loss_ratio=loss,
            jitter_ms=_excess(down.jitter_ms, up.jitter_ms),
            rtt_ms=_excess(down.rtt_ms, up.rtt_ms),
            fps=down.fps,
            bitrate_kbps=down.bitrate_kbps,
        )


def _excess(total: float | None, upstream: float | None) -> float | None:
    if total is None or upstream is None:
        return total
    return max(0.0, total - upstream)


def _ge(value: float | None, threshold: float) -> bool:
    return value is not None and value >= threshold


Test = Callable[[Window, Thresholds], bool]


@dataclass(frozen=True)
class FactorRule:
    name: str
    location: Location
    audio_factor: int | None  # None: the rule does not apply to that media
    video_factor: int | None
    condition: str  # the test in words (rendered into docs/abnormal.md)
    test: Test

    def factor(self, media: str) -> int | None:
        return self.audio_factor if media == "audio" else self.video_factor


def _up(w: Window) -> Side:
    return w.publisher or Side()


L, R = Location.LOCAL, Location.REMOTE
FACTOR_RULES: tuple[FactorRule, ...] = (
    FactorRule(
        "peer_offline",
        R,
        17,
        17,
        "the publisher sent no report overlapping the window",
        lambda w, th: not w.publisher_online,
    ),
    FactorRule(
        "peer_no_stream",
        R,
        18,
        18,
        "the publisher is online but sent no stream of this kind (or at 0 kbit/s)",
        lambda w, th: w.publisher is None or w.publisher.bitrate_kbps == 0,
    ),
    FactorRule(
        "peer_no_frame_rate",
        R,
        None,
        19,
        "the publisher's sent video has fps = 0",
        lambda w, th: _up(w).fps == 0,
    ),
    FactorRule(
        "uplink_loss",
        R,
        11,
        12,
        "publisher uplink loss_ratio ≥ loss_ratio",
        lambda w, th: _ge(_up(w).loss_ratio, th.loss_ratio),
    ),
    FactorRule(
        "downlink_loss",
        L,
        13,
        14,
        "downlink share of loss (1 − (1 − received loss) / (1 − uplink loss)) ≥ loss_ratio",
        lambda w, th: _ge(w.downlink().loss_ratio, th.loss_ratio),
    ),
    FactorRule(
        "uplink_jitter",
        R,
        4,
        6,
        "publisher uplink jitter_ms ≥ jitter_ms",
        lambda w, th: _ge(_up(w).jitter_ms, th.jitter_ms),
    ),
    FactorRule(
        "downlink_jitter",
        L,
        8,
        10,
        "received jitter − uplink jitter ≥ jitter_ms",
        lambda w, th: _ge(w.downlink().jitter_ms, th.jitter_ms),
    ),
    FactorRule(
        "uplink_delay",
        R,
        3,
        5,
        "publisher uplink rtt_ms ≥ rtt_ms",
        lambda w, th: _ge(_up(w).rtt_ms, th.rtt_ms),
    ),
    FactorRule(
        "downlink_delay",
        L,
        7,
        9,
        "received rtt − uplink rtt ≥ rtt_ms",
        lambda w, th: _ge(w.downlink().rtt_ms, th.rtt_ms),
    ),
    FactorRule(
        "publisher_system_cpu",
        R,
        1,
        1,
        "publisher system_cpu_ratio ≥ system_cpu_ratio",
        lambda w, th: _ge(w.publisher_cpu.system_cpu_ratio, th.system_cpu_ratio),
    ),
    FactorRule(
        "publisher_app_cpu",
        R,
        2,
        2,
        "publisher app_cpu_ratio ≥ app_cpu_ratio",
        lambda w, th: _ge(w.publisher_cpu.app_cpu_ratio, th.app_cpu_ratio),
    ),
    FactorRule(
        "receiver_system_cpu",
        L,
        1,
        1,
        "receiver system_cpu_ratio ≥ system_cpu_ratio",
        lambda w, th: _ge(w.receiver_cpu.system_cpu_ratio, th.system_cpu_ratio),
    ),
    FactorRule(
        "receiver_app_cpu",
        L,
        2,
        2,
        "receiver app_cpu_ratio ≥ app_cpu_ratio",
        lambda w, th: _ge(w.receiver_cpu.app_cpu_ratio, th.app_cpu_ratio),
    ),
    FactorRule(
        "no_downlink_stream",
        L,
        20,
        20,
        "the received stream's bitrate is 0 kbit/s",
        lambda w, th: w.receiver.bitrate_kbps == 0,
    ),
    FactorRule(
        "no_downlink_frame_rate",
        L,
        None,
        21,
        "the received video has fps = 0",
        lambda w, th: w.receiver.fps == 0,
    ),
    FactorRule("others", L, OTHERS, OTHERS, "none of the above", lambda w, th: True),
)


def attribute(window: Window, th: Thresholds = THRESHOLDS) -> tuple[FactorRule, int]:
    """The first rule that holds for this window, and its factor code for the window's media."""
    for rule in FACTOR_RULES:
        factor = rule.factor(window.media)
        if factor is not None and rule.test(window, th):
            return rule, factor
    raise AssertionError("the last rule always holds")  # pragma: no cover


# `join_failed` reasons (the SDK's words) → SparkRTC type-1 factors. A numeric reason that is a
# SparkRTC code passes through; any other reason, or no failed attempt at all, is "Others" (16).
JOIN_FAILURE_FACTORS: dict[str, int] = {
    "ice_failed": 1,
    "connection_failed": 1,
    "dtls_failed": 1,
    "room_busy": 2,
    "server_error": 3,
    "http_503": 4,
    "auth_failed": 5,
    "auth_retry": 6,
    "clock_sync_failed": 7,
    "bad_url": 8,
    "internal_error": 9,
    "sdp_failed": 15,
    "signaling_timeout": 90000004,
    "no_msp_config": 90100009,
    "websocket_failed": 90100008,
}
