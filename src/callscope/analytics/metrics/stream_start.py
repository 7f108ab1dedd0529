"""Getting media going: push (publish) and pull (subscribe) success, and first-frame times.

From call events the client reports once per track (docs/ingest.md, event types):
- `publish` when a local track's first packets went out, `publish_failed` when it gave up
  before any did; `subscribe` / `subscribe_failed` the same for a remote track's first packets
  in. An attempt is one of these events; a retry that works is a second attempt, as a failed
  join and its retry are two join attempts.
- `first_video_frame` / `first_audio_frame` with `elapsed_ms`: from the later of the session's
  join and the start of the subscription to the first decoded frame (video) or sample (audio)
  of a received track, so a publisher who arrives late does not count as a slow first frame.
"""

from __future__ import annotations

from callscope.analytics.metrics.catalog import NAN, Aggregation, Better, Metric, Thresholds, Vector


def _success(name: str, ok: str, failed: str, what: str) -> Metric:
    return Metric(
        name=name,
        unit="ratio 0..1",
        description=f"{what} that started flowing media / attempts: `{ok}` events over `{ok}` + `{failed}`.",
        better=Better.HIGHER,
        version=1,
        source="events",
        fields=("type",),
        aggregation=Aggregation.RATIO,
        value=f"type = '{ok}'",
        where=f"type IN ('{ok}', '{failed}')",
        thresholds=Thresholds(0.99, 0.95, "ours, as join_success_rate"),
        vectors=(
            Vector(
                "a failure and its working retry are two attempts",
                ({"type": ok}, {"type": failed}, {"type": ok}, {"type": ok}, {"type": "join"}),
                0.75,
            ),
            Vector("no attempts, no rate", ({"type": "join"},), None),
        ),
    )


def _first_frame(name: str, event: str, what: str, good_ms: float, poor_ms: float) -> Metric:
    return Metric(
        name=name,
        unit="ms",
        description=(
            f"Mean time to the first decoded {what} of a received track: `elapsed_ms` of "
            f"`{event}` events (from the later of the receiver's join and the subscription's start)."
        ),
        better=Better.LOWER,
        version=1,
        source="events",
        fields=("type", "elapsed_ms"),
        aggregation=Aggregation.RATIO,
        value="elapsed_ms",
        where=f"type = '{event}'",
        thresholds=Thresholds(good_ms, poor_ms, "ours; SparkRTC publishes the time without bands"),
        vectors=(
            Vector(
                "mean of the tracks' first frames; other events do not count",
                (
                    {"type": event, "elapsed_ms": 400.0},
                    {"type": event, "elapsed_ms": 800.0},
                    {"type": "subscribe", "elapsed_ms": 5000.0},
                    {"type": event, "elapsed_ms": NAN},
                ),
                600.0,
            ),
            Vector("no first frames, no time", ({"type": "join"},), None),
        ),
        notes="SparkRTC FirstVideoRecvTime / FirstAudioRecvTime (history quality, ms).",
    )


METRICS = (
    _success("push_success_rate", "publish", "publish_failed", "Published tracks"),
    _success("pull_success_rate", "subscribe", "subscribe_failed", "Subscribed tracks"),
    _first_frame("first_video_frame_ms", "first_video_frame", "video frame", 1000, 3000),
    _first_frame("first_audio_frame_ms", "first_audio_frame", "audio sample", 500, 2000),
)
