"""Each query family refuses time ranges beyond its vendor limit, in every surface's dialect."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from callscope.analytics import limits
from callscope.analytics.timerange import TimeRange
from callscope.errors import BadRequest
from tests.helpers import bearer

DAY_MS = 86_400_000


@pytest.mark.parametrize("family", limits.FAMILIES, ids=lambda f: f.family)
def test_a_family_accepts_its_limit_and_refuses_a_second_more(family: limits.SpanLimit) -> None:
    now_ms = int(time.time() * 1000)
    span_ms = family.max_span_s * 1000
    family.check(TimeRange((now_ms - span_ms) * 1000, now_ms * 1000), now_us=now_ms * 1000)
    with pytest.raises(BadRequest, match=f"{family.family} queries may span at most") as refused:
        family.check(TimeRange((now_ms - span_ms - 1000) * 1000, now_ms * 1000), now_us=now_ms * 1000)
    assert refused.value.extra["field"] == "end"


def test_per_user_indicators_reach_back_five_days_only() -> None:
    now_ms = int(time.time() * 1000)
    start_ms = now_ms - 5 * DAY_MS - 60_000
    with pytest.raises(BadRequest, match="reach back at most 5 days") as refused:
        limits.PER_USER.check(TimeRange.parse(start_ms, start_ms + 3_600_000), now_us=now_ms * 1000)
    assert refused.value.extra["field"] == "start"


def _problem(reply: httpx.Response) -> dict[str, Any]:
    assert reply.status_code == 400, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = reply.json()
    return body


def test_api_routes_apply_their_family(client: httpx.Client, new_app: Callable[[], tuple[str, str]]) -> None:
    app_id, key = new_app()
    auth = bearer(key)
    now_ms = int(time.time() * 1000)
    two_days = {"start": now_ms - 2 * DAY_MS, "end": now_ms}
    metrics = f"/v1/apps/{app_id}/metrics"
    per_minute = client.get(metrics, params={**two_days, "metric": "rtt_ms", "interval": "1m"}, headers=auth)
    assert "per-minute queries may span at most 1 day" in _problem(per_minute)["detail"]
    daily = client.get(metrics, params={**two_days, "metric": "rtt_ms", "interval": "1d"}, headers=auth)
    assert daily.status_code == 200, daily.text
    rooms = f"/v1/apps/{app_id}/room-instances"
    sixty_days = client.get(rooms, params={"start": now_ms - 60 * DAY_MS, "end": now_ms}, headers=auth)
    assert sixty_days.status_code == 200, sixty_days.text  # room lists reach 90 days
    too_long = client.get(rooms, params={"start": now_ms - 91 * DAY_MS, "end": now_ms}, headers=auth)
    assert "span at most" in _problem(too_long)["detail"]
    series = client.get(
        f"/v1/apps/{app_id}/rooms/r/sessions/s/series",
        params={"start": now_ms - 6 * DAY_MS, "end": now_ms - 6 * DAY_MS + 60_000, "kind": "audio"}
        | {"direction": "down"},
        headers=auth,
    )
    assert "per-user indicator queries reach back at most 5 days" in _problem(series)["detail"]
