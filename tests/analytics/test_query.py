"""Metric queries from the per-minute rollup agree with the same definitions over raw samples."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from callscope.analytics import rollups
from callscope.analytics.metrics import CATALOG, DERIVED_SOURCES, Aggregation, Better, Catalog, Metric, Vector
from callscope.analytics.query import Filters, Scope, query_metrics
from callscope.analytics.timerange import TimeRange
from callscope.app import Services
from callscope.errors import BadRequest
from tests.helpers import bearer

MIN_MS = 60_000
KINDS = [("audio", "up"), ("audio", "down"), ("video", "up"), ("video", "down"), ("device", "none")]


def _maybe(rng: random.Random, value: float) -> float | None:
    return None if rng.random() < 0.1 else value  # some windows leave a metric unmeasured


def random_samples(seed: int, t0_ms: int) -> list[dict[str, Any]]:
    rng, out = random.Random(seed), []
    for room in ("r1", "r2"):
        for user in ("u1", "u2", "u3"):
            for kind, direction in KINDS:
                for i in range(30):  # 30 windows of 5 s: 2.5 minutes
                    sample: dict[str, Any] = {
                        "room_id": room,
                        "user_id": user,
                        "session_id": f"s-{room}-{user}",
                        "ts": t0_ms + i * 5000 + rng.randint(0, 999),
                        "kind": kind,
                        "direction": direction,
                        "peer_id": "u9" if direction == "down" else "",
                        "window_ms": 5000,
                        "bitrate_kbps": _maybe(rng, rng.uniform(20, 2000)),
                        "rtt_ms": _maybe(rng, rng.uniform(10, 500)),
                        "jitter_ms": _maybe(rng, rng.uniform(0, 60)),
                        "loss_ratio": _maybe(rng, rng.choice([0.0, 0.0, 0.01, 0.08, 0.3])),
                    }
                    if kind == "video":
                        sample |= {"fps": rng.uniform(5, 30), "height_px": rng.choice([0, 360, 720])}
                        sample["freeze_ms"] = rng.choice([0, 0, 0, 300, 2500]) if direction == "down" else 0
                    if kind == "audio" and direction == "down":
                        sample["concealment_ratio"] = _maybe(rng, rng.uniform(0, 0.2))
                    if kind == "device":
                        sample |= {"app_cpu_ratio": rng.uniform(0, 1), "system_cpu_ratio": rng.uniform(0, 1)}
                        for key in ("bitrate_kbps", "rtt_ms", "jitter_ms", "loss_ratio"):
                            sample.pop(key)
                    out.append({k: v for k, v in sample.items() if v is not None})
    return out


@pytest.fixture(scope="module")
def loaded(services: Services, base_url: str) -> dict[str, Any]:
    app, key = services.tenancy.create_app("metrics")
    services.auth.refresh()
    t0_ms = (int(time.time() * 1000) // MIN_MS - 30) * MIN_MS
    samples = random_samples(11, t0_ms)
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for i in range(0, len(samples), 500):
            reply = client.post(
                "/v1/ingest/samples", json={"samples": samples[i : i + 500]}, headers=bearer(key)
            )
            assert reply.status_code == 200 and reply.json()["accepted"] == len(samples[i : i + 500])
        sessions = sorted({(s["room_id"], s["user_id"], s["session_id"]) for s in samples})
        events = [
            {"room_id": r, "user_id": u, "session_id": s, "ts": t0_ms, "type": "join"} for r, u, s in sessions
        ]
        events.append(
            {"room_id": "r1", "user_id": "u4", "session_id": "s-x", "ts": t0_ms, "type": "join_failed"}
        )
        reply = client.post("/v1/ingest/events", json={"events": events}, headers=bearer(key))
        assert reply.json()["accepted"] == 7
    window = TimeRange.parse(t0_ms - MIN_MS, t0_ms + 10 * MIN_MS)
    return {"app_id": app.app_id, "key": key, "window": window, "count": len(samples), "t0_ms": t0_ms}


def direct(services: Services, metric: Metric, app_id: str, extra_where: str = "1", group: str = "") -> Any:
    """The definition evaluated over the raw samples: the ground the rollup must match."""
    columns = f"{group}, {metric.sql()}" if group else metric.sql()
    stored, derive = DERIVED_SOURCES.get(metric.source, (metric.source, None))
    source = stored if derive is None else f"({derive(stored, 'app_id = {app:String}')})"
    sql = f"SELECT {columns} AS v FROM {source} WHERE app_id = {{app:String}} AND {extra_where}"  # noqa: S608
    if group:
        sql += f" GROUP BY {group} ORDER BY {group}"
    return services.backend.query(sql, {"app": app_id})


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None or (isinstance(b, float) and math.isnan(b)):
        return a is None and (b is None or math.isnan(b))
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def test_every_metric_in_total_matches_the_raw_definition(services: Services, loaded: dict[str, Any]) -> None:
    result = query_metrics(
        services.backend,
        metrics=[m.name for m in CATALOG],
        scope=Scope(loaded["app_id"]),
        window=loaded["window"],
        interval="total",
    )
    [row] = result.rows
    assert row["samples"] == loaded["count"]
    for metric in CATALOG:
        expected = direct(services, metric, loaded["app_id"])[0]["v"]
        assert close(row[metric.name], expected), (
            f"{metric.name}: rollup {row[metric.name]} vs raw {expected}"
        )
    assert row["audio_mos"] is not None and row["video_freeze_rate"] is not None  # the data exercised them
    assert (row["online_users"], row["rooms_in_use"]) == (3, 2)  # u1..u3 in both rooms r1, r2
    assert (row["sessions"], row["join_success_rate"]) == (6, pytest.approx(6 / 7))


def test_minutes_grouped_and_filtered_match_the_raw_definition(
    services: Services, loaded: dict[str, Any]
) -> None:
    metric = CATALOG["loss_ratio"]
    result = query_metrics(
        services.backend,
        metrics=["loss_ratio", "rtt_ms_max"],
        scope=Scope(loaded["app_id"], room_id="r1"),
        window=loaded["window"],
        interval="1m",
        filters=Filters(kind=("video",)),
        group_by=["direction"],
    )
    raw = direct(
        services,
        metric,
        loaded["app_id"],
        "room_id = 'r1' AND kind = 'video'",
        "toDateTime64(toStartOfMinute(ts), 0, 'UTC') AS ts, direction",
    )
    assert [(r["ts"].astimezone(UTC), r["direction"]) for r in result.rows] == [
        (r["ts"].astimezone(UTC), r["direction"]) for r in raw
    ]
    assert len(result.rows) >= 6  # 3 minutes × up/down
    for got, want in zip(result.rows, raw, strict=True):
        assert close(got["loss_ratio"], want["v"])
    assert {m.name: m.unit for m in result.metrics} == {"loss_ratio": "ratio 0..1", "rtt_ms_max": "ms"}


def test_a_new_metric_is_backfilled_from_stored_samples(services: Services, loaded: dict[str, Any]) -> None:
    doubled = Metric(
        name="test_bitrate_doubled",
        unit="kbit/s",
        description="test only",
        better=Better.HIGHER,
        version=1,
        source="samples",
        fields=("bitrate_kbps",),
        aggregation=Aggregation.RATIO,
        value="bitrate_kbps * 2",
        vectors=(Vector("x", ({"bitrate_kbps": 1.0},), 2.0),),
    )
    extended = Catalog(dict(CATALOG.metrics))
    extended.register(doubled)
    added = rollups.ensure(services.backend, extended, retention_days=31)
    assert added == ["test_bitrate_doubled_v1__num", "test_bitrate_doubled_v1__den"]
    assert rollups.ensure(services.backend, extended, retention_days=31) == []  # idempotent
    scope, window = Scope(loaded["app_id"]), loaded["window"]
    both = query_metrics(
        services.backend,
        metrics=["bitrate_kbps", "test_bitrate_doubled"],
        scope=scope,
        window=window,
        interval="total",
        catalog=extended,
    ).rows[0]
    assert both["test_bitrate_doubled"] == pytest.approx(2 * both["bitrate_kbps"], rel=1e-12)


def test_event_metrics_refuse_stream_filters(services: Services, loaded: dict[str, Any]) -> None:
    with pytest.raises(BadRequest, match="join_success_rate: cannot filter by kind"):
        query_metrics(
            services.backend,
            metrics=["join_success_rate"],
            scope=Scope(loaded["app_id"]),
            window=loaded["window"],
            filters=Filters(kind=("audio",)),
        )


def test_metrics_api_answers_with_units_and_errors_in_problem_json(
    client: httpx.Client, loaded: dict[str, Any], new_app: Callable[[], tuple[str, str]]
) -> None:
    window: TimeRange = loaded["window"]
    params: dict[str, Any] = {
        "start": window.start_us // 1000,
        "end": window.end_us // 1000,
        "metric": ["audio_mos", "video_freeze_rate"],
        "interval": "total",
        "kind": ["audio", "video"],
    }
    url = f"/v1/apps/{loaded['app_id']}/metrics"
    body = client.get(url, params=params, headers=bearer(loaded["key"])).json()
    assert body["metrics"][0] == {"name": "audio_mos", "unit": "MOS 1..5", "version": 1, "better": "higher"}
    assert 1 <= body["rows"][0]["audio_mos"] <= 5
    bad = client.get(url, params={**params, "metric": "mos"}, headers=bearer(loaded["key"]))
    assert bad.status_code == 400 and "unknown metric 'mos'" in bad.json()["detail"]
    assert bad.json()["field"] == "metric"
    grouped = client.get(url, params={**params, "group_by": "ip"}, headers=bearer(loaded["key"]))
    assert grouped.status_code == 400 and "cannot group by ip" in grouped.json()["detail"]
    _, other_key = new_app()
    assert client.get(url, params=params, headers=bearer(other_key)).status_code == 403
    defs = client.get(f"/v1/apps/{loaded['app_id']}/metric-definitions", headers=bearer(loaded["key"])).json()
    assert {d["name"] for d in defs} == {m.name for m in CATALOG}


def test_nothing_measured_is_null_not_zero(services: Services) -> None:
    now = datetime.now(tz=UTC)
    empty = query_metrics(
        services.backend,
        metrics=["loss_ratio", "rtt_ms_max"],
        scope=Scope("0000000000"),
        window=TimeRange.parse(int(now.timestamp() * 1000) - 3_600_000, int(now.timestamp() * 1000)),
        interval="total",
    )
    assert empty.rows[0]["loss_ratio"] is None and empty.rows[0]["rtt_ms_max"] is None


DAY_MS = 86_400_000


def test_whole_days_come_from_the_day_rollup_and_match_the_raw_definition(
    services: Services, loaded: dict[str, Any]
) -> None:
    day0_ms = loaded["t0_ms"] // DAY_MS * DAY_MS
    window = TimeRange.parse(day0_ms - DAY_MS, day0_ms + DAY_MS)  # whole UTC days: the day table
    app_id = loaded["app_id"]
    stored = services.backend.query(
        f"SELECT sum(samples) AS n FROM {rollups.DAY_TABLE} WHERE app_id = {{app:String}}",  # noqa: S608
        {"app": app_id},
    )
    assert stored[0]["n"] == loaded["count"]  # the day view saw every sample
    sample_metrics = [m for m in CATALOG if m.source == "samples"]
    days = query_metrics(
        services.backend,
        metrics=[m.name for m in sample_metrics],
        scope=Scope(app_id),
        window=window,
        interval="1d",
    ).rows
    assert [r["ts"].astimezone(UTC) for r in days] == [datetime.fromtimestamp(day0_ms / 1000, UTC)]
    for metric in sample_metrics:
        want = direct(services, metric, app_id)[0]["v"]
        assert close(days[0][metric.name], want), f"{metric.name}: day {days[0][metric.name]} vs raw {want}"


def test_day_rollup_is_seeded_from_minutes_when_a_store_first_gets_it(store_dir: Any) -> None:
    from callscope.storage.migrations import migrate
    from callscope.storage.registry import open_backend

    backend = open_backend(f"chdb://{store_dir}/store?database=days_upgrade")
    try:
        migrate(backend)
        rollups.ensure(backend, CATALOG, retention_days=31)
        t0_ms = (int(time.time() * 1000) // MIN_MS - 30) * MIN_MS
        backend.command(
            "INSERT INTO samples (app_id, room_id, user_id, session_id, kind, direction, peer_id, ts, "
            "window_ms, rtt_ms, ingested_at) SELECT 'a', 'r', 'u', 's', 'audio', 'down', 'p', "
            "fromUnixTimestamp64Milli(toInt64({t0:Int64} + number * 5000), 'UTC'), 5000, 10.0 * number, "
            "fromUnixTimestamp64Milli({t0:Int64}, 'UTC') FROM numbers(40)",
            {"t0": t0_ms},
        )
        # A store from before daily rollups: minutes exist, days do not.
        backend.command(f"DROP VIEW {rollups.DAY_VIEW}")
        backend.command(f"DROP TABLE {rollups.DAY_TABLE}")
        rollups.ensure(backend, CATALOG, retention_days=31)
        got = backend.query(
            f"SELECT sum(samples) AS n, {rollups.merged(CATALOG['rtt_ms'])} AS rtt FROM {rollups.DAY_TABLE}"  # noqa: S608
        )[0]
        assert got["n"] == 40
        assert got["rtt"] == pytest.approx(sum(10.0 * i for i in range(40)) / 40)
        # Seeded once: a further start-up adds nothing.
        rollups.ensure(backend, CATALOG, retention_days=31)
        again = backend.query(f"SELECT sum(samples) AS n FROM {rollups.DAY_TABLE}")[0]  # noqa: S608
        assert again["n"] == 40
    finally:
        backend.command("DROP DATABASE IF EXISTS days_upgrade")
        backend.close()


def test_sdk_type_filter_selects_sessions_by_their_join(
    services: Services, client: httpx.Client, new_app: Callable[[], tuple[str, str]]
) -> None:
    app_id, key = new_app()
    t0_ms = (int(time.time() * 1000) // MIN_MS - 10) * MIN_MS
    sessions = {"s-web": ("webrtc", 100.0), "s-app": ("native", 300.0)}
    events = [
        {"room_id": "r", "user_id": s, "session_id": s, "ts": t0_ms, "type": "join", "sdk_type": sdk}
        for s, (sdk, _) in sessions.items()
    ]
    events.append(
        {"room_id": "r", "user_id": "x", "session_id": "s-x", "ts": t0_ms, "type": "join_failed"}
        | {"sdk_type": "native"}
    )
    samples = [
        {"room_id": "r", "user_id": s, "session_id": s, "ts": t0_ms + i * 5000, "kind": "audio"}
        | {"direction": "up", "window_ms": 5000, "rtt_ms": rtt}
        for s, (_, rtt) in sessions.items()
        for i in range(12)
    ]
    for path, items in (("events", events), ("samples", samples)):
        reply = client.post(f"/v1/ingest/{path}", json={path: items}, headers=bearer(key))
        assert reply.status_code == 200 and reply.json()["accepted"] == len(items), reply.text
    window = TimeRange.parse(t0_ms, t0_ms + 5 * MIN_MS)

    def total(sdk_type: tuple[str, ...]) -> dict[str, Any]:
        return query_metrics(
            services.backend,
            metrics=["rtt_ms", "join_success_rate"],
            scope=Scope(app_id),
            window=window,
            interval="total",
            filters=Filters(sdk_type=sdk_type),
        ).rows[0]

    assert total(())["rtt_ms"] == pytest.approx(200.0)
    web, native = total(("webrtc",)), total(("native",))
    assert (web["rtt_ms"], web["join_success_rate"]) == (pytest.approx(100.0), 1.0)
    assert (native["rtt_ms"], native["join_success_rate"]) == (pytest.approx(300.0), 0.5)
    params = {"start": t0_ms, "end": t0_ms + 5 * MIN_MS, "metric": "rtt_ms", "sdk_type": "flash"}
    reply = client.get(f"/v1/apps/{app_id}/metrics", params=params, headers=bearer(key))
    assert reply.status_code == 400 and reply.json()["field"] == "sdk_type"
