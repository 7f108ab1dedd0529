"""getStats normalization against real Chromium output (tests/fixtures/capture_stats.py)."""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from callscope.collectors.webrtc import Outdated, WebRtcNormalizer
from callscope.domain.samples import Direction, Sample, StreamKind
from callscope.domain.webrtc import WebRtcReport
from tests.collectors.chrome_stats import CHROME, load, run_normalizer
from tests.collectors.chrome_stats import reports as fixture_reports
from tests.helpers import bearer

RAW = load("loopback_two_pc.json")


def reports(pc: str = "a") -> list[WebRtcReport]:
    return fixture_reports(RAW, pc)


def by_stream(samples: list[Sample]) -> dict[tuple[StreamKind, Direction], Sample]:
    return {(s.kind, s.direction): s for s in samples}


def test_first_report_is_a_baseline_then_every_stream_has_a_sample() -> None:
    windows = run_normalizer(reports("a"))
    assert windows[0] == []
    for window in windows[3:]:
        streams = by_stream(window)
        assert set(streams) == {
            (StreamKind.AUDIO, Direction.UP),
            (StreamKind.VIDEO, Direction.UP),
            (StreamKind.AUDIO, Direction.DOWN),
            (StreamKind.VIDEO, Direction.DOWN),
            (StreamKind.CONNECTION, Direction.NONE),
        }
        assert all(900 <= s.window_ms <= 1200 for s in window)


def test_values_are_plausible_for_fake_media_on_loopback() -> None:
    steady = [by_stream(w) for w in run_normalizer(reports("a"))[4:]]
    for streams in steady:
        up_video, down_video = (
            streams[StreamKind.VIDEO, Direction.UP],
            streams[StreamKind.VIDEO, Direction.DOWN],
        )
        assert (up_video.width_px, up_video.height_px) == (640, 480)  # a sends 640x480
        assert (down_video.width_px, down_video.height_px) == (320, 240)  # and receives b's 320x240
        assert 50 < up_video.bitrate_kbps < 5000 and 50 < down_video.bitrate_kbps < 5000
        assert 10 <= up_video.fps <= 31 and 10 <= down_video.fps <= 31
        audio = streams[StreamKind.AUDIO, Direction.DOWN]
        assert 10 < audio.bitrate_kbps < 100
        assert down_video.loss_ratio == 0 and down_video.freeze_ms == 0
        assert down_video.peer_id == "user-b" and up_video.peer_id == ""
        assert streams[StreamKind.CONNECTION, Direction.NONE].rtt_ms < 50
        assert up_video.quality_limitation == "none" and up_video.cpu_limited_ratio == 0


def test_bitrate_integrates_back_to_the_byte_counters() -> None:
    items = reports("a")
    windows = run_normalizer(items)
    kbits = sum(
        s.bitrate_kbps * s.window_ms / 1000
        for w in windows
        for s in w
        if (s.kind, s.direction) == (StreamKind.VIDEO, Direction.DOWN)
    )
    first, last = (
        next(s for s in r.stats if s.type == "inbound-rtp" and s.kind == "video")
        for r in (items[0], items[-1])
    )
    assert kbits == pytest.approx((last.bytesReceived - first.bytesReceived) * 8 / 1000, rel=0.01)


def test_reports_of_one_batch_form_consecutive_windows() -> None:
    items = reports("a")
    normalizer = WebRtcNormalizer()
    pending: dict[Any, Any] = {}
    batch = [normalizer.normalize("app", r, float(r.ts), pending) for r in items[:4]]  # type: ignore[arg-type]
    assert [len(n.samples) for n in batch] == [0, 5, 5, 5]
    assert all(900 <= s.window_ms <= 1200 for n in batch for s in n.samples)
    with pytest.raises(Outdated):
        normalizer.normalize("app", items[2], float(items[2].ts), pending)  # type: ignore[arg-type]


def test_repeated_or_older_report_is_outdated() -> None:
    items = reports("a")
    normalizer = WebRtcNormalizer()
    normalizer.commit(normalizer.normalize("app", items[1], float(items[1].ts)))  # type: ignore[arg-type]
    for stale in (items[1], items[0]):
        with pytest.raises(Outdated):
            normalizer.normalize("app", stale, float(stale.ts))  # type: ignore[arg-type]


def _edit(report: WebRtcReport, **changes: Any) -> WebRtcReport:
    stats = copy.deepcopy(report.stats)
    return WebRtcReport(
        **{**{f: getattr(report, f) for f in report.__struct_fields__}, "stats": stats, **changes}
    )


def test_counter_reset_and_new_ssrc_restart_only_that_stream() -> None:
    items = reports("a")
    later = _edit(items[3])
    for stat in later.stats:
        if stat.type == "outbound-rtp" and stat.kind == "video":
            stat.bytesSent = 10  # the counter went backwards
        if stat.type == "inbound-rtp" and stat.kind == "audio":
            stat.ssrc = 1234  # renegotiated
    windows = run_normalizer([items[2], later])
    streams = by_stream(windows[1])
    assert (StreamKind.VIDEO, Direction.UP) not in streams
    assert (StreamKind.AUDIO, Direction.DOWN) not in streams
    assert (StreamKind.VIDEO, Direction.DOWN) in streams


def test_long_gap_restarts_every_baseline() -> None:
    items = reports("a")
    away = _edit(items[3], ts=items[2].ts + 61_000)  # type: ignore[operator]
    assert run_normalizer([items[2], away])[1] == []


def test_missing_and_garbage_fields_are_unmeasured_not_zero() -> None:
    items = reports("a")
    broken = _edit(items[3])
    for stat in broken.stats:
        if stat.type == "inbound-rtp" and stat.kind == "video":
            stat.jitter = None
            stat.framesDecoded = "many"
            stat.framesPerSecond = None
    down = by_stream(run_normalizer([items[2], broken])[1])[StreamKind.VIDEO, Direction.DOWN]
    assert math.isnan(down.jitter_ms) and math.isnan(down.fps)
    assert down.bitrate_kbps > 0


def test_screen_tracks_are_their_own_kind() -> None:
    items = reports("a")
    source = next(s for s in items[3].stats if s.type == "media-source" and s.kind == "video")
    marked = [_edit(r, screen_track_ids=[source.trackIdentifier]) for r in items[2:4]]
    kinds = {(s.kind, s.direction) for s in run_normalizer(marked)[1]}
    assert (StreamKind.SCREEN, Direction.UP) in kinds and (StreamKind.VIDEO, Direction.UP) not in kinds


def test_reports_over_http_become_samples(
    client: httpx.Client, services: Any, app_creds: tuple[str, str]
) -> None:
    app_id, key = app_creds
    raw = [r for r in RAW if r["pc"] == "b"]
    shift = time.time() * 1000 - 5_000 - raw[-1]["ts"]  # replay the capture as if it just happened
    body = [
        {
            "room_id": "r",
            "user_id": "user-b",
            "session_id": "s-b",
            "pc_id": "b",
            "peer_id": "user-a",
            "ts": r["ts"] + shift,
            "stats": r["stats"],
        }
        for r in raw
    ]
    first = client.post("/v1/ingest/webrtc", json={"reports": body[:6]}, headers=bearer(key)).json()
    assert (first["accepted"], first["invalid"]) == (6, 0)
    again = client.post("/v1/ingest/webrtc", json={"reports": body[4:]}, headers=bearer(key)).json()
    assert (again["accepted"], again["duplicate"]) == (len(body) - 6, 2)
    bad = client.post(
        "/v1/ingest/webrtc", json={"reports": [body[0] | {"stats": "nope"}]}, headers=bearer(key)
    )
    assert bad.status_code == 422 and bad.json()["items"][0]["field"] == "stats"
    rows = services.backend.query(
        "SELECT kind, direction, count() AS n, avg(bitrate_kbps) AS kbps FROM samples "
        "WHERE app_id = {a:String} GROUP BY kind, direction ORDER BY kind, direction",
        {"a": app_id},
    )
    counts = {(r["kind"], r["direction"]): r["n"] for r in rows}
    assert counts == {
        k: len(body) - 1
        for k in [
            ("audio", "down"),
            ("audio", "up"),
            ("connection", "none"),
            ("video", "down"),
            ("video", "up"),
        ]
    }
    assert all(r["kbps"] > 10 for r in rows)


@pytest.mark.parametrize("fixture", sorted(CHROME.glob("*.json")), ids=lambda p: p.stem)
def test_pruned_baselines_change_nothing(fixture: Path) -> None:
    """Baselines keep only the counted stats types (memory per connection); every sample must come
    out the same."""
    raw = load(fixture.name)
    for pc in sorted({r["pc"] for r in raw}):
        items = fixture_reports(raw, pc)
        pruned, full = (run_normalizer(items, WebRtcNormalizer(prune_baselines=p)) for p in (True, False))
        assert [msgspec.json.encode(w) for w in pruned] == [msgspec.json.encode(w) for w in full]  # NaN-safe
        assert sum(len(w) for w in pruned) >= 50  # samples (the old check counted encoded bytes)
