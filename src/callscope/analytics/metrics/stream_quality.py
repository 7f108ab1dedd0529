"""Per-stream quality metrics over `samples` (one row per stream per measurement window).

Means are over windows (each window counts once; the SDK and Janus use equal windows) and skip
windows where the value was not measured. Which streams a number covers (audio or video, up or
down, one participant or a whole app) is the query's filter, not a separate metric: "video
uplink loss" is `loss_ratio` with kind=video, direction=up.
"""

from __future__ import annotations

from callscope.analytics.metrics.catalog import NAN, Aggregation, Better, Metric, Thresholds, Vector

_SOURCE = "samples"
_RECEIVED_VIDEO = "direction = 'down' AND kind IN ('video', 'screen')"
_RECEIVED_AUDIO = "direction = 'down' AND kind = 'audio'"


def _mean(name: str, column: str, unit: str, description: str, better: Better, **extra: object) -> Metric:
    return Metric(
        name=name,
        unit=unit,
        description=description,
        better=better,
        version=1,
        source=_SOURCE,
        fields=(column,),
        aggregation=Aggregation.RATIO,
        value=column,
        **extra,  # type: ignore[arg-type]
    )


def _extreme(base: Metric, aggregation: Aggregation, vectors: tuple[Vector, ...]) -> Metric:
    word = "Largest" if aggregation is Aggregation.MAX else "Smallest"
    return Metric(
        name=f"{base.name}_{aggregation.value}",
        unit=base.unit,
        description=f"{word} measured per-window value of `{base.name}`.",
        better=base.better,
        version=1,
        source=_SOURCE,
        fields=base.fields,
        aggregation=aggregation,
        value=base.value,
        where=base.where,
        thresholds=base.thresholds,
        vectors=vectors,
    )


BITRATE = _mean(
    "bitrate_kbps",
    "bitrate_kbps",
    "kbit/s",
    "Mean bitrate of the selected streams per window (payload and headers, from byte counters).",
    Better.HIGHER,
    vectors=(
        Vector("mean of windows", ({"bitrate_kbps": 100.0}, {"bitrate_kbps": 300.0}), 200.0),
        Vector("unmeasured window skipped", ({"bitrate_kbps": 100.0}, {"bitrate_kbps": NAN}), 100.0),
        Vector("nothing measured", ({"bitrate_kbps": NAN},), None),
    ),
)
RTT = _mean(
    "rtt_ms",
    "rtt_ms",
    "ms",
    "Mean round-trip time per window (RTCP for media streams, STUN for the connection).",
    Better.LOWER,
    thresholds=Thresholds(150, 300, "ObserveRTC score penalties: 150–300 ms minor, > 300 ms major"),
    vectors=(Vector("mean", ({"rtt_ms": 40.0}, {"rtt_ms": 60.0}, {"rtt_ms": NAN}), 50.0),),
)
JITTER = _mean(
    "jitter_ms",
    "jitter_ms",
    "ms",
    "Mean interarrival jitter per window (RFC 3550, as the receiver or its RTCP reports it).",
    Better.LOWER,
    thresholds=Thresholds(30, 50, "Twilio high-jitter warning at 30 ms; poor from 50 ms (ours)"),
    vectors=(Vector("mean", ({"jitter_ms": 2.0}, {"jitter_ms": 4.0}), 3.0),),
)
LOSS = _mean(
    "loss_ratio",
    "loss_ratio",
    "ratio 0..1",
    "Mean per-window packet loss: lost / expected packets in the window (a fraction, not percent).",
    Better.LOWER,
    thresholds=Thresholds(0.02, 0.05, "TRTC console: < 2 % good, > 5 % poor"),
    vectors=(
        Vector("fraction, not percent", ({"loss_ratio": 0.05}, {"loss_ratio": 0.01}), 0.03),
        Vector("unmeasured is not zero", ({"loss_ratio": 0.04}, {"loss_ratio": NAN}), 0.04),
    ),
)
FPS = _mean(
    "fps",
    "fps",
    "frames/s",
    "Mean frame rate per window (frames encoded when sending, decoded when receiving).",
    Better.HIGHER,
    thresholds=Thresholds(24, 10, "ours: smooth motion from 24 fps, visibly choppy under 10"),
    vectors=(Vector("mean", ({"fps": 30.0}, {"fps": 15.0}), 22.5),),
)
WIDTH = _mean(
    "width_px",
    "width_px",
    "px",
    "Mean frame width per window; windows with no width (audio, unknown) are skipped.",
    Better.HIGHER,
    where="width_px > 0",
    vectors=(Vector("zero is unknown", ({"width_px": 1280}, {"width_px": 640}, {"width_px": 0}), 960.0),),
)
HEIGHT = _mean(
    "height_px",
    "height_px",
    "px",
    "Mean frame height per window; windows with no height (audio, unknown) are skipped.",
    Better.HIGHER,
    where="height_px > 0",
    vectors=(Vector("zero is unknown", ({"height_px": 720}, {"height_px": 0}), 720.0),),
)
APP_CPU = _mean(
    "app_cpu_ratio",
    "app_cpu_ratio",
    "ratio 0..1",
    "Mean CPU share used by the app (1 = all cores busy), from device samples.",
    Better.LOWER,
    thresholds=Thresholds(0.5, 0.8, "ours: SparkRTC's app-CPU abnormal factor fires at sustained high use"),
    vectors=(Vector("mean", ({"app_cpu_ratio": 0.2}, {"app_cpu_ratio": 0.4}), 0.3),),
)
SYSTEM_CPU = _mean(
    "system_cpu_ratio",
    "system_cpu_ratio",
    "ratio 0..1",
    "Mean CPU share used by the whole device (1 = all cores busy), from device samples.",
    Better.LOWER,
    thresholds=Thresholds(0.7, 0.9, "ours: headroom below 70 %, saturated from 90 %"),
    vectors=(Vector("mean", ({"system_cpu_ratio": 0.5}, {"system_cpu_ratio": 0.9}), 0.7),),
)

FREEZE_RATE = Metric(
    name="video_freeze_rate",
    unit="ratio 0..1",
    description=(
        "Share of received video (and screen) time that was frozen: Σ freeze time / Σ receive "
        "time. Freezes are W3C `totalFreezesDuration` deltas, which exclude pauses "
        "(a sender that stopped on purpose)."
    ),
    better=Better.LOWER,
    version=1,
    source=_SOURCE,
    fields=("freeze_ms", "window_ms", "kind", "direction"),
    aggregation=Aggregation.RATIO,
    value="freeze_ms",
    denominator="window_ms",
    where=f"{_RECEIVED_VIDEO} AND window_ms > 0",
    thresholds=Thresholds(0.01, 0.05, "ours, from the Agora/TRTC duration-share definition"),
    vectors=(
        Vector(
            "time-weighted",
            (
                {"kind": "video", "direction": "down", "window_ms": 5000, "freeze_ms": 500},
                {"kind": "video", "direction": "down", "window_ms": 5000, "freeze_ms": 0},
            ),
            0.05,
        ),
        Vector(
            "sent video and audio do not count",
            (
                {"kind": "video", "direction": "up", "window_ms": 5000, "freeze_ms": 5000},
                {"kind": "audio", "direction": "down", "window_ms": 5000, "freeze_ms": 5000},
                {"kind": "video", "direction": "down", "window_ms": 10000, "freeze_ms": 1000},
            ),
            0.1,
        ),
    ),
    notes="Anchors §4.2: per-day rate = Σ freeze time / Σ video receive time across streams.",
)
AUDIO_FREEZE_RATE = Metric(
    name="audio_freeze_rate",
    unit="ratio 0..1",
    description=(
        "Share of received audio that was concealed (synthesized because packets were "
        "missing): Σ(concealment_ratio × window) / Σ window. Silence concealment is excluded."
    ),
    better=Better.LOWER,
    version=1,
    source=_SOURCE,
    fields=("concealment_ratio", "window_ms", "kind", "direction"),
    aggregation=Aggregation.RATIO,
    value="concealment_ratio * window_ms",
    denominator="window_ms",
    where=f"{_RECEIVED_AUDIO} AND window_ms > 0",
    thresholds=Thresholds(0.01, 0.03, "ObserveRTC: audio concealment ≥ 3 % is a penalty"),
    vectors=(
        Vector(
            "time-weighted",
            (
                {"kind": "audio", "direction": "down", "window_ms": 5000, "concealment_ratio": 0.1},
                {"kind": "audio", "direction": "down", "window_ms": 15000, "concealment_ratio": 0.02},
                {"kind": "audio", "direction": "down", "window_ms": 5000, "concealment_ratio": NAN},
            ),
            0.04,
        ),
    ),
)

_WINDOW_IS_EXCELLENT = (
    "loss_ratio < 0.05"
    " AND (NOT isFinite(rtt_ms) OR rtt_ms < 300)"
    " AND (NOT isFinite(jitter_ms) OR jitter_ms < 30)"
    " AND (kind = 'audio' OR freeze_ms = 0)"
)
EXCELLENT = Metric(
    name="excellent_transmission_rate",
    unit="ratio 0..1",
    description=(
        "Share of media windows that were excellent: loss < 5 %, RTT < 300 ms and jitter < 30 ms "
        "(each when measured), and for video no freeze. Upstream with direction=up (the "
        "publisher's view), end-to-end with direction=down (the receiver's). Windows without a "
        "loss measurement are not counted."
    ),
    better=Better.HIGHER,
    version=1,
    source=_SOURCE,
    fields=("loss_ratio", "rtt_ms", "jitter_ms", "freeze_ms", "kind"),
    aggregation=Aggregation.RATIO,
    value=f"if(isFinite(loss_ratio), if({_WINDOW_IS_EXCELLENT}, 1, 0), nan)",
    where="kind IN ('audio', 'video', 'screen')",
    thresholds=Thresholds(0.95, 0.8, "ours"),
    vectors=(
        Vector(
            "each condition disqualifies",
            (
                {"kind": "video", "loss_ratio": 0.01, "rtt_ms": 80.0, "jitter_ms": 5.0},
                {"kind": "video", "loss_ratio": 0.06, "rtt_ms": 80.0, "jitter_ms": 5.0},
                {"kind": "video", "loss_ratio": 0.01, "rtt_ms": 300.0, "jitter_ms": 5.0},
                {"kind": "video", "loss_ratio": 0.01, "rtt_ms": 80.0, "jitter_ms": 31.0},
                {"kind": "video", "loss_ratio": 0.01, "rtt_ms": 80.0, "jitter_ms": 5.0, "freeze_ms": 200},
            ),
            0.2,
        ),
        Vector(
            "unmeasured RTT does not disqualify; unmeasured loss is not counted",
            (
                {"kind": "audio", "loss_ratio": 0.0, "rtt_ms": NAN, "jitter_ms": 5.0, "freeze_ms": 200},
                {"kind": "audio", "loss_ratio": NAN, "rtt_ms": 10.0, "jitter_ms": 5.0},
                {"kind": "connection", "loss_ratio": 0.5},
            ),
            1.0,
        ),
    ),
    notes="No vendor publishes a definition; this is the proposal of anchors §4.5, versioned.",
)

METRICS = (
    BITRATE,
    RTT,
    _extreme(
        RTT, Aggregation.MAX, (Vector("max", ({"rtt_ms": 40.0}, {"rtt_ms": NAN}, {"rtt_ms": 90.0}), 90.0),)
    ),
    JITTER,
    _extreme(JITTER, Aggregation.MAX, (Vector("max", ({"jitter_ms": 4.0}, {"jitter_ms": 9.0}), 9.0),)),
    LOSS,
    _extreme(LOSS, Aggregation.MAX, (Vector("max", ({"loss_ratio": 0.01}, {"loss_ratio": 0.2}), 0.2),)),
    FPS,
    WIDTH,
    HEIGHT,
    APP_CPU,
    _extreme(
        APP_CPU, Aggregation.MIN, (Vector("min", ({"app_cpu_ratio": 0.3}, {"app_cpu_ratio": 0.1}), 0.1),)
    ),
    _extreme(
        APP_CPU, Aggregation.MAX, (Vector("max", ({"app_cpu_ratio": 0.3}, {"app_cpu_ratio": 0.1}), 0.3),)
    ),
    SYSTEM_CPU,
    _extreme(
        SYSTEM_CPU,
        Aggregation.MAX,
        (Vector("max", ({"system_cpu_ratio": 0.3}, {"system_cpu_ratio": 0.8}), 0.8),),
    ),
    FREEZE_RATE,
    AUDIO_FREEZE_RATE,
    EXCELLENT,
)
