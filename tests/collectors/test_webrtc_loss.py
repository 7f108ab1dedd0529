"""Loss normalization against a real call with 5 % loss (tests/fixtures/capture_loss.py).

The fixture is two headless Chromium processes in two network namespaces joined by a veth; in
B's namespace iptables dropped each arriving UDP packet with probability 0.05. So B's downlink
lost ~5 % of its packets on the wire, A's downlink nothing, and A's uplink is the stream B
lost: A sees it in the receiver reports B sends back (remote-inbound-rtp).

Averages are time-weighted over the windows where loss was measured: sum(loss_ratio × window_ms)
/ sum(window_ms), the share of the call's time-averaged loss a dashboard would show.

Video is NACK/RTX-protected. Chromium's inbound-rtp counts every lost original in `packetsLost`
(a repair by retransmission does not take it back), but `packetsReceived` includes everything
that came over RTX: the repairs, and the bandwidth probes that resend old packets. In this capture
B received 1909 video packets, 696 of them over RTX (mostly a probe burst in windows 4-7), and lost
64: Δlost / (Δlost + Δreceived) would read 3.2 % for a 5 % drop. The normalizer counts originals
only: Δlost / (Δlost + Δreceived − ΔretransmittedPacketsReceived) = 5.0 %.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable

import pytest

from callscope.collectors.webrtc import WebRtcNormalizer
from callscope.domain.samples import Direction, Sample, StreamKind
from callscope.domain.webrtc import WebRtcReport
from tests.collectors.chrome_stats import load, run_normalizer
from tests.collectors.chrome_stats import reports as fixture_reports

RAW = load("veth_loss5_inbound_b.json")
MEDIA = (StreamKind.AUDIO, StreamKind.VIDEO)


def reports(pc: str) -> list[WebRtcReport]:
    return fixture_reports(RAW, pc)


def samples(pc: str) -> list[Sample]:
    return [s for window in run_normalizer(reports(pc)) for s in window]


def stream(pc: str, kind: StreamKind, direction: Direction) -> list[Sample]:
    return [s for s in samples(pc) if (s.kind, s.direction) == (kind, direction)]


def time_weighted_loss(windows: Iterable[Sample]) -> float:
    measured = [s for s in windows if math.isfinite(s.loss_ratio)]
    assert measured, "no window measured loss"
    return sum(s.loss_ratio * s.window_ms for s in measured) / sum(s.window_ms for s in measured)


def counters(pc: str, kind: str) -> dict[str, float]:
    """Inbound counters of one stream from the first to the last report."""
    first, last = (
        next(s for s in r.stats if s.type == "inbound-rtp" and s.kind == kind)
        for r in (reports(pc)[0], reports(pc)[-1])
    )
    keys = ("packetsLost", "packetsReceived", "retransmittedPacketsReceived")
    return {k: (getattr(last, k) or 0) - (getattr(first, k) or 0) for k in keys}


def test_the_fixture_is_a_call_of_twenty_one_second_windows_per_side() -> None:
    for pc in ("a", "b"):
        for kind in MEDIA:
            for direction in (Direction.UP, Direction.DOWN):
                windows = stream(pc, kind, direction)
                assert len(windows) == 20, (pc, kind, direction)
                assert all(900 <= s.window_ms <= 1200 for s in windows)
                assert all(s.bitrate_kbps > 5 for s in windows)


@pytest.mark.parametrize("kind", MEDIA)
def test_downlink_with_5_percent_inbound_drop_averages_3_to_7_percent(kind: StreamKind) -> None:
    loss = time_weighted_loss(stream("b", kind, Direction.DOWN))
    assert 0.03 <= loss <= 0.07, loss


@pytest.mark.parametrize("kind", MEDIA)
def test_the_side_without_drop_sees_no_downlink_loss(kind: StreamKind) -> None:
    assert time_weighted_loss(stream("a", kind, Direction.DOWN)) < 0.01


@pytest.mark.parametrize("kind", ["audio", "video"])
def test_windows_add_up_to_the_browsers_own_counters(kind: str) -> None:
    """The windows' packets are what the browser counted: every loss, and the originals expected
    (received minus what came over RTX, which audio does not negotiate)."""
    windows = stream("b", StreamKind(kind), Direction.DOWN)
    c = counters("b", kind)
    assert sum(s.packets_lost for s in windows) == c["packetsLost"] > 0
    originals = c["packetsReceived"] - c["retransmittedPacketsReceived"]
    assert sum(s.packets_expected for s in windows) == c["packetsLost"] + originals


def test_retransmissions_and_probes_do_not_dilute_video_loss() -> None:
    c = counters("b", "video")
    assert c["retransmittedPacketsReceived"] > 5 * c["packetsLost"]  # the capture has a probe burst
    naive = c["packetsLost"] / (c["packetsLost"] + c["packetsReceived"])
    windows = stream("b", StreamKind.VIDEO, Direction.DOWN)
    counted = sum(s.packets_lost for s in windows) / sum(s.packets_expected for s in windows)
    assert naive < 0.035 and 0.045 < counted < 0.055, (naive, counted)


def test_retransmissions_beyond_what_was_received_are_ignored() -> None:
    """A counter that does not fit (more retransmitted than received) leaves the plain ratio."""
    first, second = reports("b")[1:3]
    broken = copy.deepcopy(second.stats)
    video = next(s for s in broken if s.type == "inbound-rtp" and s.kind == "video")
    video.retransmittedPacketsReceived += 10_000
    edited = WebRtcReport(**{**{f: getattr(second, f) for f in second.__struct_fields__}, "stats": broken})
    normalizer = WebRtcNormalizer()
    normalizer.commit(normalizer.normalize("app", first, float(first.ts)))  # type: ignore[arg-type]
    [down] = [
        s
        for s in normalizer.normalize("app", edited, float(edited.ts)).samples  # type: ignore[arg-type]
        if (s.kind, s.direction) == (StreamKind.VIDEO, Direction.DOWN)
    ]
    before = next(s for s in first.stats if s.type == "inbound-rtp" and s.kind == "video")
    received = video.packetsReceived - before.packetsReceived
    lost = video.packetsLost - before.packetsLost
    assert (down.packets_expected, down.packets_lost) == (received + lost, lost)


@pytest.mark.parametrize("kind", MEDIA)
def test_the_sender_sees_the_loss_its_receiver_reports(kind: StreamKind) -> None:
    """A's uplink loss comes from B's RTCP receiver reports (remote-inbound-rtp). Reports come
    every ~1 s (video) to ~5 s (audio), so a window shows the losses reported in it: bursty per
    window, and the last seconds of the capture are not reported yet. The uplink denominator,
    Δ`packetsSent`, includes RTX (repairs and probes) and no sender counter tells the probes
    apart, so video uplink loss reads low during a probe burst (3.3 % by packets here)."""
    up = stream("a", kind, Direction.UP)
    assert 0.02 <= time_weighted_loss(up) <= 0.08
    assert sum(s.packets_lost for s in up) > 0
    assert time_weighted_loss(stream("b", kind, Direction.UP)) < 0.01
