"""Query latency at scale: one participant's 1 h series and a room instance's participant list.

Run: .venv/bin/python bench/query.py [--samples 10000000] [--repeats 50] [--path DIR] [--quick]

Everything runs in one process, because chDB binds a store to one process. The script opens a
store (a fresh temp dir, or `--path DIR` as the data dir, loaded once and reused on later runs),
bulk-loads synthetic calls through the storage layer's Arrow insert when the store has none,
starts the real app with uvicorn on 127.0.0.1 in a thread, and times every query three ways on
targets picked at random, interleaved (and in rotating order) so noise hits all three alike:

  http      GET through the API with an app's secret key: auth, routing, thread hop, JSON
  function  the analytics function behind the route: SQL plus Python shaping
  sql       the exact statements the function sent (recorded), straight to the engine, Arrow out

Before those three, one untimed-for-the-ratio run of the function records the statements; its
time is printed as `1st` (a target's first query in this process: the engine's caches are cold
for it, the OS page cache probably is not). Medians and p95 are over `--repeats` rounds after a
few warm-up rounds; other load on the machine shows up in all three columns of a round alike.

Data shape. One main app holds 80 % of the samples, three smaller apps the rest. Calls are
room instances of 2-6 participants (mostly 2-3) in recurring rooms whose popularity falls off
like 1/sqrt(rank), spread over 7 days. A participant stays 2 min-3 h (median 35 min) and reports
every 5 s: audio and video up, a connection sample, and audio and video down from up to two
peers (an SFU forwarding the active speakers), so 5-7 streams. Values follow a per-session
network quality (bitrate, RTT, jitter, loss, fps, freezes, concealment, CPU). Events are what
the SDK sends: join (with the device, network and place attributes), connection_state,
mic toggles, leave (missing for 5 % of sessions: crashed tabs), and join_failed for 3 %.
The ingest pipeline fills `samples` (and through its view `streams`) and `events`; the query
layer derives participant sessions and room instances from those, so those are what is loaded.
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import uvicorn

from callscope.analytics import calls, limits
from callscope.analytics.timerange import TimeRange
from callscope.api.deps import Services
from callscope.app import build_services, create_app
from callscope.errors import NotFound
from callscope.settings import Settings
from callscope.storage.base import Params, StorageBackend
from callscope.storage.schema import EVENTS, SAMPLES

ADMIN = "bench-admin-token-0123456789abcdefghijkl"
SECRET = "bench-token-secret-0123456789abcdefghijk"
MAIN_APP = "1500000001"
SIDE_APPS = ("1500000002", "1500000003", "1500000004")
MAIN_SHARE = 0.8
SPAN_S = 7 * 86_400
PERIOD_S = 5  # one sample per stream every 5 s, as the browser SDK reports
US = 1_000_000
SERIES_SPAN_S = 3_600
SERIES_LEAD_S = 600  # a series view opens up to this long before its stream
PARTICIPANTS_SPAN_S = 86_400  # the range a UI lists room instances for, and asks participants with
INSTANCE_WINDOWS = 6  # random 24 h ranges whose room instances are the participant-list targets
INSERT_CHUNK_ROWS = 500_000
WARMUP_ROUNDS = 3
MERGE_WAIT_S = 120
TARGET_MS = 50.0

PLATFORMS = [
    ("web", "Windows", "Chrome"),
    ("web", "macOS", "Safari"),
    ("android", "Android", "Chrome"),
    ("ios", "iOS", "Safari"),
    ("web", "Linux", "Firefox"),
]
NETWORKS = ["wifi", "ethernet", "4g", "5g"]
PLACES = [
    ("EU", "DE", "Frankfurt", "Deutsche Telekom"),
    ("NA", "US", "Ashburn", "Comcast"),
    ("AP", "SG", "Singapore", "Singtel"),
    ("AP", "IN", "Mumbai", "Jio"),
    ("SA", "BR", "Sao Paulo", "Vivo"),
]
# Stream kinds of a participant: (kind, direction); down streams also name the peer.
AUDIO_UP, VIDEO_UP, CONNECTION, AUDIO_DOWN, VIDEO_DOWN = range(5)
STREAM_KINDS = [
    ("audio", "up"),
    ("video", "up"),
    ("connection", "none"),
    ("audio", "down"),
    ("video", "down"),
]


# ---------------------------------------------------------------- synthetic calls


@dataclass
class Calls:
    """Sessions and their streams, as plain columns (a few thousand sessions, tens of thousands
    of streams); samples are expanded from these with numpy."""

    app: list[str] = field(default_factory=list)
    room: list[str] = field(default_factory=list)
    user: list[str] = field(default_factory=list)
    session: list[str] = field(default_factory=list)
    join_us: list[int] = field(default_factory=list)
    duration_s: list[int] = field(default_factory=list)
    left: list[bool] = field(default_factory=list)
    failed: list[bool] = field(default_factory=list)
    quality: list[float] = field(default_factory=list)  # 1 = pristine network, larger = worse
    stream_session: list[int] = field(default_factory=list)
    stream_kind: list[int] = field(default_factory=list)
    stream_peer: list[str] = field(default_factory=list)


def plan_app(rng: random.Random, app_id: str, samples: int, end_us: int, calls_out: Calls) -> None:
    """Append room instances of one app until `samples` samples are planned."""
    instances: list[list[tuple[int, int, bool]]] = []  # per instance: (join offset s, duration s, failed)
    planned = 0
    for _ in range(samples // 240 + 10):  # every instance plans ≥ 2 people x 5 streams x 24 samples
        if planned >= samples:
            break
        size = rng.choices([2, 3, 4, 5, 6], weights=[35, 30, 20, 10, 5])[0]
        members = []
        for i in range(size):
            offset = 0 if i == 0 else rng.randint(0, 300)
            duration = int(min(3 * 3600, max(120, rng.lognormvariate(math.log(35 * 60), 0.6))))
            members.append((offset, duration, False))
            planned += (3 + 2 * min(2, size - 1)) * (duration // PERIOD_S)
        if rng.random() < 0.03:
            members.append((rng.randint(0, 300), 0, True))
        instances.append(members)
    rooms = max(2, len(instances) // 4)
    weights = [1 / math.sqrt(rank + 1) for rank in range(rooms)]
    by_room: dict[int, list[list[tuple[int, int, bool]]]] = {}
    for members in instances:
        by_room.setdefault(rng.choices(range(rooms), weights=weights)[0], []).append(members)
    for room_no, room_instances in by_room.items():
        room_id = f"room-{app_id[-1]}-{room_no:05d}"
        lengths = [max(o + d for o, d, _ in m) for m in room_instances]
        # Gaps of ≥ 10 min keep instances apart; a room too busy for the span starts earlier.
        min_gap_s = 600
        free_s = max(SPAN_S - sum(lengths), min_gap_s * (len(lengths) + 1))
        shares = [rng.random() + 0.05 for _ in range(len(lengths) + 1)]
        gaps = [min_gap_s + (free_s - min_gap_s * len(shares)) * s / sum(shares) for s in shares]
        t_s = end_us // US - sum(lengths) - sum(gaps)
        # One gap more than instances: the last one is the quiet time after the last call.
        for members, length, gap in zip(room_instances, lengths, gaps, strict=False):
            t_s += gap
            start_us = int(t_s) * US
            plan_instance(rng, app_id, room_id, start_us, members, calls_out)
            t_s += length


def plan_instance(
    rng: random.Random,
    app_id: str,
    room_id: str,
    start_us: int,
    members: list[tuple[int, int, bool]],
    out: Calls,
) -> None:
    users = [f"u-{rng.getrandbits(40):010x}" for _ in members]
    publishers = [u for u, (_, _, failed) in zip(users, members, strict=True) if not failed]
    for user, (offset_s, duration_s, failed) in zip(users, members, strict=True):
        index = len(out.session)
        out.app.append(app_id)
        out.room.append(room_id)
        out.user.append(user)
        out.session.append(f"{rng.getrandbits(64):016x}")
        out.join_us.append(start_us + offset_s * US)
        out.duration_s.append(duration_s)
        out.left.append(rng.random() < 0.95)
        out.failed.append(failed)
        out.quality.append(1.0 if rng.random() < 0.8 else rng.uniform(1.3, 3.5))
        if failed:
            continue
        peers = rng.sample([p for p in publishers if p != user], min(2, len(publishers) - 1))
        kinds = [(AUDIO_UP, ""), (VIDEO_UP, ""), (CONNECTION, "")]
        kinds += [(k, p) for p in peers for k in (AUDIO_DOWN, VIDEO_DOWN)]
        for kind, peer in kinds:
            out.stream_session.append(index)
            out.stream_kind.append(kind)
            out.stream_peer.append(peer)


def sample_table(c: Calls, seed: int) -> pa.Table:
    """Every sample of every stream, sorted by time (the order ingest sees them in)."""
    rng = np.random.default_rng(seed)
    stream_session = np.array(c.stream_session, dtype=np.int64)
    counts = np.array(c.duration_s, dtype=np.int64)[stream_session] // PERIOD_S
    total = int(counts.sum())
    row_stream = np.repeat(np.arange(len(stream_session)), counts)
    first_row = np.repeat(np.cumsum(counts) - counts, counts)
    window_no = np.arange(total) - first_row
    join_us = np.array(c.join_us, dtype=np.int64)[stream_session]
    ts_us = join_us[row_stream] + (window_no + 1) * PERIOD_S * US
    order = np.argsort(ts_us, kind="stable")
    row_stream, ts_us = row_stream[order], ts_us[order]
    row_session = stream_session[row_stream]
    kind = np.array(c.stream_kind, dtype=np.int8)[row_stream]
    q = np.array(c.quality)[row_session]
    audio = (kind == AUDIO_UP) | (kind == AUDIO_DOWN)
    video = (kind == VIDEO_UP) | (kind == VIDEO_DOWN)
    media = audio | video
    up = (kind == AUDIO_UP) | (kind == VIDEO_UP)
    conn = kind == CONNECTION
    nan = np.float32("nan")

    def f32(values: Any, where: np.ndarray) -> np.ndarray:
        return np.where(where, values, nan).astype(np.float32)

    bitrate = np.where(
        audio,
        rng.normal(32, 3, total),
        np.where(video, 1300, 1500) * np.exp(rng.normal(0, 0.25, total)) / q,
    )
    loss = np.where(rng.random(total) < 0.7, 0.0, np.minimum(1.0, rng.beta(1.2, 150, total) * q))
    expected = np.where(audio, 250, np.where(video, bitrate * PERIOD_S / 9.6, 0)).astype(np.uint32)
    height = np.where(video, np.where(q < 1.4, 720, 360), 0).astype(np.uint16)
    freezes = np.where(kind == VIDEO_DOWN, rng.poisson(0.05 * q), 0).astype(np.uint32)
    limited = (kind == VIDEO_UP) & (rng.random(total) < np.where(q > 1.5, 0.3, 0.02))
    relayed = (rng.random(len(c.session)) < 0.1)[row_session]  # via a TURN server

    def strings(per_session: list[str] | None = None, per_stream: list[str] | None = None) -> pa.Array:
        # take() copies in C++: 10 M strings without 10 M Python objects.
        if per_session is not None:
            return pc.take(pa.array(per_session), pa.array(row_session))
        return pc.take(pa.array(per_stream), pa.array(row_stream))

    kind_names = [STREAM_KINDS[k][0] for k in c.stream_kind]
    direction_names = [STREAM_KINDS[k][1] for k in c.stream_kind]
    columns = {
        "app_id": strings(c.app),
        "room_id": strings(c.room),
        "user_id": strings(c.user),
        "session_id": strings(c.session),
        "kind": strings(per_stream=kind_names),
        "direction": strings(per_stream=direction_names),
        "peer_id": strings(per_stream=c.stream_peer),
        "stream_id": pa.repeat("", total),
        "source": pa.repeat("client", total),
        "ts": pa.array(ts_us, type=pa.timestamp("us", tz="UTC")),
        "window_ms": np.full(total, PERIOD_S * 1000, dtype=np.uint32),
        "bitrate_kbps": bitrate.astype(np.float32),
        "rtt_ms": f32(40 * q * np.exp(rng.normal(0, 0.35, total)), up | conn),
        "jitter_ms": f32(rng.gamma(2, 1.5, total) * q, media),
        "loss_ratio": f32(loss, media),
        "packets_expected": expected,
        "packets_lost": np.round(expected * np.where(media, loss, 0)).astype(np.uint32),
        "width_px": (height.astype(np.uint32) * 16 // 9).astype(np.uint16),
        "height_px": height,
        "fps": f32(np.clip(rng.normal(29, 1.5, total) / q, 1, 30), video),
        "freeze_count": freezes,
        "freeze_ms": (freezes * rng.integers(200, 800, total)).clip(0, PERIOD_S * 1000).astype(np.uint32),
        "concealment_ratio": f32(np.minimum(1, rng.beta(1, 300, total) * q), kind == AUDIO_DOWN),
        "app_cpu_ratio": f32(rng.beta(2, 12, total), conn),
        "system_cpu_ratio": f32(rng.beta(3, 6, total), conn),
        "quality_limitation": pc.take(pa.array(["none", "bandwidth"]), pa.array(limited.astype(np.int8))),
        "cpu_limited_ratio": f32(0.0, kind == VIDEO_UP),
        "bandwidth_limited_ratio": f32(np.where(limited, rng.random(total), 0.0), kind == VIDEO_UP),
        "relayed": (relayed & conn).astype(np.uint8),
        "transport": pc.take(pa.array(["", "udp", "tcp"]), pa.array(conn * (1 + relayed))),
        "ingested_at": pa.array(ts_us // 1000 + 1200, type=pa.timestamp("ms", tz="UTC")),
    }
    return pa.Table.from_pydict(columns, schema=SAMPLES)


def event_table(c: Calls, seed: int) -> pa.Table:
    rng = random.Random(seed)
    rows: dict[str, list[Any]] = {name: [] for name in EVENTS.names}
    # Unset strings are '', unset numbers NaN ("not measured"), as ingest stores them.
    unset = {f.name: "" if pa.types.is_string(f.type) else math.nan for f in EVENTS}

    def add(s: int, ts_us: int, type_: str, **values: str) -> None:
        base = {"app_id": c.app[s], "room_id": c.room[s], "user_id": c.user[s], "session_id": c.session[s]}
        for name in EVENTS.names:
            rows[name].append(base.get(name, values.get(name, unset[name])))
        rows["ts"][-1] = ts_us
        rows["type"][-1] = type_
        rows["source"][-1] = "client"
        rows["ingested_at"][-1] = ts_us // 1000 + 800

    for s in range(len(c.session)):
        platform, os_name, browser = rng.choice(PLATFORMS)
        region, country, city, isp = rng.choice(PLACES)
        attributes = {
            "device": rng.choice(["", "MacBookPro18,3", "Pixel 8", "iPhone15,2", "Dell XPS 13"]),
            "platform": platform,
            "os": os_name,
            "browser": browser,
            "sdk_name": "callscope-js",
            "sdk_version": rng.choice(["1.4.2", "1.5.0"]),
            "sdk_type": "webrtc",
            "network_type": rng.choice(NETWORKS),
            "ip": f"198.51.100.{rng.randint(1, 254)}",
            "region": region,
            "country": country,
            "city": city,
            "isp": isp,
        }
        join = c.join_us[s]
        if c.failed[s]:
            add(s, join, "join_failed", reason="ice failed", **attributes)
            continue
        add(s, join, "join", **attributes)
        add(s, join + 800_000, "connection_state", state="connected")
        end = join + c.duration_s[s] * US
        for _ in range(rng.randint(0, 3)):
            off = rng.randint(join + US, max(join + US, end - 60 * US))
            add(s, off, "mic_off")
            add(s, off + rng.randint(5, 60) * US, "mic_on")
        if c.left[s]:
            add(s, end + 2 * US, "leave", reason="hangup")
    return pa.Table.from_pydict(rows, schema=EVENTS)


def load(backend: StorageBackend, samples: int, seed: int) -> None:
    rng = random.Random(seed)
    end_us = (int(time.time()) // 60 - 10) * 60 * US  # the newest calls ended ~10 min ago
    c = Calls()
    plan_app(rng, MAIN_APP, int(samples * MAIN_SHARE), end_us, c)
    for app_id in SIDE_APPS:
        plan_app(rng, app_id, int(samples * (1 - MAIN_SHARE) / len(SIDE_APPS)), end_us, c)
    started = time.perf_counter()
    samples_t = sample_table(c, seed)
    events_t = event_table(c, seed)
    built_s = time.perf_counter() - started
    rooms = len(set(c.room))
    print(
        f"generated {samples_t.num_rows:,} samples, {events_t.num_rows:,} events: "
        f"{len(c.session):,} sessions, {len(c.stream_session):,} streams, {rooms:,} rooms, "
        f"{1 + len(SIDE_APPS)} apps ({built_s:.1f} s)"
    )
    started = time.perf_counter()
    for offset in range(0, samples_t.num_rows, INSERT_CHUNK_ROWS):
        backend.insert_arrow("samples", samples_t.slice(offset, INSERT_CHUNK_ROWS))
    backend.insert_arrow("events", events_t)
    load_s = time.perf_counter() - started
    rows = samples_t.num_rows + events_t.num_rows
    print(
        f"bulk load (storage layer insert_arrow, {INSERT_CHUNK_ROWS:,}-row inserts, fsync off): "
        f"{rows / load_s:,.0f} rows/s ({load_s:.1f} s)"
    )


def settle(backend: StorageBackend) -> None:
    """Wait (bounded) for background merges, so timings see the parts a live store would."""
    deadline = time.monotonic() + MERGE_WAIT_S
    while time.monotonic() < deadline:
        merging = backend.scalar(
            "SELECT count() FROM system.merges WHERE database = currentDatabase() AND table = 'samples'"
        )
        if not merging:
            break
        time.sleep(1)
    [parts] = backend.query(
        "SELECT count() AS parts, sum(rows) AS rows, sum(bytes_on_disk) AS disk_bytes FROM system.parts "
        "WHERE database = currentDatabase() AND table = 'samples' AND active"
    )
    print(
        f"samples table: {parts['rows']:,} rows in {parts['parts']} active parts, "
        f"{parts['disk_bytes'] / 2**20:,.0f} MiB on disk"
    )


# ---------------------------------------------------------------- measuring


class Recorder(StorageBackend):
    """Passes reads through and remembers them, so `sql` times exactly what the function sent."""

    def __init__(self, inner: StorageBackend) -> None:
        self.inner = inner
        self.statements: list[tuple[str, Params | None]] = []

    def query_arrow(self, sql: str, params: Params | None = None) -> pa.Table:
        self.statements.append((sql, params))
        return self.inner.query_arrow(sql, params)

    def command(self, sql: str, params: Params | None = None) -> None:
        raise AssertionError("the query layer only reads")

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        raise AssertionError("the query layer only reads")

    def insert_encoded(self, table: str, columns: Sequence[str], body: bytes, fmt: str) -> None:
        raise AssertionError("the query layer only reads")

    def close(self) -> None:
        pass


@dataclass
class Case:
    name: str
    http_path: str
    http_params: dict[str, Any]
    call: Callable[[StorageBackend], list[Any]]


@dataclass
class Timings:
    http_ms: list[float] = field(default_factory=list)
    function_ms: list[float] = field(default_factory=list)
    sql_ms: list[float] = field(default_factory=list)
    first_ms: list[float] = field(default_factory=list)  # the function on a target's first query


def series_cases(stream: dict[str, Any], rng: random.Random) -> list[Case]:
    stream_start_ms = int(stream["first_ts"].timestamp() * 1000)
    # A 1 h view that opens up to SERIES_LEAD_S before the stream.
    start_ms = stream_start_ms - rng.randint(0, SERIES_LEAD_S) * 1000
    window = TimeRange(start_ms * 1000, (start_ms + SERIES_SPAN_S * 1000) * 1000)
    path = f"/v1/apps/{MAIN_APP}/rooms/{stream['room_id']}/sessions/{stream['session_id']}/series"
    cases = []
    for interval in ("raw", "10s", "1m"):

        def call(b: StorageBackend, interval: Any = interval) -> list[Any]:
            return calls.series(
                b,
                app_id=MAIN_APP,
                room_id=stream["room_id"],
                session_id=stream["session_id"],
                kind=stream["kind"],
                direction=stream["direction"],
                peer_id=stream["peer_id"],
                window=window,
                interval=interval,
            )

        params = {
            "start": start_ms,
            "end": start_ms + SERIES_SPAN_S * 1000,
            "kind": stream["kind"],
            "direction": stream["direction"],
            "peer_id": stream["peer_id"],
            "interval": interval,
        }
        cases.append(Case(f"series 1 h {interval}", path, params, call))
    return cases


def participants_case(target: tuple[calls.RoomInstance, TimeRange]) -> Case:
    instance, window = target
    now = datetime.now(tz=UTC)

    def call(b: StorageBackend) -> list[Any]:
        return calls.participants(
            b,
            app_id=MAIN_APP,
            room_id=instance.room_id,
            instance_id=instance.instance_id,
            window=window,
            now=now,
        )

    path = f"/v1/apps/{MAIN_APP}/rooms/{instance.room_id}/instances/{instance.instance_id}/participants"
    params = {"start": window.start_us // 1000, "end": window.end_us // 1000}
    return Case("participants 24 h", path, params, call)


def pick_targets(
    backend: StorageBackend, rng: random.Random, repeats: int
) -> tuple[list[dict[str, Any]], list[tuple[calls.RoomInstance, TimeRange]]]:
    # Per-user series reach back at most 5 days (limits.PER_USER, as SparkRTC's), and the data
    # spans 7: a stream older than that, less how early a view may open and an hour of slack
    # for a long run, would be refused (it failed this benchmark's test now and then).
    max_age_s = (limits.PER_USER.max_age_s or 0) - SERIES_LEAD_S - 3_600
    streams = backend.query(
        "SELECT room_id, session_id, kind, direction, peer_id, min(first_ts) AS first_ts "
        "FROM streams WHERE app_id = {app:String} "
        "GROUP BY room_id, session_id, kind, direction, peer_id "
        "HAVING first_ts >= now64(6) - toIntervalSecond({max_age_s:UInt32})",
        {"app": MAIN_APP, "max_age_s": max_age_s},
    )
    span = backend.query(
        "SELECT min(ts) AS lo, max(ts) AS hi FROM events WHERE app_id = {app:String}", {"app": MAIN_APP}
    )[0]
    lo_ms, hi_ms = int(span["lo"].timestamp() * 1000), int(span["hi"].timestamp() * 1000)
    now = datetime.now(tz=UTC)
    instances: list[tuple[calls.RoomInstance, TimeRange]] = []
    started = time.perf_counter()
    for _ in range(INSTANCE_WINDOWS):
        start_ms = rng.randint(lo_ms, max(lo_ms, hi_ms - PARTICIPANTS_SPAN_S * 1000))
        window = TimeRange(start_ms * 1000, (start_ms + PARTICIPANTS_SPAN_S * 1000) * 1000)
        found = calls.room_instances(backend, app_id=MAIN_APP, window=window, now=now)
        instances += [(i, window) for i in found]
    listing_ms = (time.perf_counter() - started) * 1000 / INSTANCE_WINDOWS
    print(
        f"targets: {len(streams):,} streams, {len(instances):,} room instances in {INSTANCE_WINDOWS} "
        f"random 24 h ranges (listing them: {listing_ms:.0f} ms per range, untimed setup)"
    )
    return [rng.choice(streams) for _ in range(repeats)], [rng.choice(instances) for _ in range(repeats)]


def measure(
    backend: StorageBackend, client: httpx.Client, key: str, repeats: int, seed: int
) -> dict[str, Timings]:
    rng = random.Random(seed + 1)
    streams, instances = pick_targets(backend, rng, repeats + WARMUP_ROUNDS)
    results: dict[str, Timings] = {}
    headers = {"Authorization": f"Bearer {key}"}
    for round_no in range(repeats + WARMUP_ROUNDS):
        cases = [*series_cases(streams[round_no], rng), participants_case(instances[round_no])]
        for case in cases:
            timings = results.setdefault(case.name, Timings())
            # An untimed run records the statements the function sends and reads the target's
            # pages once, so no way of the three pays for a cold first read.
            recorder = Recorder(backend)
            started = time.perf_counter()
            expected = len(case.call(recorder))
            first_ms = (time.perf_counter() - started) * 1000
            spent: dict[str, float] = {}
            ways = ["http", "function", "sql"]
            for way in ways[round_no % 3 :] + ways[: round_no % 3]:  # rotate who goes first
                started = time.perf_counter()
                if way == "http":
                    response = client.get(case.http_path, params=case.http_params, headers=headers)
                    response.raise_for_status()
                    body = orjson.loads(response.content)  # not stdlib json: time the server
                    got = len(body.get("points", body.get("participants", [])))
                    assert got == expected, (case.name, got, expected)
                elif way == "function":
                    case.call(backend)
                else:
                    for sql, params in recorder.statements:
                        backend.query_arrow(sql, params)
                spent[way] = (time.perf_counter() - started) * 1000
            if round_no >= WARMUP_ROUNDS:
                timings.http_ms.append(spent["http"])
                timings.function_ms.append(spent["function"])
                timings.sql_ms.append(spent["sql"])
                timings.first_ms.append(first_ms)
    return results


def p50(xs: list[float]) -> float:
    return statistics.median(xs)


def p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20, method="inclusive")[18] if len(xs) > 1 else xs[0]


def report(results: dict[str, Timings]) -> None:
    print(
        f"{'query':<20} {'http p50/p95 ms':>16} {'function p50/p95':>17} {'sql p50/p95':>13}"
        f" {'http/sql':>9} {'func/sql':>9} {'1st p50':>8}  target"
    )
    for name, t in results.items():
        ok = "ok" if p50(t.http_ms) < TARGET_MS else f"SLOW (>= {TARGET_MS:.0f} ms)"
        print(
            f"{name:<20} {p50(t.http_ms):>8.1f}/{p95(t.http_ms):<7.1f} "
            f"{p50(t.function_ms):>8.1f}/{p95(t.function_ms):<8.1f} "
            f"{p50(t.sql_ms):>6.1f}/{p95(t.sql_ms):<6.1f} "
            f"{p50(t.http_ms) / p50(t.sql_ms):>9.2f} {p50(t.function_ms) / p50(t.sql_ms):>9.2f} "
            f"{p50(t.first_ms):>8.1f}  {ok}"
        )


# ---------------------------------------------------------------- wiring


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def ensure_app(services: Services, app_id: str) -> str:
    try:
        services.tenancy.get_app(app_id)
    except NotFound:
        services.tenancy.create_app(f"bench {app_id}", app_id=app_id)
    return services.tenancy.create_key(app_id)


def serve(services: Services, settings: Settings) -> Callable[[], None]:
    """Start the app in a thread; returns what stops it and waits for its shutdown, so the
    background detector has stopped before the store closes (it logged failed passes on a
    closed store otherwise)."""
    config = uvicorn.Config(
        create_app(settings, services),
        host="127.0.0.1",
        port=settings.port,
        log_config=None,
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="bench-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.05)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=30)

    return stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=None, help="samples to load (default 10,000,000)")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds (default 50, at most 1000)")
    parser.add_argument("--path", type=Path, default=None, help="data dir to load once and reuse")
    parser.add_argument("--quick", action="store_true", help="200,000 samples and 10 rounds")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    samples = args.samples or (200_000 if args.quick else 10_000_000)
    repeats = min(1000, args.repeats or (10 if args.quick else 50))
    data_dir = args.path or Path(tempfile.mkdtemp(prefix="callscope-query-bench-"))
    settings = Settings(
        data_dir=data_dir,
        port=free_port(),
        admin_token=ADMIN,
        token_secret=SECRET,
        log_level="WARNING",
        fsync=False,  # loading speed only; reads do not depend on it
        # Its first pass over the freshly loaded days takes minutes and would run beside the
        # timed queries; bench/analytics.py measures detection.
        abnormal_detection=False,
    )
    services = build_services(settings)
    try:
        stored = services.backend.scalar(
            "SELECT count() FROM samples WHERE app_id = {app:String}", {"app": MAIN_APP}
        )
        if stored:
            print(f"reusing the store in {data_dir} (--samples does not apply)")
        else:
            load(services.backend, samples, args.seed)
        settle(services.backend)
        key = ensure_app(services, MAIN_APP)
        for app_id in SIDE_APPS:
            ensure_app(services, app_id)
        services.auth.refresh()
        stop_server = serve(services, settings)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{settings.port}", timeout=60) as client:
                results = measure(services.backend, client, key, repeats, args.seed)
        finally:
            stop_server()
        print(f"{repeats} rounds, random targets, after {WARMUP_ROUNDS} warm-up rounds:")
        report(results)
    finally:
        services.close()
        if args.path is None:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
