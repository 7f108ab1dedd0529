"""A participant's per-user indicators in one statement give what the per-stream series give."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import httpx

from callscope.analytics import calls
from callscope.analytics.timerange import TimeRange
from callscope.app import Services
from tests.analytics.test_query import random_samples
from tests.helpers import bearer

MIN_MS = 60_000


def _comparable(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """NaN (an average of nothing) made comparable: NaN != NaN would fail equal lists."""
    return [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in p.items()} for p in points]


def test_one_statement_matches_the_series_of_every_stream(
    services: Services, client: httpx.Client, new_app: Callable[[], tuple[str, str]]
) -> None:
    app_id, key = new_app()
    t0 = (int(time.time() * 1000) // MIN_MS - 20) * MIN_MS
    samples = [s for s in random_samples(5, t0) if s["session_id"] == "s-r1-u2"]
    reply = client.post("/v1/ingest/samples", json={"samples": samples}, headers=bearer(key))
    assert reply.json()["accepted"] == len(samples)
    window = TimeRange.parse(t0 - MIN_MS, t0 + 10 * MIN_MS)
    ids = {"app_id": app_id, "room_id": "r1", "session_id": "s-r1-u2"}
    for interval in ("1m", "10s"):
        together = calls.session_series(services.backend, **ids, window=window, interval=interval)
        streams = calls.streams(services.backend, **ids)
        assert [(s["kind"], s["direction"], s["peer_id"]) for s in together] == [
            (s["kind"], s["direction"], s["peer_id"]) for s in streams
        ]
        assert len(together) == 5  # audio and video both ways, and the device
        for stream in together:
            alone = calls.series(
                services.backend,
                **ids,
                kind=stream["kind"],
                direction=stream["direction"],
                peer_id=stream["peer_id"],
                window=window,
                interval=interval,
            )
            assert _comparable(stream["points"]) == _comparable(alone) and len(alone) >= 3
    body = client.get(
        f"/v1/apps/{app_id}/rooms/r1/sessions/s-r1-u2/indicators",
        params={"start": window.start_us // 1000, "end": window.end_us // 1000},
        headers=bearer(key),
    ).json()
    assert body["interval"] == "1m" and len(body["streams"]) == 5
    video_down = next(s for s in body["streams"] if (s["kind"], s["direction"]) == ("video", "down"))
    assert sum(p["samples"] for p in video_down["points"]) == 30
