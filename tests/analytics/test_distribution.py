"""Users online in one minute by session attribute: known answers over HTTP on chDB."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from callscope.analytics.query import Filters, Scope, online_distribution, query_metrics
from callscope.analytics.timerange import TimeRange
from callscope.app import Services
from tests.helpers import bearer

MIN_MS = 60_000


def _join(room: str, user: str, session: str, ts: int, **attributes: str) -> dict[str, Any]:
    return {"room_id": room, "user_id": user, "session_id": session, "ts": ts, "type": "join", **attributes}


def _samples(room: str, user: str, session: str, t0: int, count: int) -> list[dict[str, Any]]:
    return [
        {"room_id": room, "user_id": user, "session_id": session, "ts": t0 + i * 5000, "kind": "audio"}
        | {"direction": "up", "window_ms": 5000}
        for i in range(count)
    ]


def test_online_users_by_dimension_at_a_minute(
    services: Services, client: httpx.Client, new_app: Callable[[], tuple[str, str]]
) -> None:
    app_id, key = new_app()
    t0 = (int(time.time() * 1000) // MIN_MS - 20) * MIN_MS
    eu = {"region": "EU", "network_type": "wifi", "sdk_type": "webrtc", "platform": "web"}
    na = {"region": "NA", "network_type": "4g", "sdk_type": "native", "platform": "ios"}
    events = [
        _join("r1", "a", "sa", t0, **eu),
        _join("r1", "b", "sb", t0, **na),
        _join("r2", "c", "sc", t0, **na),
        # d rejoined on another network: the newer session's attributes count, d counts once
        _join("r2", "d", "sd1", t0 - 30 * MIN_MS + 1, **eu),
        _join("r2", "d", "sd2", t0 + 1000, **na),
        # e is online the next minute only
        _join("r1", "e", "se", t0, **eu),
    ]
    samples = [
        *_samples("r1", "a", "sa", t0 + 1000, 12),
        *_samples("r1", "b", "sb", t0 + 1000, 12),
        *_samples("r2", "c", "sc", t0 + 1000, 12),
        *_samples("r2", "d", "sd1", t0 + 1000, 3),
        *_samples("r2", "d", "sd2", t0 + 20_000, 3),
        *_samples("r2", "x", "sx", t0 + 1000, 3),  # no join event: unknown
        *_samples("r1", "e", "se", t0 + MIN_MS + 1000, 3),
    ]
    for path, items in (("events", events), ("samples", samples)):
        reply = client.post(f"/v1/ingest/{path}", json={path: items}, headers=bearer(key))
        assert reply.status_code == 200 and reply.json()["accepted"] == len(items), reply.text

    def values(**params: Any) -> dict[str, Any]:
        reply = client.get(
            f"/v1/apps/{app_id}/online-users/distribution",
            params={"time": t0 + 30_000, **params},
            headers=bearer(key),
        )
        assert reply.status_code == 200, reply.text
        return reply.json()

    region = values(dimension="region")
    assert region["values"] == [
        {"value": "NA", "online_users": 3},  # b, c, d (its newer session)
        {"value": "", "online_users": 1},  # x never joined
        {"value": "EU", "online_users": 1},
    ]
    assert region["online_users"] == 5 and region["minute"].startswith(
        time.strftime("%Y-%m-%dT%H:%M:00", time.gmtime(t0 / 1000))
    )
    # The counts add up to the minute's online_users metric.
    metric = query_metrics(
        services.backend,
        metrics=["online_users"],
        scope=Scope(app_id),
        window=TimeRange.parse(t0, t0 + MIN_MS),
        interval="1m",
    ).rows[0]
    assert metric["online_users"] == region["online_users"]
    assert values(dimension="network_type", room_id="r1")["values"] == [
        {"value": "4g", "online_users": 1},
        {"value": "wifi", "online_users": 1},
    ]
    native = online_distribution(
        services.backend,
        scope=Scope(app_id),
        at_us=(t0 + 30_000) * 1000,
        dimension="platform",
        filters=Filters(sdk_type=("native",)),
    )
    # d's older session joined as webrtc, its newer one as native: d is native
    assert native.values == [{"value": "ios", "online_users": 3}]
    later = values(dimension="platform", time=t0 + MIN_MS + 30_000)
    assert later["values"] == [{"value": "web", "online_users": 1}]
    bad = client.get(
        f"/v1/apps/{app_id}/online-users/distribution",
        params={"time": t0, "dimension": "city"},
        headers=bearer(key),
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "dimension", bad.text
