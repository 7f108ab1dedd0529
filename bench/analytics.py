"""Analytics query latency at scale: each metric family's typical query against hand-written SQL.

Run: .venv/bin/python bench/analytics.py [--samples 50000000] [--rounds 20] [--path DIR] [--quick]

What it measures. Four query families, each the way a surface asks for it (the analytics
function behind the route, called in-process: SQL plus Python shaping) and as the best
hand-written SQL for the same answer, sent straight to the engine with Arrow out:

  per-minute 24 h   query_metrics(interval="1m") over 24 h for the main app, 8 quality metrics
                    (reads stream_minutes); hand SQL over stream_minutes and over raw samples
  daily 31 d        query_metrics(interval="1d") over 31 whole UTC days, quality + scale + usage
                    metrics (reads stream_days); hand SQL over stream_days
  per-user          a room instance's participants (calls.participants, 24 h), then one
                    participant's per-user indicators: every stream's 1-min series over the same
                    24 h in one grouped statement (calls.session_series, the …/indicators route);
                    hand SQL: one statement for the room's sessions and one for all the user's
                    streams' series
  abnormal dist.    abnormal.queries.distribution by type and factor over 24 h (the function
                    behind GET /v1/apps/{app_id}/abnormal-events/distribution); hand SQL the same
                    GROUP BY written directly

Every round picks a random target (24 h window, 31-day window, room instance and participant, 24 h
window), runs the function once untimed (the target's first read; its time is printed as `1st`),
then times, in rotating order so machine noise hits all alike: the function, the statements it
sent in that first run replayed straight to the engine (`its SQL`: engine time, so function minus
it is Python shaping), and every hand-SQL variant. Medians and p95 are over `--rounds` rounds
after two warm-up rounds; `ratio` is the function's median over the fastest hand variant's.
Per-user's hand SQL returns the room's session rows; splitting them into instances (a few rows of
Python) is left out, which favours SQL.

Data. Calls come from bench/query.py's generator (imported from its file, not copied; see its
docstring for the shape: one main app with 80 % of the samples, 2-6 person room instances, 5-7
streams per participant reporting every 5 s), spread over 34 days instead of 7 so that 31 whole
UTC days have data. Samples are inserted in time slices through the storage layer's Arrow insert
into `samples`, so the materialized views fill `stream_minutes` and `stream_days` in the same
insert, as production ingest does. Raw-sample retention is raised to cover the span (the
production default, 14 days, would let the engine's TTL drop most of them, and the acceptance
asks for ≥ 50 M *stored* samples); the rollups keep their production retention.

Abnormal events: the real detector (`abnormal.detector.Detector`) runs over the newest
`--detect-hours` of the data; its events are then copied back in steps of that many hours over
the whole span (same rooms, users, types, factors, evidence; shifted timestamps), so every 24 h
window holds as many events as the detector finds in a day of this traffic.

Everything runs in one process: chDB binds a store to one process. `--path DIR` keeps the store
(loaded once, reused by later runs with the same DIR).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from callscope.analytics import calls, rollups
from callscope.analytics.abnormal import queries as abnormal_queries
from callscope.analytics.abnormal import store as abnormal_store
from callscope.analytics.abnormal.detector import Detector
from callscope.analytics.metrics import CATALOG
from callscope.analytics.query import Scope, query_metrics
from callscope.analytics.timerange import TimeRange
from callscope.app import build_services
from callscope.domain.samples import SERIES_MEASUREMENTS
from callscope.settings import Settings
from callscope.storage.base import StorageBackend
from callscope.storage.schema import EVENT_ATTRIBUTES


def _load_query_bench() -> Any:
    """bench/query.py as a module (bench/ is not a package): its generator is reused as is."""
    path = Path(__file__).with_name("query.py")
    spec = importlib.util.spec_from_file_location("callscope_bench_query", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while decorating
    spec.loader.exec_module(module)
    return module


qb = _load_query_bench()

MAIN_APP: str = qb.MAIN_APP
SIDE_APPS: tuple[str, ...] = qb.SIDE_APPS
US = 1_000_000
DAY_US = 86_400 * US
SPAN_DAYS = 34  # ≥ 31 whole UTC days before today, plus the partial days at both ends
SLICE_SAMPLES = 4_000_000  # generate and insert in time slices of about this many samples
WARMUP_ROUNDS = 2
TARGET_MS = 300.0
QUALITY = [
    "rtt_ms",
    "jitter_ms",
    "loss_ratio",
    "video_freeze_rate",
    "audio_freeze_rate",
    "audio_mos",
    "video_score",
    "excellent_transmission_rate",
]
DAILY = [*QUALITY, "online_users", "rooms_in_use", "media_minutes", "audio_minutes", "video_minutes"]
_NAN_SERIES = [m for m in SERIES_MEASUREMENTS if m not in ("width_px", "height_px", "freeze_ms")]
_INT_SERIES = [m for m in SERIES_MEASUREMENTS if m not in _NAN_SERIES]


# ---------------------------------------------------------------- data


def _subset(c: Any, sessions: list[int]) -> Any:
    """The sessions `sessions` of `c` (and their streams), as a Calls of their own."""
    out = qb.Calls()
    new_index = {}
    for s in sessions:
        new_index[s] = len(out.session)
        for name in ("app", "room", "user", "session", "join_us", "duration_s", "left", "failed", "quality"):
            getattr(out, name).append(getattr(c, name)[s])
    for i, s in enumerate(c.stream_session):
        if s in new_index:
            out.stream_session.append(new_index[s])
            out.stream_kind.append(c.stream_kind[i])
            out.stream_peer.append(c.stream_peer[i])
    return out


def load(backend: StorageBackend, samples: int, seed: int) -> None:
    qb.SPAN_S = SPAN_DAYS * 86_400  # plan_app spreads room instances over this span
    rng = random.Random(seed)
    end_us = (int(time.time()) // 60 - 10) * 60 * US  # the newest calls ended ~10 min ago
    c = qb.Calls()
    qb.plan_app(rng, MAIN_APP, int(samples * qb.MAIN_SHARE), end_us, c)
    for app_id in SIDE_APPS:
        qb.plan_app(rng, app_id, int(samples * (1 - qb.MAIN_SHARE) / len(SIDE_APPS)), end_us, c)
    by_start = sorted(range(len(c.session)), key=lambda s: c.join_us[s])
    slices = max(1, -(-samples // SLICE_SAMPLES))
    generate_s = insert_s = 0.0
    sample_rows = event_rows = 0
    for no, part in enumerate(np.array_split(np.array(by_start, dtype=np.int64), slices)):
        started = time.perf_counter()
        sub = _subset(c, part.tolist())
        samples_t = qb.sample_table(sub, seed + no)
        events_t = qb.event_table(sub, seed + no)
        generate_s += time.perf_counter() - started
        started = time.perf_counter()
        for offset in range(0, samples_t.num_rows, qb.INSERT_CHUNK_ROWS):
            backend.insert_arrow("samples", samples_t.slice(offset, qb.INSERT_CHUNK_ROWS))
        backend.insert_arrow("events", events_t)
        insert_s += time.perf_counter() - started
        sample_rows += samples_t.num_rows
        event_rows += events_t.num_rows
        del samples_t, events_t
    print(
        f"generated {sample_rows:,} samples, {event_rows:,} events: {len(c.session):,} sessions, "
        f"{len(c.stream_session):,} streams, {len(set(c.room)):,} rooms, {1 + len(SIDE_APPS)} apps, "
        f"{SPAN_DAYS} days ({generate_s:.1f} s, {slices} time slices)"
    )
    print(
        f"load: insert_arrow into samples (views fill stream_minutes and stream_days) and events, "
        f"{qb.INSERT_CHUNK_ROWS:,}-row inserts, fsync off: {insert_s:.1f} s, "
        f"{(sample_rows + event_rows) / insert_s:,.0f} rows/s"
    )


def detect(backend: StorageBackend, hours: float) -> None:
    """The real detector over the newest `hours`, then its events copied back over the span."""
    # The newest hours of data, not of the clock: the generator leaves each room quiet for a
    # while after its last call, so the store's newest sample can be hours old.
    newest_ms = int(backend.scalar("SELECT toUnixTimestamp64Milli(max(ingested_at)) FROM samples"))
    start_ms = newest_ms - int(hours * 3_600_000)
    for source in ("samples", "events"):
        abnormal_store.write_watermark(backend, source, start_ms)
    started = time.perf_counter()
    result = Detector(backend).run_until_caught_up(max_passes=10_000)
    detect_s = time.perf_counter() - started
    real = backend.query_arrow(
        "SELECT app_id, room_id, instance_id, user_id, session_id, toUnixTimestamp64Micro(ts) AS ts, "
        "type, factor, stage, location, peer_id, evidence, definition_version, "
        "toUnixTimestamp64Milli(detected_at) AS detected_at FROM abnormal_events"
    )
    oldest_us = int(backend.scalar("SELECT toUnixTimestamp64Micro(min(ts)) FROM samples"))
    step_us = int(hours * 3600 * US)
    copies = []
    for k in range(1, (newest_ms * 1000 - oldest_us) // step_us + 2):
        ts = pc.subtract(real.column("ts"), k * step_us)
        keep = pc.greater_equal(ts, oldest_us)
        shifted = real.set_column(real.schema.get_field_index("ts"), "ts", ts).filter(keep)
        if shifted.num_rows:
            copies.append(shifted)
    if copies:
        table = pa.concat_tables(copies)
        columns = {
            name: table.column(name).cast(abnormal_store.EVENTS_SCHEMA.field(name).type)
            for name in abnormal_store.EVENTS_SCHEMA.names
        }
        backend.insert_arrow(
            abnormal_store.EVENTS_TABLE, pa.table(columns, schema=abnormal_store.EVENTS_SCHEMA)
        )
    by_type = backend.query(
        "SELECT type, count() AS n FROM abnormal_events GROUP BY type ORDER BY type", None
    )
    kinds = ", ".join(f"type {r['type']}: {r['n']:,}" for r in by_type)
    print(
        f"abnormal events: the detector found {real.num_rows:,} in the newest {hours:g} h "
        f"({result.candidates:,} candidate windows, {detect_s:.1f} s); copied back in {hours:g} h steps "
        f"over the span: {sum(r['n'] for r in by_type):,} stored "
        f"({kinds})"
    )


def store_summary(backend: StorageBackend) -> int:
    rows = backend.query(
        "SELECT table, sum(rows) AS rows, count() AS parts, sum(bytes_on_disk) AS bytes FROM system.parts "
        "WHERE database = currentDatabase() AND active "
        "AND table IN ('samples', 'stream_minutes', 'stream_days', 'events', 'abnormal_events') "
        "GROUP BY table ORDER BY table",
        None,
    )
    print(
        "store: "
        + "; ".join(
            f"{r['table']} {r['rows']:,} rows/{r['parts']} parts/{r['bytes'] / 2**20:,.0f} MiB" for r in rows
        )
    )
    span = backend.query("SELECT min(ts) AS lo, max(ts) AS hi, count() AS n FROM samples", None)[0]
    print(f"samples span {span['lo']:%Y-%m-%d %H:%M} .. {span['hi']:%Y-%m-%d %H:%M} UTC")
    return int(span["n"])


# ---------------------------------------------------------------- the four families


@dataclass
class Target:
    function: Callable[[StorageBackend], int]  # the analytics path on a backend; the answer's size
    hand: dict[str, Callable[[], int]]  # hand-SQL variants; each returns the answer's size


@dataclass
class Timings:
    function_ms: list[float] = field(default_factory=list)
    function_sql_ms: list[float] = field(default_factory=list)  # the statements it sent, replayed
    statements: list[int] = field(default_factory=list)
    first_ms: list[float] = field(default_factory=list)
    hand_ms: dict[str, list[float]] = field(default_factory=dict)


def _window_params(window: TimeRange) -> dict[str, Any]:
    return {"app": MAIN_APP, "lo": window.start_us, "hi": window.end_us}


_LO = "fromUnixTimestamp64Micro({lo:Int64}, 'UTC')"
_HI = "fromUnixTimestamp64Micro({hi:Int64}, 'UTC')"


def _merged(names: list[str]) -> str:
    # Output names differ from column names: a SELECT alias would shadow a column of that name.
    return ", ".join(f"{rollups.merged(CATALOG[n])} AS `m_{n}`" for n in names)


def _raw(names: list[str]) -> str:
    return ", ".join(f"{CATALOG[n].sql()} AS `m_{n}`" for n in names)


MINUTE_ROLLUP_SQL = (
    f"SELECT minute, sum(samples) AS samples, {_merged(QUALITY)} FROM stream_minutes "  # noqa: S608
    f"WHERE app_id = {{app:String}} AND minute >= {_LO} AND minute < {_HI} GROUP BY minute ORDER BY minute"
)
MINUTE_RAW_SQL = (
    f"SELECT toStartOfMinute(ts) AS minute, count() AS samples, {_raw(QUALITY)} FROM samples "  # noqa: S608
    f"WHERE app_id = {{app:String}} AND ts >= {_LO} AND ts < {_HI} GROUP BY minute ORDER BY minute"
)
DAY_ROLLUP_SQL = (
    f"SELECT day, sum(samples) AS samples, {_merged(DAILY)} FROM stream_days "  # noqa: S608
    f"WHERE app_id = {{app:String}} AND day >= toDate({_LO}) AND day < toDate({_HI}) "
    "GROUP BY day ORDER BY day"
)
# A room's sessions in the window: events and streams aggregated once each, combined by a
# GROUP BY over their union instead of a FULL OUTER JOIN.
_ATTRS = ", ".join(EVENT_ATTRIBUTES)
ROOM_SESSIONS_SQL = f"""
SELECT session_id, any(user_id) AS user_id,
       if(sum(joins) > 0, minIf(join_ts0, joins > 0), min(first)) AS join_ts, max(last) AS last_seen,
       sum(leaves) > 0 AS left_room, maxIf(leave_ts0, leaves > 0) AS leave_ts0,
       sum(failures) > 0 AND sum(joins) = 0 AS failed,
       argMin(attributes, attr_rank) AS attributes
FROM (
  SELECT session_id, any(user_id) AS user_id, countIf(type = 'join') AS joins,
         minIf(ts, type = 'join') AS join_ts0, maxIf(ts, type = 'leave') AS leave_ts0,
         countIf(type IN ('leave', 'kicked')) AS leaves, countIf(type = 'join_failed') AS failures,
         min(ts) AS first, max(ts) AS last,
         argMinIf(({_ATTRS}), ts, type IN ('join', 'join_failed')) AS attributes, 0 AS attr_rank
  FROM events
  WHERE app_id = {{app:String}} AND room_id = {{room:String}} AND ts >= {_LO} AND ts < {_HI}
  GROUP BY session_id
  UNION ALL
  SELECT session_id, any(user_id), 0, toDateTime64(0, 6, 'UTC'), toDateTime64(0, 6, 'UTC'), 0, 0,
         min(first_ts), max(last_ts), ({", ".join("''" for _ in EVENT_ATTRIBUTES)}), 1
  FROM streams
  WHERE app_id = {{app:String}} AND room_id = {{room:String}} AND last_ts >= {_LO} AND first_ts < {_HI}
  GROUP BY session_id
)
GROUP BY session_id"""  # noqa: S608
_SERIES_NAN = ", ".join(
    f"{fn}If({m}, isFinite({m})) AS {m}_{stat}"
    for m in _NAN_SERIES
    for fn, stat in (("min", "min"), ("avg", "avg"), ("max", "max"))
)
_SERIES_INT = ", ".join(f"{stat}({m}) AS {m}_{stat}" for m in _INT_SERIES for stat in ("min", "avg", "max"))
USER_SERIES_SQL = (
    "SELECT kind, direction, peer_id, toStartOfMinute(ts) AS bucket, count() AS samples, "  # noqa: S608
    f"{_SERIES_NAN}, {_SERIES_INT} FROM samples "
    "WHERE app_id = {app:String} AND room_id = {room:String} AND session_id = {session:String} "
    f"AND ts >= {_LO} AND ts < {_HI} GROUP BY kind, direction, peer_id, bucket "
    "ORDER BY kind, direction, peer_id, bucket"
)
DISTRIBUTION_SQL = (
    "SELECT type, factor, uniqExact(room_id, user_id) AS user_count FROM abnormal_events "  # noqa: S608
    f"WHERE app_id = {{app:String}} AND ts >= {_LO} AND ts < {_HI} "
    "GROUP BY type, factor ORDER BY user_count DESC, type, factor"
)


def _rows(backend: StorageBackend, sql: str, params: dict[str, Any]) -> int:
    return int(backend.query_arrow(sql, params).num_rows)


def minute_target(backend: StorageBackend, rng: random.Random, newest_us: int) -> Target:
    # stream_minutes keeps 31 days: any day of the last 30 that the data covers.
    end_min = newest_us // (60 * US)
    start_us = rng.randint(end_min - 30 * 1440, end_min - 1440) * 60 * US
    window = TimeRange(start_us, start_us + DAY_US)
    params = _window_params(window)
    return Target(
        lambda b: len(
            query_metrics(b, metrics=QUALITY, scope=Scope(MAIN_APP), window=window, interval="1m").rows
        ),
        {
            "stream_minutes": lambda: _rows(backend, MINUTE_ROLLUP_SQL, params),
            "raw samples": lambda: _rows(backend, MINUTE_RAW_SQL, params),
        },
    )


def daily_target(backend: StorageBackend, rng: random.Random, newest_us: int) -> Target:
    end_us = (newest_us // DAY_US - rng.randint(0, 1)) * DAY_US  # 31 whole UTC days before it
    window = TimeRange(end_us - 31 * DAY_US, end_us)
    params = _window_params(window)
    return Target(
        lambda b: len(
            query_metrics(b, metrics=DAILY, scope=Scope(MAIN_APP), window=window, interval="1d").rows
        ),
        {"stream_days": lambda: _rows(backend, DAY_ROLLUP_SQL, params)},
    )


def per_user_target(
    backend: StorageBackend, rng: random.Random, instances: list[tuple[calls.RoomInstance, TimeRange]]
) -> Target:
    instance, window = rng.choice(instances)
    now = datetime.now(tz=UTC)
    members = calls.participants(
        backend,
        app_id=MAIN_APP,
        room_id=instance.room_id,
        instance_id=instance.instance_id,
        window=window,
        now=now,
    )
    chosen = rng.choice([p for p in members if p.state != "FAIL"] or members)

    def function(b: StorageBackend) -> int:
        found = calls.participants(
            b,
            app_id=MAIN_APP,
            room_id=instance.room_id,
            instance_id=instance.instance_id,
            window=window,
            now=now,
        )
        [me] = [p for p in found if p.session_id == chosen.session_id]
        streams = calls.session_series(
            b, app_id=MAIN_APP, room_id=me.room_id, session_id=me.session_id, window=window, interval="1m"
        )
        return sum(len(s["points"]) for s in streams)

    params = _window_params(window) | {"room": instance.room_id, "session": chosen.session_id}

    def hand() -> int:
        backend.query_arrow(ROOM_SESSIONS_SQL, params)
        return _rows(backend, USER_SERIES_SQL, params)

    return Target(function, {"2 statements": hand})


def abnormal_target(backend: StorageBackend, rng: random.Random, newest_us: int, oldest_us: int) -> Target:
    start_us = rng.randint(oldest_us // (60 * US), newest_us // (60 * US) - 1440) * 60 * US
    window = TimeRange(start_us, start_us + DAY_US)
    params = _window_params(window)
    return Target(
        lambda b: len(
            abnormal_queries.distribution(
                b,
                app_id=MAIN_APP,
                window=window,
                filters=abnormal_queries.Filters(),
                dimensions=("type", "factor"),
            )
        ),
        {"abnormal_events": lambda: _rows(backend, DISTRIBUTION_SQL, params)},
    )


def recent_instances(backend: StorageBackend) -> list[tuple[calls.RoomInstance, TimeRange]]:
    """Room instances of 24 h windows within the last 5 days (the per-user span limit)."""
    now = datetime.now(tz=UTC)
    now_us = int(now.timestamp() * US)
    found: list[tuple[calls.RoomInstance, TimeRange]] = []
    for step in range(8):
        start_us = now_us - int(4.5 * DAY_US) + step * DAY_US // 2
        window = TimeRange(start_us, start_us + DAY_US)
        found += [(i, window) for i in calls.room_instances(backend, app_id=MAIN_APP, window=window, now=now)]
    return found


FAMILIES = ("per-minute 24 h", "daily 31 d", "per-user", "abnormal dist.")


def measure(backend: StorageBackend, rounds: int, seed: int) -> dict[str, Timings]:
    rng = random.Random(seed + 1)
    span = backend.query(
        "SELECT toUnixTimestamp64Micro(min(ts)) AS lo, toUnixTimestamp64Micro(max(ts)) AS hi FROM samples "
        "WHERE app_id = {app:String}",
        {"app": MAIN_APP},
    )[0]
    oldest_us, newest_us = int(span["lo"]), int(span["hi"])
    instances = recent_instances(backend)
    print(f"targets: {len(instances):,} room instances in 24 h windows of the last 5 days (per-user)")
    results = {name: Timings() for name in FAMILIES}
    for round_no in range(rounds + WARMUP_ROUNDS):
        targets = {
            "per-minute 24 h": minute_target(backend, rng, newest_us),
            "daily 31 d": daily_target(backend, rng, newest_us),
            "abnormal dist.": abnormal_target(backend, rng, newest_us, oldest_us),
        }
        if instances:
            targets["per-user"] = per_user_target(backend, rng, instances)
        for name, target in targets.items():
            timings = results[name]
            # An untimed first run reads the target's pages once and records the statements the
            # function sends, so `function SQL` can replay exactly them (engine time, Arrow out).
            recorder = qb.Recorder(backend)
            started = time.perf_counter()
            target.function(recorder)
            first_ms = (time.perf_counter() - started) * 1000

            def replay(statements: list[Any] = recorder.statements) -> None:
                for sql, params in statements:
                    backend.query_arrow(sql, params)

            runs: dict[str, Callable[[], Any]] = {
                "function": lambda target=target: target.function(backend),
                "function SQL": replay,
                **target.hand,
            }
            ways = list(runs)
            turn = round_no % len(ways)
            spent: dict[str, float] = {}
            for way in ways[turn:] + ways[:turn]:
                started = time.perf_counter()
                runs[way]()
                spent[way] = (time.perf_counter() - started) * 1000
            if round_no >= WARMUP_ROUNDS:
                timings.first_ms.append(first_ms)
                timings.function_ms.append(spent["function"])
                timings.function_sql_ms.append(spent["function SQL"])
                timings.statements.append(len(recorder.statements))
                for way in target.hand:
                    timings.hand_ms.setdefault(way, []).append(spent[way])
    return results


def check_answers(backend: StorageBackend, seed: int) -> None:
    """Once: each family's function and hand SQL give answers of the same size."""
    rng = random.Random(seed + 2)
    span = backend.query(
        "SELECT toUnixTimestamp64Micro(min(ts)) AS lo, toUnixTimestamp64Micro(max(ts)) AS hi FROM samples "
        "WHERE app_id = {app:String}",
        {"app": MAIN_APP},
    )[0]
    instances = recent_instances(backend)
    targets = {
        "per-minute 24 h": minute_target(backend, rng, int(span["hi"])),
        "daily 31 d": daily_target(backend, rng, int(span["hi"])),
        "abnormal dist.": abnormal_target(backend, rng, int(span["hi"]), int(span["lo"])),
    }
    if instances:
        targets["per-user"] = per_user_target(backend, rng, instances)
    for name, target in targets.items():
        size = target.function(backend)
        for way, run in target.hand.items():
            got = run()
            assert got == size, f"{name}: function answered {size} rows, hand SQL ({way}) {got}"


def report(results: dict[str, Timings]) -> None:
    p50, p95 = qb.p50, qb.p95
    print(
        f"{'family':<16} {'function p50/p95 ms':>19} {'its SQL p50':>11} {'stmts':>5}  "
        f"{'best hand SQL':<15} {'p50/p95 ms':>13} {'ratio':>6} {'1st p50':>8}  target < {TARGET_MS:.0f} ms"
    )
    for name, t in results.items():
        if not t.function_ms:
            print(f"{name:<16} no targets")
            continue
        best = min(t.hand_ms, key=lambda way: p50(t.hand_ms[way]))
        hand = t.hand_ms[best]
        ok = "ok" if p50(t.function_ms) < TARGET_MS else "MISS"
        print(
            f"{name:<16} {p50(t.function_ms):>9.1f}/{p95(t.function_ms):<9.1f} "
            f"{p50(t.function_sql_ms):>11.1f} {statistics.median(t.statements):>5.0f}  "
            f"{best:<15} {p50(hand):>6.1f}/{p95(hand):<6.1f} "
            f"{p50(t.function_ms) / p50(hand):>6.2f} {p50(t.first_ms):>8.1f}  {ok}"
        )
    others = [(n, w, xs) for n, t in results.items() for w, xs in t.hand_ms.items() if len(t.hand_ms) > 1]
    for name, way, xs in others:
        print(f"  hand SQL variant: {name} over {way}: {p50(xs):.1f}/{p95(xs):.1f} ms")


# ---------------------------------------------------------------- wiring


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=None, help="samples to load (default 50,000,000)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (default 20)")
    parser.add_argument("--path", type=Path, default=None, help="data dir to load once and reuse")
    parser.add_argument("--quick", action="store_true", help="600,000 samples, 3 rounds, 24 h of detection")
    parser.add_argument("--detect-hours", type=float, default=None, help="detector span (default 6)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    samples = args.samples or (600_000 if args.quick else 50_000_000)
    rounds = args.rounds or (3 if args.quick else 20)
    detect_hours = args.detect_hours or (24.0 if args.quick else 6.0)
    data_dir = args.path or Path(tempfile.mkdtemp(prefix="callscope-analytics-bench-"))
    settings = Settings(
        data_dir=data_dir,
        port=qb.free_port(),
        admin_token=qb.ADMIN,
        token_secret=qb.SECRET,
        log_level="WARNING",
        fsync=False,  # loading speed only; reads do not depend on it
        sample_retention_days=SPAN_DAYS + 7,
        abnormal_detection=False,  # the bench runs the detector itself, once
    )
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    services = build_services(settings)
    backend = services.backend
    try:
        if backend.scalar("SELECT count() FROM samples WHERE app_id = {app:String}", {"app": MAIN_APP}):
            print(f"reusing the store in {data_dir} (--samples does not apply)")
            if not backend.scalar("SELECT count() FROM abnormal_events"):
                detect(backend, detect_hours)
        else:
            started = time.perf_counter()
            load(backend, samples, args.seed)
            detect(backend, detect_hours)
            print(f"load total (generate, insert, detect): {time.perf_counter() - started:.1f} s")
        qb.settle(backend)
        stored = store_summary(backend)
        print(f"stored samples: {stored:,}")
        check_answers(backend, args.seed)
        results = measure(backend, rounds, args.seed)
        print(
            f"{rounds} rounds, random targets, after {WARMUP_ROUNDS} warm-up rounds "
            f"(load average now {' '.join(f'{x:.2f}' for x in os.getloadavg())}):"
        )
        report(results)
    finally:
        services.close()
        if args.path is None:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
