"""End-to-end delay of received media, as the median over users of each user's own delay.

Media goes publisher → SFU → receiver, so a receiver's one-way delay from a publisher is half
the publisher's round trip to the SFU, plus half the receiver's, plus the receiver's jitter
buffer. Per user u and bucket, for one media (video+screen, or audio):

- access RTT A(x): mean `rtt_ms` of x's windows that measure x ↔ SFU: its connection (ICE pair
  RTT) and its sent streams (RTCP RTT the SFU's receiver reports give);
- uplink leg: A of the publishers u received that media from, weighted by u's received windows
  from each (those with a jitter measurement, the ones the delay counts); publishers with no
  measured RTT are left out, and with none left A(u) stands in (the path assumed symmetric);
- jitter buffer: 2 × mean `jitter_ms` of u's received windows of that media (samples carry no
  jitterBufferDelay; 2 × interarrival jitter is the usual buffer target, as in audio_mos);
- delay(u) = A(u)/2 + uplink/2 + 2 × jitter, for users with a measured A(u) and jitter.

The bucket's value is the median (exact, the mean of the middle two for an even count) of
delay(u) over those users: SparkRTC's `VideoTransDelay` / `AudioTransDelay`, "daily median of
users", per day; the same per minute. Computed from the rollups' RTT and jitter partial sums,
so these metrics add no rollup columns. Narrowing to a user, a direction or a kind would hide
the publishers' legs, so the query refuses those filters for them.
"""

from __future__ import annotations

from dataclasses import dataclass

from callscope.analytics.metrics.catalog import NAN, Aggregation, Better, Metric, Thresholds, Vector

_ACCESS = "(kind = 'connection' OR (direction = 'up' AND kind IN ('audio', 'video', 'screen')))"


@dataclass(frozen=True)
class _Sums:
    """Per-row SQL of the partial sums the definition needs, over raw samples or rollup rows."""

    rtt_num: str
    rtt_den: str
    jitter_num: str
    jitter_den: str
    windows: str  # received windows that count for a publisher's weight: those with jitter


_RAW = _Sums(
    rtt_num="if(isFinite(rtt_ms), toFloat64(rtt_ms), 0)",
    rtt_den="toFloat64(isFinite(rtt_ms))",
    jitter_num="if(isFinite(jitter_ms), toFloat64(jitter_ms), 0)",
    jitter_den="toFloat64(isFinite(jitter_ms))",
    windows="toFloat64(isFinite(jitter_ms))",
)
_ROLLUP = _Sums(
    rtt_num="rtt_ms_v1__num",
    rtt_den="rtt_ms_v1__den",
    jitter_num="jitter_ms_v1__num",
    jitter_den="jitter_ms_v1__den",
    # Not the rollup's `samples`: the query's own `sum(samples) AS samples` would shadow it.
    windows="jitter_ms_v1__den",
)


def _median_of_users(name: str, received: str, s: _Sums) -> str:
    """The aggregate: per-user sums as maps (user → Σ), per-user delays from them, their median.

    Intermediates are query-wide aliases prefixed with the metric's name (several of these
    metrics can share one SELECT, and the engine parses each expression once). An alias made
    inside a lambda is local to it, so every one is made outside, in a tuple whose first element
    is the answer. A map lookup of a missing user is 0, which every division checks for first.
    """
    p = f"{name}_v1__"
    sep = "'\\0'"  # (user, publisher) pair keys; ids never hold control characters (domain/ids.py)
    pairs = f"mapKeys({p}pw)"
    defined = [
        f"sumMapIf(map(user_id, {s.rtt_num}), {_ACCESS}) AS {p}an",
        f"sumMapIf(map(user_id, {s.rtt_den}), {_ACCESS}) AS {p}ad",
        f"sumMapIf(map(user_id, {s.jitter_num}), {received}) AS {p}jn",
        f"sumMapIf(map(user_id, {s.jitter_den}), {received}) AS {p}jd",
        f"sumMapIf(map(concat(user_id, {sep}, peer_id), {s.windows}), {received} AND peer_id != '') AS {p}pw",
        f"arrayMap(x -> splitByChar({sep}, x)[1], {pairs}) AS {p}receivers",
        f"arrayMap(x -> if({p}ad[x] > 0, {p}an[x] / {p}ad[x], nan), "
        f"arrayMap(x -> splitByChar({sep}, x)[2], {pairs})) AS {p}publisher_rtt",
        # Per receiver: Σ windows × publisher RTT and Σ windows, over publishers with a measured RTT.
        f"arrayReduce('sumMap', arrayMap(x -> [x], {p}receivers), "
        f"arrayMap((w, a) -> [if(isFinite(a), w * a, 0)], mapValues({p}pw), {p}publisher_rtt), "
        f"arrayMap((w, a) -> [if(isFinite(a), w, 0)], mapValues({p}pw), {p}publisher_rtt)) AS {p}uplink",
        f"mapFromArrays({p}uplink.1, {p}uplink.2) AS {p}uwa",
        f"mapFromArrays({p}uplink.1, {p}uplink.3) AS {p}uw",
    ]
    own = f"{p}an[x] / {p}ad[x]"
    delay = f"{own} / 2 + if({p}uw[x] > 0, {p}uwa[x] / {p}uw[x], {own}) / 2 + 2 * {p}jn[x] / {p}jd[x]"
    users = f"arrayFilter(x -> {p}jd[x] > 0 AND {p}ad[x] > 0, mapKeys({p}jd))"
    answer = f"arrayReduce('quantileExactInclusive(0.5)', arrayMap(x -> {delay}, {users}))"
    return f"tupleElement(({answer}, {', '.join(f'({d})' for d in defined)}), 1)"


def _row(
    user: str, kind: str, direction: str, peer: str = "", rtt: float = NAN, jitter: float = NAN
) -> dict[str, object]:
    return {
        "user_id": user,
        "kind": kind,
        "direction": direction,
        "peer_id": peer,
        "rtt_ms": rtt,
        "jitter_ms": jitter,
    }


def _delay(name: str, media: str, kinds: str, good_ms: float, poor_ms: float) -> Metric:
    received = f"direction = 'down' AND kind IN ({kinds})"
    kind = "audio" if media == "audio" else "video"
    return Metric(
        name=name,
        unit="ms",
        description=(
            f"Median over users of each user's end-to-end {media} delay: half the user's access "
            "RTT (connection and sent streams) + half the access RTT of the publishers it received "
            f"{media} from (weighted by windows received; its own when none is measured) + "
            f"2 × the mean jitter of its received {media} (the jitter buffer)."
        ),
        better=Better.LOWER,
        version=1,
        source="samples",
        fields=("user_id", "peer_id", "kind", "direction", "rtt_ms", "jitter_ms"),
        aggregation=Aggregation.USER_MEDIAN,
        value=_median_of_users(name, received, _RAW),
        rollup_value=_median_of_users(name, received, _ROLLUP),
        thresholds=Thresholds(
            good_ms,
            poor_ms,
            "ITU-T G.114: one-way delay up to 150 ms is transparent, above 400 ms unacceptable",
        ),
        vectors=(
            Vector(
                "b: 100/2 + 50/2 + 2×15 = 105; a: 50/2 + 100/2 + 2×4 = 83; median 94",
                (
                    _row("a", "connection", "none", rtt=40.0),
                    _row("a", kind, "up", rtt=60.0, jitter=5.0),
                    _row("b", "connection", "none", rtt=100.0),
                    _row("b", kind, "down", "a", jitter=10.0),
                    _row("b", kind, "down", "a", jitter=20.0),
                    _row("a", kind, "down", "b", jitter=4.0),
                ),
                94.0,
            ),
            Vector(
                "publishers weighted by windows received; one with no RTT is left out",
                (
                    _row("a", "connection", "none", rtt=20.0),
                    _row("b", "connection", "none", rtt=60.0),
                    _row("c", "connection", "none", rtt=NAN),
                    _row("u", "connection", "none", rtt=40.0),
                    _row("u", kind, "down", "a", jitter=5.0),
                    _row("u", kind, "down", "b", jitter=5.0),
                    _row("u", kind, "down", "b", jitter=5.0),
                    _row("u", kind, "down", "c", jitter=5.0),
                ),
                40.0 / 2 + (20.0 + 2 * 60.0) / 3 / 2 + 2 * 5.0,
            ),
            Vector(
                "no publisher RTT: the receiver's own stands in; no jitter or own RTT: not counted",
                (
                    _row("u", "connection", "none", rtt=30.0),
                    _row("u", kind, "down", "p", jitter=1.0),
                    _row("v", kind, "down", "p", jitter=1.0),
                    _row("w", "connection", "none", rtt=30.0),
                    _row("w", kind, "down", "p"),
                ),
                32.0,
            ),
            Vector("nothing received, no delay", (_row("u", "connection", "none", rtt=30.0),), None),
        ),
        notes="SparkRTC VideoTransDelay / AudioTransDelay (daily median; spec §13 #14 settles "
        "median over average). Per minute the same over the minute's users.",
    )


METRICS = (
    _delay("e2e_video_delay_ms", "video", "'video', 'screen'", 150, 400),
    _delay("e2e_audio_delay_ms", "audio", "'audio'", 150, 400),
)
