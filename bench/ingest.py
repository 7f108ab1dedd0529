"""Ingest throughput over HTTP (acknowledged = durable) vs raw bulk insert, same store.

Run: .venv/bin/python bench/ingest.py [--samples 1000000] [--reports 60000] [--clients 1024] [--batch 100]

Each round (`--rounds`, 3) measures three things back to back, so that all three see the
machine at the same speed (on this shared 2-core machine, the same code measured a third less
in one HTTP phase than a minute later):
1. HTTP: `callscope serve` in its own process on loopback, driven by a minimal HTTP/1.1 client
   (pre-encoded bodies over keep-alive connections, so the client spends little of the
   machine's two cores): normalized samples to /v1/ingest/samples.
2. Raw: the server stopped, this process opens the same store and bulk-inserts rows with the
   engine's fastest path (Arrow, as many concurrent inserts as the server has writer threads),
   once the merges the HTTP phase left have finished: at least as many rows as HTTP stored, and
   for at least as long as the HTTP phase ran, so both rates include the merges they cause.
3. HTTP again on a fresh server with rollups and abnormal-event detection off: what they cost
   ingest (issue: no more than 25 % fewer samples/s).
The first round also posts raw Chromium-shaped getStats() reports to /v1/ingest/webrtc (built
from the real fixture, see `webrtc_bodies`). Every round's numbers are printed, then their
medians: the ratio printed last is the median of the rounds' ratios. Until session 14 the raw
phase inserted only as many rows as HTTP (1-3 s for 1 M rows), and whether a merge landed inside
it moved its rate between 370 k and 900 k rows/s on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pyarrow as pa

from callscope.storage.base import StorageBackend

FIXTURE = Path(__file__).parent.parent / "tests" / "fixtures" / "stats" / "chrome" / "loopback_two_pc.json"
ADMIN = "bench-admin-token-0123456789abcdefghijkl"
SECRET = "bench-token-secret-0123456789abcdefghijk"


def sample_dict(session: int, ts_ms: float) -> dict[str, object]:
    return {
        "room_id": f"room-{session // 10}",
        "user_id": f"user-{session}",
        "session_id": f"s-{session}",
        "ts": ts_ms,
        "kind": "video",
        "direction": "down",
        "peer_id": f"user-{session + 1}",
        "window_ms": 5000,
        "bitrate_kbps": 1200.5,
        "rtt_ms": 42.0,
        "jitter_ms": 3.5,
        "loss_ratio": 0.01,
        "width_px": 1280,
        "height_px": 720,
        "fps": 29.5,
        "freeze_ms": 0,
    }


def build_bodies(total: int, batch: int, start_ms: int, sessions: int = 500) -> list[bytes]:
    """Reports of `batch` samples; each session's samples 1 ms apart, so none is a duplicate."""
    bodies = []
    for b in range(total // batch):
        session, round_no = b % sessions, b // sessions
        items = [sample_dict(session, start_ms + round_no * batch + i) for i in range(batch)]
        bodies.append(orjson.dumps({"samples": items}))
    return bodies


def sfu_report_template() -> list[dict[str, Any]]:
    """One real Chromium connection's reports, shaped like an SFU client's: ~8 KB, 7 streams.

    From the loopback fixture's connection "a" (audio+video up and down): the selected candidate
    pair and its two candidates only (a settled connection, not the gathering-time list), no
    certificates, and the inbound pair duplicated under other ids as a second remote
    participant. Streams per window: 2 up, 4 down, 1 connection.
    """
    reports = [r for r in orjson.loads(FIXTURE.read_bytes()) if r["pc"] == "a"]
    shaped = []
    for report in reports:
        stats = {s["id"]: s for s in report["stats"]}
        transport = next(s for s in stats.values() if s["type"] == "transport")
        pair = stats[transport["selectedCandidatePairId"]]
        keep = {pair["id"], pair["localCandidateId"], pair["remoteCandidateId"]}
        kept = [
            s
            for s in stats.values()
            if s["type"] not in ("candidate-pair", "local-candidate", "remote-candidate", "certificate")
            or s["id"] in keep
        ]
        second = []
        for s in kept:
            if s["type"] == "inbound-rtp":
                clone = copy.deepcopy(s)
                clone["id"] = f"{s['id']}-2"
                clone["mid"] = f"{s.get('mid', '')}2"
                clone["ssrc"] = s["ssrc"] + 1
                second.append(clone)
        shaped.append({"ts": report["ts"], "stats": kept + second})
    return shaped


def webrtc_bodies(
    template: list[dict[str, Any]], sessions: int, batch: int, start_ms: int
) -> list[list[bytes]]:
    """Bodies per round: round k carries report k of every session, `batch` sessions per body.

    A connection's reports must arrive in order, so the rounds are sent one after another and
    each session's report k is shifted in time with all of its stats timestamps.
    """
    rounds = []
    for k, report in enumerate(template):
        items = []
        for session in range(sessions):
            ts_ms = start_ms + session * 7 + k * 1000
            shift_ms = ts_ms - report["ts"]
            stats = [
                {**s, "timestamp": s["timestamp"] + shift_ms} if "timestamp" in s else s
                for s in report["stats"]
            ]
            items.append(
                {
                    "room_id": f"room-{session // 10}",
                    "user_id": f"user-{session}",
                    "session_id": f"s-{session}",
                    "ts": ts_ms,
                    "pc_id": "sfu",
                    "peer_id": "sfu",
                    "stats": stats,
                }
            )
        rounds.append([orjson.dumps({"reports": items[i : i + batch]}) for i in range(0, sessions, batch)])
    return rounds


async def client(
    port: int, key: str, bodies: list[bytes], latencies: list[float], endpoint: str = "samples"
) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    accepted = 0
    for body in bodies:
        head = (
            f"POST /v1/ingest/{endpoint} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        started = time.perf_counter()
        writer.write(head + body)
        # The whole header block in one read, not a line at a time: the client shares the
        # server's two cores, and each await costs it CPU.
        header_block = await reader.readuntil(b"\r\n\r\n")
        status_line, _, fields = header_block.partition(b"\r\n")
        start = fields.lower().index(b"content-length:") + len(b"content-length:")
        length = int(fields[start : fields.index(b"\r\n", start)])
        payload = await reader.readexactly(length)
        latencies.append(time.perf_counter() - started)
        if b" 200 " not in status_line:
            raise RuntimeError(f"{status_line!r} {payload[:300]!r}")
        accepted += orjson.loads(payload)["accepted"]
    writer.close()
    return accepted


async def drive(
    port: int, key: str, bodies: list[bytes], clients: int, endpoint: str = "samples"
) -> tuple[int, float, list[float]]:
    return await drive_shares(port, key, [bodies[i::clients] for i in range(clients)], endpoint)


async def drive_shares(
    port: int, key: str, shares: list[list[bytes]], endpoint: str
) -> tuple[int, float, list[float]]:
    """Each share is one client's bodies, sent in order, each after the previous was answered."""
    latencies: list[float] = []
    started = time.perf_counter()
    counts = await asyncio.gather(*(client(port, key, share, latencies, endpoint) for share in shares))
    return sum(counts), time.perf_counter() - started, latencies


def drive_webrtc(
    port: int, key: str, rounds: list[list[bytes]], clients: int
) -> tuple[int, float, list[float]]:
    """Body j of every round carries the same sessions, so client j % clients sends them round
    after round: each connection's reports arrive in order with no barrier between rounds."""
    shares: list[list[bytes]] = [[] for _ in range(clients)]
    for bodies in rounds:
        for j, body in enumerate(bodies):
            shares[j % clients].append(body)
    return asyncio.run(drive_shares(port, key, [share for share in shares if share], "webrtc"))


def cpu_s(pid: int) -> tuple[float, float]:
    """CPU seconds used so far by the whole server process and by its main (event loop) thread.

    CPU per item is less sensitive than throughput to other work on a shared machine (it still
    moved up to 40 % between identical runs: merges, GC, GIL contention; repeat runs).
    """

    def read(path: str) -> float:
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    return read(f"/proc/{pid}/stat"), read(f"/proc/{pid}/task/{pid}/stat")


def describe_cpu(before: tuple[float, float], after: tuple[float, float], items: int, unit: str) -> str:
    process_us = (after[0] - before[0]) / items * 1e6
    loop_us = (after[1] - before[1]) / items * 1e6
    return f"server CPU {process_us:,.1f} µs/{unit} (event loop thread {loop_us:,.1f})"


def describe(latencies: list[float]) -> str:
    q = statistics.quantiles(latencies, n=100)
    return f"p50 {q[49] * 1000:.1f} ms, p95 {q[94] * 1000:.1f} ms"


def stored_samples(store: Path, app_id: str, backend: StorageBackend | None = None) -> int:
    from callscope.storage.registry import open_backend

    opened = backend or open_backend(f"chdb://{store}")
    try:
        rows = opened.query("SELECT count() AS n FROM samples WHERE app_id = {app:String}", {"app": app_id})
        return int(rows[0]["n"])
    finally:
        if backend is None:
            opened.close()


def start_server(
    data_dir: Path, port: int, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CALLSCOPE_DATA_DIR": str(data_dir),
        "CALLSCOPE_PORT": str(port),
        "CALLSCOPE_ADMIN_TOKEN": ADMIN,
        "CALLSCOPE_TOKEN_SECRET": SECRET,
        "CALLSCOPE_LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    proc = subprocess.Popen([sys.executable, "-m", "callscope", "serve"], env=env)
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def create_app(port: int, name: str) -> dict[str, str]:
    created: dict[str, str] = httpx.post(
        f"http://127.0.0.1:{port}/v1/admin/apps",
        json={"name": name},
        headers={"Authorization": f"Bearer {ADMIN}"},
    ).json()
    return created


def commit_totals(port: int) -> tuple[float, float, float]:
    """(commits, seconds spent committing, rows stored) so far, from the server's /metrics."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {ADMIN}"}).text
    values = {"commits": 0.0, "seconds": 0.0, "rows": 0.0}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name == "callscope_writer_commit_seconds_count":
            values["commits"] += float(value)
        elif name == "callscope_writer_commit_seconds_sum":
            values["seconds"] += float(value)
        elif name.startswith("callscope_rows_stored_total"):
            values["rows"] += float(value)
    return values["commits"], values["seconds"], values["rows"]


def describe_commits(before: tuple[float, float, float], after: tuple[float, float, float]) -> str:
    commits, seconds, rows = (a - b for a, b in zip(after, before, strict=True))
    each_ms = seconds / max(commits, 1) * 1000
    return f"{commits:,.0f} group commits, {rows / max(commits, 1):,.0f} rows and {each_ms:,.0f} ms each"


def samples_phase(
    port: int, pid: int, args: argparse.Namespace, start_ms: int, app: str = "bench"
) -> tuple[float, str]:
    """Warm up, then post `args.samples` samples into a new app; returns samples/s and the
    printed details."""
    key = create_app(port, app)["api_key"]
    asyncio.run(drive(port, key, build_bodies(20_000, args.batch, start_ms - 1_000_000), args.clients))
    bodies = build_bodies(args.samples, args.batch, start_ms)
    cpu_before, commits_before = cpu_s(pid), commit_totals(port)
    client_before = time.process_time()
    accepted, elapsed, latencies = asyncio.run(drive(port, key, bodies, args.clients))
    client_us = (time.process_time() - client_before) / max(accepted, 1) * 1e6
    assert accepted == len(bodies) * args.batch, f"only {accepted} accepted"
    cpu = describe_cpu(cpu_before, cpu_s(pid), accepted, "sample") + f"; client {client_us:.1f} µs"
    commits = describe_commits(commits_before, commit_totals(port))
    rate = accepted / elapsed
    return rate, (
        f"{rate:>10,.0f} samples/s ({accepted:,} samples, {args.clients} clients, "
        f"{args.batch}/request, {describe(latencies)})\n{'':35}{cpu}\n{'':35}{commits}"
    )


# The issue asks what rollups and abnormal-event detection cost ingest: the same phase against a
# server with both off (setting `rollups`: the views are dropped; `abnormal_detection`).
WITHOUT_DERIVED = {"CALLSCOPE_ROLLUPS": "false", "CALLSCOPE_ABNORMAL_DETECTION": "false"}


def baseline_phase(args: argparse.Namespace, start_ms: int) -> tuple[float, str]:
    data_dir = Path(tempfile.mkdtemp(prefix="callscope-bench-"))
    port = 18_000 + (os.getpid() + 1) % 1000
    proc = start_server(data_dir, port, WITHOUT_DERIVED)
    try:
        return samples_phase(port, proc.pid, args, start_ms)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(data_dir, ignore_errors=True)


MERGE_WAIT_S = 120


def wait_for_merges(backend: StorageBackend) -> float:
    """Let the merges the earlier phases left behind finish (bounded: seconds waited), so the raw
    rate pays only for its own inserts and their merges. The HTTP phases pay for theirs: the
    engine merges their parts while they run (one part per table and group commit). Quiet means
    none running at three checks in a row: the engine picks merges every few seconds."""
    started = time.monotonic()
    quiet = 0
    while quiet < 3 and time.monotonic() - started < MERGE_WAIT_S:
        quiet = 0 if backend.scalar("SELECT count() FROM system.merges") else quiet + 1
        time.sleep(0.5)
    return time.monotonic() - started


# The raw phase runs at least as long as its round's HTTP phase, and inserts at most this many
# batches (a bound on the loop whatever the machine's speed).
RAW_MAX_BATCHES = 400


def raw_insert(
    store: Path, rows: int, batch_rows: int, inserters: int, run: int = 0, min_seconds: float = 0.0
) -> tuple[float, float, int]:
    """Rows/s of `inserters` threads each inserting `batch_rows`-row Arrow tables, the seconds
    waited beforehand for earlier merges, and the rows inserted.

    The threads insert at least `rows` rows, and go on until `min_seconds` have passed: measured
    over as long as the HTTP phase, the raw rate pays for the merges its own parts cause, as the
    HTTP rate does. Over a 1-3 s burst, whether a merge landed inside it moved the rate between
    370 k and 900 k rows/s on this machine (docs/operations.md, session 14).

    One insert runs largely on one core, so the server commits with two writer threads
    (setting `writer_threads`); the raw rate compared with HTTP uses as many inserters."""
    import pyarrow.compute as pc

    from callscope.storage.registry import open_backend
    from callscope.storage.schema import SAMPLES

    app = f"raw-{inserters}-{run}"

    backend = open_backend(f"chdb://{store}")
    now_us = int(time.time() * 1e6) - 3_600_000_000
    n = batch_rows
    columns = {
        "app_id": [app] * n,
        "room_id": [f"room-{i % 50}" for i in range(n)],
        "user_id": [f"user-{i % 500}" for i in range(n)],
        "session_id": [f"s-{i % 500}" for i in range(n)],
        "kind": ["video"] * n,
        "direction": ["down"] * n,
        "peer_id": ["p"] * n,
        "stream_id": [""] * n,
        "source": ["client"] * n,
        "window_ms": [5000] * n,
        "bitrate_kbps": [1200.5] * n,
        "rtt_ms": [42.0] * n,
        "jitter_ms": [3.5] * n,
        "loss_ratio": [0.01] * n,
        "packets_expected": [0] * n,
        "packets_lost": [0] * n,
        "width_px": [1280] * n,
        "height_px": [720] * n,
        "fps": [29.5] * n,
        "freeze_count": [0] * n,
        "freeze_ms": [0] * n,
        "concealment_ratio": [float("nan")] * n,
        "app_cpu_ratio": [float("nan")] * n,
        "system_cpu_ratio": [float("nan")] * n,
        "quality_limitation": ["none"] * n,
        "cpu_limited_ratio": [float("nan")] * n,
        "bandwidth_limited_ratio": [float("nan")] * n,
        "relayed": [0] * n,
        "transport": [""] * n,
        "ingested_at": [now_us // 1000] * n,
    }
    first = pa.Table.from_pydict(columns | {"ts": [now_us + i for i in range(n)]}, schema=SAMPLES)
    ts_at = first.schema.get_field_index("ts")
    minimum = max(1, rows // n)
    taken = iter(range(RAW_MAX_BATCHES))
    lock = threading.Lock()
    inserted = [0] * inserters

    def next_batch(started: float) -> int | None:
        # Batch numbers in order across threads; the first `minimum` always, then only while the
        # phase is younger than `min_seconds`.
        with lock:
            number = next(taken, None)
        if number is None or (number >= minimum and time.perf_counter() - started >= min_seconds):
            return None
        return number

    failures: list[BaseException] = []

    def insert(slot: int, started: float) -> None:
        try:
            while (number := next_batch(started)) is not None:
                # Each batch its own instants: the first batch's timestamps shifted past the others'.
                shifted = pc.add(first.column(ts_at), pa.scalar(number * n, pa.duration("us")))
                backend.insert_arrow("samples", first.set_column(ts_at, SAMPLES.field("ts"), shifted))
                inserted[slot] += n
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread below
            failures.append(exc)

    waited_s = wait_for_merges(backend)

    started = time.perf_counter()
    threads = [threading.Thread(target=insert, args=(i, started)) for i in range(inserters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        backend.close()
        raise failures[0]
    stored = stored_samples(store, app, backend)
    backend.close()
    assert stored == sum(inserted), f"raw insert stored {stored} of {sum(inserted)} rows"
    return stored / elapsed, waited_s, stored


@dataclass
class Reports:
    """What the getStats phase measured; its stored samples are counted once the server stops."""

    app_id: str
    accepted: int
    seconds: float
    detail: str
    cpu: str


def webrtc_phase(port: int, pid: int, args: argparse.Namespace, start_ms: int) -> Reports:
    """Post `args.reports` getStats() reports, each connection's sessions in order."""
    webrtc_app = create_app(port, "bench-webrtc")
    template = sfu_report_template()
    sessions = max(args.clients, args.reports // len(template))
    rounds = webrtc_bodies(template, sessions, args.report_batch, start_ms - 600_000)
    report_bytes = len(rounds[-1][0]) / args.report_batch
    cpu_before, commits_before = cpu_s(pid), commit_totals(port)
    accepted, seconds, latencies = drive_webrtc(port, webrtc_app["api_key"], rounds, args.clients)
    sent = sessions * len(template)
    assert accepted == sent, f"only {accepted} of {sent} reports accepted"
    cpu = describe_cpu(cpu_before, cpu_s(pid), accepted, "report")
    cpu += f"\n{'':35}{describe_commits(commits_before, commit_totals(port))}"
    detail = (
        f"{accepted:,} reports of ~{report_bytes / 1024:.1f} KB, {args.report_batch}/request, "
        f"{describe(latencies)}"
    )
    return Reports(webrtc_app["app_id"], accepted, seconds, detail, cpu)


def print_reports(store: Path, reports: Reports) -> None:
    derived = stored_samples(store, reports.app_id)
    print(
        f"HTTP getStats reports:             {reports.accepted / reports.seconds:>10,.0f} reports/s "
        f"({derived / reports.seconds:,.0f} samples/s; {reports.detail})"
    )
    print(f"{'':35}{reports.cpu}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=1024, help="concurrent keep-alive connections")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--reports", type=int, default=60_000, help="getStats() reports (0 skips)")
    parser.add_argument("--report-batch", type=int, default=10, help="reports per request")
    parser.add_argument("--raw-batch", type=int, default=100_000, help="rows per raw bulk insert")
    parser.add_argument(
        "--raw-inserters", type=int, default=2, help="concurrent raw inserts (the server's writer threads)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the printed ratio is their median")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the runs without rollups and detection"
    )
    args = parser.parse_args()
    start_ms = int(time.time() * 1000) - 3_000_000
    data_dir = Path(tempfile.mkdtemp(prefix="callscope-bench-"))
    port = 18_000 + os.getpid() % 1000
    batch = min(args.raw_batch, args.samples)
    http_rates: list[float] = []
    raw_rates: list[float] = []
    bare_rates: list[float] = []
    try:
        for round_no in range(1, args.rounds + 1):
            print(f"round {round_no} of {args.rounds}", flush=True)
            proc = start_server(data_dir, port)
            try:
                http_rate, sample_line = samples_phase(port, proc.pid, args, start_ms, f"bench-{round_no}")
                if args.reports and round_no == 1:
                    report = webrtc_phase(port, proc.pid, args, start_ms)
            finally:
                proc.terminate()
                proc.wait(timeout=60)
            print(f"HTTP ingest (fsync, acknowledged): {sample_line}", flush=True)
            if args.reports and round_no == 1:
                print_reports(data_dir / "store", report)
            http_s = args.samples / http_rate
            raw_rate, waited_s, raw_rows = raw_insert(
                data_dir / "store", args.samples, batch, args.raw_inserters, round_no, min_seconds=http_s
            )
            print(
                f"raw bulk insert (same store):      {raw_rate:>10,.0f} rows/s ({raw_rows:,} rows in "
                f"{raw_rows / raw_rate:.1f} s, as long as HTTP's {http_s:.1f} s; {args.raw_inserters} "
                f"concurrent Arrow inserts of {batch:,} rows, after {waited_s:.1f} s of earlier merges)"
            )
            print(f"ratio HTTP / raw:                  {http_rate / raw_rate:>10.3f}", flush=True)
            http_rates.append(http_rate)
            raw_rates.append(raw_rate)
            if not args.no_baseline:
                bare_rate, bare_line = baseline_phase(args, start_ms)
                print(f"HTTP ingest, no rollups/detection: {bare_line}")
                cost = 1 - http_rate / bare_rate
                print(f"ingest cost of rollups+detection:  {cost:>10.1%} fewer samples/s")
                bare_rates.append(bare_rate)
        # Sessions 1-5 printed this one (one insert at a time): kept for comparison.
        serial_rate, _, _ = raw_insert(data_dir / "store", args.samples, batch, 1, 0)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)  # a 1 M-sample round leaves ~150 MB otherwise
    print(f"median of {args.rounds} rounds (each round's value in brackets)")
    print(_summary("HTTP ingest", http_rates, ",.0f", " samples/s"))
    print(_summary("raw bulk insert", raw_rates, ",.0f", " rows/s") + f"; one at a time {serial_rate:,.0f}")
    ratios = [http / raw for http, raw in zip(http_rates, raw_rates, strict=True)]
    print(_summary("ratio HTTP / raw", ratios, ".3f"))
    if bare_rates:
        costs = [1 - http / bare for http, bare in zip(http_rates, bare_rates, strict=True)]
        print(_summary("ingest cost of rollups+detection", costs, ".1%"))


def _summary(label: str, values: list[float], fmt: str, unit: str = "") -> str:
    each = ", ".join(format(value, fmt) for value in values)
    return f"{label + ':':<35}{format(statistics.median(values), fmt):>10}{unit} ({each})"


if __name__ == "__main__":
    main()
