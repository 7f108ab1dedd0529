"""Group commit: shared commits, ack after durable, duplicates dropped, bounded queue."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from callscope.errors import Backpressure, StoreError
from callscope.observability import Metrics
from callscope.storage import rows as rows_format
from callscope.storage import writer as writer_module
from callscope.storage.base import Params, StorageBackend
from callscope.storage.dedupe import RecentKeys
from callscope.storage.migrations import migrate
from callscope.storage.registry import open_backend
from callscope.storage.writer import GroupCommitWriter, TableRows, WriteResult


@pytest.fixture
def backend(store_dir: Path) -> Iterator[StorageBackend]:
    database = f"writer_{uuid.uuid4().hex[:8]}"
    opened = open_backend(f"chdb://{store_dir / 'store'}?database={database}")
    migrate(opened)
    yield opened
    opened.command(f"DROP DATABASE `{database}`")
    opened.close()


def batch_rows(keys: list[int], app: str = "w") -> TableRows:
    n = len(keys)
    return TableRows.from_columns(
        {
            "app_id": [app] * n,
            "idempotency_key": [str(k) for k in keys],
            "origin": ["request"] * n,
            "received_at": [1_700_000_000_000] * n,
            "expires_at": [4_000_000_000] * n,
            "summary": ["{}"] * n,
        },
        keys,
    )


def make_writer(backend: StorageBackend, metrics: Metrics, **limits: int) -> GroupCommitWriter:
    return GroupCommitWriter(
        backend,
        metrics=metrics,
        recent_keys=RecentKeys(1000),
        max_queue_rows=limits.get("max_queue_rows", 100_000),
        max_batch_rows=limits.get("max_batch_rows", 100_000),
        threads=limits.get("threads", 1),
    )


def count(backend: StorageBackend) -> int:
    return int(backend.scalar("SELECT count() FROM ingest_batches"))


@pytest.mark.parametrize("threads", [1, 2])
def test_concurrent_requests_share_commits_and_are_acked_after_commit(
    backend: StorageBackend, threads: int
) -> None:
    metrics = Metrics()
    writer = make_writer(backend, metrics, threads=threads)
    writer.start()
    results: list[tuple[Future[WriteResult], int]] = []
    lock = threading.Lock()

    def client(offset: int) -> None:
        for i in range(20):
            keys = [offset * 10_000 + i * 10 + j for j in range(10)]
            future = writer.submit({"ingest_batches": batch_rows(keys)})
            future.result(timeout=30)
            # Acknowledged means committed: this request's rows are readable now.
            visible = backend.scalar(
                "SELECT count() FROM ingest_batches WHERE idempotency_key = {k:String}", {"k": str(keys[-1])}
            )
            with lock:
                results.append((future, int(visible)))

    threads = [threading.Thread(target=client, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.stop()
    assert len(results) == 160 and all(visible == 1 for _, visible in results)
    assert count(backend) == 1600
    assert commit_count(metrics) < 160  # some requests shared a commit


def commit_count(metrics: Metrics) -> int:
    samples = metrics.commit_requests.collect()[0].samples
    return int(next(s.value for s in samples if s.name.endswith("_count")))


def test_duplicates_within_and_across_requests_are_dropped(backend: StorageBackend) -> None:
    writer = make_writer(backend, Metrics())
    writer.start()
    first = writer.submit({"ingest_batches": batch_rows([1, 2, 2, 3])}).result(timeout=30)
    second = writer.submit({"ingest_batches": batch_rows([3, 4])}).result(timeout=30)
    writer.stop()
    assert first.duplicates == {"ingest_batches": [2]}
    assert second.duplicates == {"ingest_batches": [0]}
    assert count(backend) == 4


def test_rows_left_after_dropping_duplicates_are_stored_unchanged(backend: StorageBackend) -> None:
    """Dropping a duplicate decodes a request's encoded rows and encodes the rest again: the
    survivors' values (unicode, SQL metacharacters, a float and a large integer) must come
    through exactly, and the dropped row must not."""
    writer = make_writer(backend, Metrics())
    writer.start()
    writer.submit({"ingest_batches": batch_rows([7])}).result(timeout=30)
    odd = ["naïve ✓ 'x'); DROP TABLE t; --", '{"a": 1.5e-7, "b": [null]}', "\\ \n \t \u0000"]
    rows = TableRows.from_columns(
        {
            "app_id": ["w"] * 4,
            "idempotency_key": ["7", *odd],
            "origin": ["request"] * 4,
            "received_at": [1_700_000_000_123, 1_700_000_000_456, 9_007_199_254_740_993, 1],
            "expires_at": [4_000_000_000] * 4,
            "summary": ["dup", "0.1", "1e300", "-0.0"],
        },
        [7, 8, 9, 10],
    )
    result = writer.submit({"ingest_batches": rows}).result(timeout=30)
    writer.stop()
    assert result.duplicates == {"ingest_batches": [0]}
    stored = backend.query(
        "SELECT idempotency_key, toUnixTimestamp64Milli(received_at) AS ms, summary FROM ingest_batches "
        "WHERE idempotency_key != '7' ORDER BY ms"
    )
    assert [(r["idempotency_key"], r["ms"], r["summary"]) for r in stored] == [
        (odd[2], 1, "-0.0"),
        (odd[0], 1_700_000_000_456, "0.1"),
        (odd[1], 9_007_199_254_740_993, "1e300"),
    ]
    assert count(backend) == 4


def test_full_queue_refuses_with_backpressure(backend: StorageBackend) -> None:
    writer = make_writer(backend, Metrics(), max_queue_rows=1000)
    # Not started: nothing drains, so the queue fills deterministically.
    writer.submit({"ingest_batches": batch_rows(list(range(900)))})
    with pytest.raises(Backpressure) as refused:
        writer.submit({"ingest_batches": batch_rows(list(range(1000, 1200)))})
    assert refused.value.retry_after_s >= 1
    writer.start()
    writer.stop()  # drains what was accepted
    assert count(backend) == 900


def test_failed_commit_fails_every_request_and_forgets_no_keys(backend: StorageBackend) -> None:
    writer = make_writer(backend, Metrics())
    backend.command("RENAME TABLE ingest_batches TO ingest_batches_away")
    writer.start()
    future = writer.submit({"ingest_batches": batch_rows([42])})
    with pytest.raises(StoreError):
        future.result(timeout=30)
    backend.command("RENAME TABLE ingest_batches_away TO ingest_batches")
    retried = writer.submit({"ingest_batches": batch_rows([42])}).result(timeout=30)
    writer.stop()
    assert retried.duplicates == {}  # the failed row was never stored, so it is not a duplicate
    assert count(backend) == 1


class HeldFirstInsert(StorageBackend):
    """The real store, except that the first insert waits for `release` and then, if told to,
    fails: a commit caught in flight while another commit meets its keys."""

    def __init__(self, inner: StorageBackend, *, fail: bool) -> None:
        self.inner, self.fail = inner, fail
        self.entered, self.release = threading.Event(), threading.Event()
        self.first = True

    def insert_row_body(self, table: str, columns: Sequence[str], body: bytes) -> None:
        if self.first:
            self.first = False
            self.entered.set()
            assert self.release.wait(30)
            if self.fail:
                raise StoreError("injected: the disk is full")
        self.inner.insert_row_body(table, columns, body)

    def query_arrow(self, sql: str, params: Params | None = None) -> pa.Table:
        return self.inner.query_arrow(sql, params)

    def command(self, sql: str, params: Params | None = None) -> None:
        self.inner.command(sql, params)

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        self.inner.insert_arrow(table, data)

    def insert_encoded(self, table: str, columns: Sequence[str], body: bytes, fmt: str) -> None:
        self.inner.insert_encoded(table, columns, body, fmt)

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("holder_fails", [False, True])
def test_a_key_claimed_by_a_concurrent_commit_is_answered_once_that_commit_is_done(
    backend: StorageBackend, holder_fails: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "GATHER_ROWS", 1)  # any batch may commit alongside
    held = HeldFirstInsert(backend, fail=holder_fails)
    writer = make_writer(held, Metrics(), threads=2)
    writer.start()
    first = writer.submit({"ingest_batches": batch_rows([1])})
    assert held.entered.wait(30)  # writer thread 1 is inside its insert of key 1
    second = writer.submit({"ingest_batches": batch_rows([1, 2])})  # thread 2: key 2 is new
    for _ in range(100):  # bounded: until key 2 is stored by the second commit
        if count(backend) == 1:
            break
        threading.Event().wait(0.05)
    assert count(backend) == 1
    # Key 1 is only claimed, not stored: "duplicate" would be a promise nobody has kept yet.
    assert not second.done()
    held.release.set()
    if holder_fails:
        with pytest.raises(StoreError):
            first.result(timeout=30)
        with pytest.raises(StoreError, match="concurrent commit"):
            second.result(timeout=30)
        retried = writer.submit({"ingest_batches": batch_rows([1, 2])}).result(timeout=30)
        assert retried.duplicates == {"ingest_batches": [1]}  # key 1 stored now, key 2 before
    else:
        assert first.result(timeout=30).duplicates == {}
        assert second.result(timeout=30).duplicates == {"ingest_batches": [0]}
    writer.stop()
    assert count(backend) == 2


def test_a_small_batch_waits_a_while_for_the_running_commit_instead_of_running_alongside(
    backend: StorageBackend,
) -> None:
    held = HeldFirstInsert(backend, fail=False)
    writer = make_writer(backend=held, metrics=Metrics(), threads=2)
    writer.start()
    first = writer.submit({"ingest_batches": batch_rows([1])})
    assert held.entered.wait(30)
    second = writer.submit({"ingest_batches": batch_rows([2])})
    threading.Event().wait(0.3)  # ample time for a second commit to have stored key 2
    assert count(backend) == 0  # it gathers instead: one fixed commit cost, not two
    # ... but not without bound: after _GATHER_MAX_S it commits alongside the held one.
    for _ in range(100):
        if count(backend) == 1:
            break
        threading.Event().wait(0.05)
    assert count(backend) == 1 and second.done() and not first.done()
    held.release.set()
    first.result(timeout=30)
    second.result(timeout=30)
    writer.stop()
    assert count(backend) == 2


class RowsPerInsert(HeldFirstInsert):
    """The real store, recording how many rows each insert carried."""

    def __init__(self, inner: StorageBackend) -> None:
        super().__init__(inner, fail=False)
        self.release.set()  # nothing is held
        self.rows: list[int] = []

    def insert_row_body(self, table: str, columns: Sequence[str], body: bytes) -> None:
        self.rows.append(len(rows_format.decode(body)))
        super().insert_row_body(table, columns, body)


def test_requests_that_keep_coming_share_a_commit_though_no_other_commit_runs(
    backend: StorageBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under steady load a commit fills up (to GATHER_ROWS) rather than taking only what was
    queued when it began: the fixed cost per commit is what it spreads."""
    monkeypatch.setattr(writer_module, "_QUIET_GAP_S", 0.5)  # far above the 10 ms spacing below
    monkeypatch.setattr(writer_module, "_GATHER_MAX_S", 30.0)
    monkeypatch.setattr(writer_module, "GATHER_ROWS", 5)
    recording = RowsPerInsert(backend)
    writer = make_writer(recording, Metrics())
    writer.start()
    futures = []
    for key in range(20):
        futures.append(writer.submit({"ingest_batches": batch_rows([key])}))
        threading.Event().wait(0.01)
    for future in futures:
        future.result(timeout=30)
    writer.stop()
    assert count(backend) == 20 and sum(recording.rows) == 20
    # The first request found nothing queued; it waited for four more, not committing alone.
    assert recording.rows[0] >= 5


def test_a_lone_request_is_committed_once_no_more_come(
    backend: StorageBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An idle server does not hold a request for company: a quiet gap (5 ms) ends gathering
    long before the bound on gathering (made a minute here)."""
    monkeypatch.setattr(writer_module, "_GATHER_MAX_S", 60.0)
    writer = make_writer(backend, Metrics())
    writer.start()
    writer.submit({"ingest_batches": batch_rows([1])}).result(timeout=30)
    writer.stop()
    assert count(backend) == 1


def test_only_one_thread_gathers_so_a_finished_thread_does_not_split_the_next_commit(
    backend: StorageBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The schedule a per-commit trace of the bench showed: thread A's commit ends while B
    gathers; A, idle, must not take the next arrivals into a commit of its own (under load,
    every other commit held ~1 % of the rows and paid the whole fixed cost)."""
    monkeypatch.setattr(writer_module, "_QUIET_GAP_S", 0.5)
    monkeypatch.setattr(writer_module, "_GATHER_MAX_S", 30.0)
    held = HeldFirstInsert(backend, fail=False)
    metrics = Metrics()
    writer = make_writer(held, metrics, threads=2)
    writer.start()
    first = writer.submit({"ingest_batches": batch_rows([1])})
    assert held.entered.wait(30)  # A commits key 1 and is held there
    later = [writer.submit({"ingest_batches": batch_rows([2])})]  # B gathers, waiting for A
    held.release.set()
    first.result(timeout=30)  # A is free again: both threads could now take requests
    for key in (3, 4, 5):
        threading.Event().wait(0.05)
        later.append(writer.submit({"ingest_batches": batch_rows([key])}))
    for future in later:
        future.result(timeout=30)
    writer.stop()
    assert count(backend) == 5
    assert commit_count(metrics) == 2  # key 1; then keys 2-5 together


def test_a_request_whose_caller_went_away_does_not_fail_the_rest_of_its_commit(
    backend: StorageBackend,
) -> None:
    writer = make_writer(backend, Metrics())
    gone = writer.submit({"ingest_batches": batch_rows([1])})
    kept = writer.submit({"ingest_batches": batch_rows([2])})
    assert gone.cancel()  # what asyncio.wrap_future does when the client disconnects
    writer.start()  # both requests are queued: one commit takes them together
    assert kept.result(timeout=30).duplicates == {}
    writer.stop()
    assert count(backend) == 2 and writer.queued_rows == 0


async def test_a_commit_wakes_the_event_loop_once_for_all_of_its_waiters(backend: StorageBackend) -> None:
    """`write` answers a loop's requests with one call into it per commit, not one per request
    (each such call takes the GIL from the loop)."""
    held = HeldFirstInsert(backend, fail=False)
    writer = make_writer(held, Metrics())
    writer.start()
    loop = asyncio.get_running_loop()
    calls = []
    original = loop.call_soon_threadsafe

    def counting(callback: Any, *args: Any, **kwargs: Any) -> asyncio.Handle:
        calls.append(callback)
        return original(callback, *args, **kwargs)

    first = writer.write({"ingest_batches": batch_rows([0])})
    assert await asyncio.to_thread(held.entered.wait, 30)
    loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
    try:
        # While the first commit is held, these queue up and are committed together after it.
        waiting = [writer.write({"ingest_batches": batch_rows([key])}) for key in range(1, 51)]
        gone = writer.write({"ingest_batches": batch_rows([99])})
        gone.cancel()  # its caller went away: the rest of its commit is answered all the same
        held.release.set()
        results = await asyncio.wait_for(asyncio.gather(first, *waiting), 30)
    finally:
        loop.call_soon_threadsafe = original  # type: ignore[method-assign]
        await asyncio.to_thread(writer.stop)
    assert all(result.duplicates == {} for result in results)
    assert count(backend) == 52  # the cancelled request's rows were queued, so they are stored
    assert len(calls) == 2  # two commits: one call each, for 1 and for 51 requests


def test_a_gathering_thread_is_not_woken_for_every_request(
    backend: StorageBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the next commit waits for the running one, arriving requests do not wake its
    thread (each wake-up takes the GIL from the event loop); only enough rows, or that commit's
    end, do."""
    monkeypatch.setattr(writer_module, "_GATHER_MAX_S", 30.0)
    held = HeldFirstInsert(backend, fail=False)
    writer = make_writer(held, Metrics(), threads=2)
    wakes = []

    class Counting(threading.Condition):
        def wait(self, timeout: float | None = None) -> bool:
            woken = super().wait(timeout)
            wakes.append(threading.current_thread().name)
            return woken

    writer._state = Counting(threading.Lock())  # noqa: SLF001 - what the test is about
    writer.start()
    first = writer.submit({"ingest_batches": batch_rows([0])})
    assert held.entered.wait(30)
    for key in range(1, 201):  # spaced, as requests under load are: time to wake in between
        writer.submit({"ingest_batches": batch_rows([key])})
        threading.Event().wait(0.002)
    woken_while_held = len(wakes)
    held.release.set()
    first.result(timeout=30)
    writer.stop()
    assert count(backend) == 201
    assert woken_while_held <= 3  # the first request's arrival, at most: not one per request
