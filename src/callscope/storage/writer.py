"""The writer: group commit with acknowledged = durable.

Requests queue their rows; a writer thread gathers them into one commit (up to `GATHER_ROWS`
while they keep coming, see there), drops items already stored (by key), writes one INSERT per
table and only then resolves every request's future. Concurrent requests share a commit, so the
per-insert cost (a part, the rollup views, an fsync: ~70-100 ms of engine CPU) is paid once per
batch, not once per request.
A bounded queue turns overload into a clear 429 instead of unbounded memory.

Several writer threads commit at once (setting `writer_threads`): one INSERT runs largely on
one core, and two concurrent ones stored 1.7× the rows per second of one (in-process, 50k-row
JSON inserts with the rollup views and fsync). Duplicate dropping stays exact across them: a
commit claims its item keys before inserting; a later commit meeting a claimed key drops that
item but answers its request only once the claiming commit is done, and fails it if that commit
failed, so "duplicate" always means "stored".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Any

from callscope.errors import Backpressure, StoreError
from callscope.observability import Metrics
from callscope.storage import rows as rows_format
from callscope.storage.base import StorageBackend
from callscope.storage.dedupe import RecentKeys
from callscope.storage.schema import WRITER_TABLES

log = logging.getLogger(__name__)


@dataclass
class TableRows:
    """Rows for one table, already encoded for the engine (storage/rows.py), `columns` naming
    their positions; `keys` (one per row) enables duplicate dropping.

    Why encoded at once, not kept as tuples until the commit: a row tuple lives as long as its
    request waits (about a second under load), so every one of them was walked by a garbage
    collection on the event loop's thread; at 1,024 clients collections took ~1 s of the loop's
    ~8 s per million samples, 31-field rows being most of what they walked. Bytes are not
    tracked by the collector, and the tuples die as soon as they are encoded."""

    columns: tuple[str, ...]
    body: bytes
    count: int
    keys: list[int] | None = None

    @classmethod
    def encode(
        cls, columns: tuple[str, ...], rows: list[tuple[Any, ...]], keys: list[int] | None = None
    ) -> TableRows:
        """Rows as tuples of Python values: timestamps as integer epoch time in their column's
        unit, NaN for "not measured"."""
        return cls(columns, rows_format.encode(rows) if rows else b"", len(rows), keys)

    @classmethod
    def from_columns(cls, columns: dict[str, list[Any]], keys: list[int] | None = None) -> TableRows:
        return cls.encode(tuple(columns), list(zip(*columns.values(), strict=True)), keys)

    def __len__(self) -> int:
        return self.count

    def without(self, dropped: set[int]) -> bytes:
        """The body less the rows at `dropped`: decoded and encoded again, which only a batch
        holding duplicates pays."""
        rows = rows_format.decode(self.body)
        return rows_format.encode([row for i, row in enumerate(rows) if i not in dropped])


@dataclass
class WriteResult:
    """Row indices (per table, into the request's own rows) dropped as already stored."""

    duplicates: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class _Request:
    """Queued rows and who waits for them: a `Future` (`submit`), or a future of the event
    loop that called `write`."""

    tables: dict[str, TableRows]
    rows: int
    future: Future[WriteResult] | asyncio.Future[WriteResult]


_Outcome = WriteResult | StoreError


class _Commit:
    """One group commit's claim on the keys it inserts (per table), and which tables got stored."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.stored: set[str] = set()
        self.keys: dict[str, set[int]] = {}


# Per (table, column layout): the request bodies to insert and the rows each holds.
_Merged = dict[tuple[str, tuple[str, ...]], tuple[list[bytes], list[int]]]

# A commit gathers requests up to this many rows: while another commit runs (a second concurrent
# commit starts only once it has them) and, when none runs, for as long as requests keep coming.
# Each commit costs ~70-100 ms of engine CPU whatever its size (the rollup views' planning, the
# parts and their fsyncs), so this sets how thinly that spreads. 1,024-client bench, paired runs:
# 20k -> 40k rows cut server CPU from 24.6/21.2 to 21.7/18.4 µs/sample and raised samples/s
# 5-7 %. Once commits could fill up (_QUIET_GAP_S), 60k (commits of ~48k, as many rows as the
# clients had in flight allowed) gave 134.8/134.6k against 128.1/130.7k samples/s at 40k.
GATHER_ROWS = 60_000
# With no other commit running, gathering stops once this long passes without a request (it
# looks every this often, taking what arrived): an idle server commits a lone request after
# this, while under load (~1,000 requests/s arriving) a commit fills up. Before this rule, such
# a commit took only what was queued at its start: commits were "arrival rate × the other
# commit's duration", ~20-26 k rows at 1,024 clients. With it: 34-37 k rows, server CPU
# 12.1-12.3 instead of 14.0-17.5 µs/sample, 125-128 k instead of 100-124 k samples/s (three
# alternating pairs).
_QUIET_GAP_S = 0.005
# ... and for at most this long (commits under load take ~0.2-0.4 s), so a batch never waits on
# another commit, or a steady trickle, without bound.
_GATHER_MAX_S = 1.0


class GroupCommitWriter:
    def __init__(
        self,
        backend: StorageBackend,
        *,
        metrics: Metrics,
        recent_keys: RecentKeys,
        max_queue_rows: int,
        max_batch_rows: int,
        linger_s: float = 0.0,
        threads: int = 1,
    ) -> None:
        self._backend = backend
        self._metrics = metrics
        self._recent = recent_keys
        self._max_queue_rows = max_queue_rows
        self._max_batch_rows = max_batch_rows
        self._linger_s = linger_s
        # Requests waiting for a gatherer, and everything the gatherer waits on, under one lock.
        # Gathering takes them in bulk and is woken only when it has something to decide (see
        # `_gather`), not once per request.
        self._state = threading.Condition(threading.Lock())
        self._pending: list[_Request] = []
        self._pending_rows = 0
        self._wake_at_rows: int | None = None  # wake the gatherer once this many rows are pending
        self._queued_rows = 0  # pending, being gathered or being committed
        self._active = 0  # commits running now
        self._gather_lock = threading.Lock()  # held by the one thread gathering the next commit
        self._claims_lock = threading.Lock()
        self._running: list[_Commit] = []  # commits between claiming their keys and releasing them
        self._threads = [
            threading.Thread(target=self._run, name=f"callscope-writer-{i}", daemon=True)
            for i in range(threads)
        ]
        self._stopped = False

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Commit what is queued, then stop."""
        if not self._stopped:
            with self._state:
                self._stopped = True
                self._state.notify_all()
            for thread in self._threads:
                thread.join()

    @property
    def running(self) -> bool:
        return all(thread.is_alive() for thread in self._threads)

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    def submit(self, tables: dict[str, TableRows]) -> Future[WriteResult]:
        """Queue rows; the future resolves once they are committed (or fails with StoreError)."""
        future: Future[WriteResult] = Future()
        self._queue(tables, future)
        return future

    def write(self, tables: dict[str, TableRows]) -> asyncio.Future[WriteResult]:
        """`submit` for a caller on the running event loop: a future of that loop. Queues (or
        refuses, Backpressure) at once, like `submit`.

        Why not `asyncio.wrap_future(submit(...))`: that wakes the loop once per request, each
        wake-up a `call_soon_threadsafe` from the writer thread, taking the GIL from the loop
        every time, plus a second future and callback per request on the loop. A commit settles
        all of a loop's waiters with one call instead (`_settle`)."""
        waiter: asyncio.Future[WriteResult] = asyncio.get_running_loop().create_future()
        self._queue(tables, waiter)
        return waiter

    def _queue(
        self,
        tables: dict[str, TableRows],
        future: Future[WriteResult] | asyncio.Future[WriteResult],
    ) -> None:
        """Queue a request, or refuse it (Backpressure) when the queue is full."""
        for name in tables:
            if name not in WRITER_TABLES:
                raise ValueError(f"the writer does not fill table {name!r}")
        rows = sum(len(t) for t in tables.values())
        with self._state:
            # Checked in the same step as queueing: nothing is queued after `stop` let the
            # threads go, where no thread would ever answer it.
            if self._stopped:
                raise StoreError("the writer is stopped")
            if self._queued_rows + rows > self._max_queue_rows:
                raise Backpressure(
                    f"ingest queue is full ({self._queued_rows} rows waiting, limit "
                    f"{self._max_queue_rows}); retry shortly",
                    retry_after_s=1,
                )
            self._queued_rows += rows
            self._metrics.queue_rows.set(self._queued_rows)
            self._pending.append(_Request(tables, rows, future))
            self._pending_rows += rows
            if self._wake_at_rows is not None and self._pending_rows >= self._wake_at_rows:
                self._wake_at_rows = None
                self._state.notify()

    def _run(self) -> None:
        while True:
            # One thread gathers at a time, and its commit counts as running before the next one
            # may gather. Without this, a thread back from its commit found no other commit
            # running (the other thread was gathering, not committing), took the few requests
            # queued and committed them at once: under load every other commit held ~1,200 rows
            # and paid the whole fixed cost (a per-commit trace of the 1,024-client bench showed
            # 40 k and 1.2 k rows alternating).
            with self._gather_lock:
                batch, rows = self._gather()
                if not batch:
                    return  # stopped, and nothing is left
                with self._state:
                    self._active += 1
            try:
                self._commit(batch, rows)
            except Exception as exc:  # noqa: BLE001 - the writer thread must survive anything
                log.exception("group commit crashed")
                self._fail(batch, rows, StoreError(f"commit failed: {exc}"))
            finally:
                with self._state:
                    self._active -= 1
                    self._state.notify_all()  # a gatherer may be waiting for this commit

    def _gather(self) -> tuple[list[_Request], int]:
        """The next commit's requests and their rows (none: stopped with nothing pending).

        The thread is woken only when there is something to decide: the first request, the
        other commit's end, enough rows pending, or, while no other commit runs, every quiet
        gap. Each wake-up takes the GIL from the event loop. When it took requests one at a
        time from a queue, at 1,024 clients each writer thread woke ~250 times a second and
        the loop's thread spent 7-8 % of its time waiting for the GIL; now ~85 and ~5 %.
        """
        full = min(GATHER_ROWS, self._max_batch_rows)
        with self._state:
            while not self._pending and not self._stopped:
                self._wake_at_rows = 1
                self._state.wait()
            batch, rows = self._take([], 0)
            started = time.monotonic()
            # While another commit runs: wait for it to end, or for a full commit's rows.
            while rows < full and self._active > 0 and not self._stopped:
                left_s = started + _GATHER_MAX_S - time.monotonic()
                if left_s <= 0:
                    break
                self._wake_at_rows = full - rows
                self._state.wait(left_s)
                self._wake_at_rows = None
                batch, rows = self._take(batch, rows)
        # None runs now (or this one waited long enough): take requests while they keep coming.
        deadline = started + self._linger_s
        while rows < self._max_batch_rows and not self._stopped:
            now = time.monotonic()
            filling = rows < full and now - started < _GATHER_MAX_S
            wait_s = max(deadline - now, _QUIET_GAP_S if filling else 0.0)
            if wait_s <= 0:
                break
            time.sleep(wait_s)
            with self._state:
                before = rows
                batch, rows = self._take(batch, rows)
            if rows == before:
                break
        with self._state:
            return self._take(batch, rows)

    def _take(self, batch: list[_Request], rows: int) -> tuple[list[_Request], int]:
        """Move pending requests into `batch` while it is under `max_batch_rows` (a batch gets
        at least one, however large). Called holding `_state`."""
        taken = 0
        for request in self._pending:
            if batch and rows >= self._max_batch_rows:
                break
            batch.append(request)
            rows += request.rows
            self._pending_rows -= request.rows
            taken += 1
        del self._pending[:taken]
        return batch, rows

    def _fail(self, batch: list[_Request], rows: int, error: StoreError) -> None:
        with self._state:
            self._queued_rows -= rows
        _settle([(request, error) for request in batch])

    def _commit(self, batch: list[_Request], rows: int) -> None:
        started = time.perf_counter()
        commit = _Commit()
        results = [WriteResult() for _ in batch]
        waits: list[set[tuple[_Commit, str]]] = [set() for _ in batch]  # who holds dropped items
        error: StoreError | None = None
        try:
            with self._claims_lock:
                self._running.append(commit)
                merged = self._merge(batch, commit, results, waits)
            error = self._insert(merged, commit.stored)
        finally:
            # Whatever happened, the claims are released (no commit may wait forever), and the
            # stored tables' keys join `recent` in that same step, so no commit ever sees a key
            # as neither stored nor claimed.
            with self._claims_lock:
                for table, keys in commit.keys.items():
                    if table in commit.stored:
                        self._recent.add_many(keys)
                self._running.remove(commit)
            commit.done.set()
        with self._state:
            self._queued_rows -= rows
            self._metrics.queue_rows.set(self._queued_rows)
        elapsed_s = time.perf_counter() - started
        self._metrics.commit_seconds.observe(elapsed_s)
        self._metrics.commit_requests.observe(len(batch))
        # Commit sizes and timing under load are what set the engine's cost per row (see
        # GATHER_ROWS); at DEBUG each commit says what it held.
        log.debug(
            "group commit",
            extra={"rows": rows, "requests": len(batch), "commit_ms": round(elapsed_s * 1000, 1)},
        )
        outcomes: list[tuple[_Request, _Outcome]] = []
        for request, result, wait in zip(batch, results, waits, strict=True):
            # Those commits claimed their keys before this one did, so they never wait on it.
            lost = [table for other, table in wait if not (other.done.wait() and table in other.stored)]
            if error is not None:
                outcomes.append((request, error))
            elif lost:
                outcomes.append(
                    (request, StoreError("a concurrent commit holding some of these items failed; retry"))
                )
            else:
                outcomes.append((request, result))
        _settle(outcomes)

    def _merge(
        self,
        batch: list[_Request],
        commit: _Commit,
        results: list[WriteResult],
        waits: list[set[tuple[_Commit, str]]],
    ) -> _Merged:
        """Claim the batch's keys and gather, per table and column layout (producers of one
        table normally share one), the bodies to insert less the duplicates found."""
        merged: _Merged = {}
        for request, result, wait in zip(batch, results, waits, strict=True):
            for table, table_rows in request.tables.items():
                body, count = table_rows.body, table_rows.count
                if table_rows.keys is not None:
                    dups = self._claim(commit, table, table_rows.keys, wait)
                    if dups:
                        result.duplicates[table] = dups
                        body, count = table_rows.without(set(dups)), count - len(dups)
                bodies, counts = merged.setdefault((table, table_rows.columns), ([], []))
                if count:
                    bodies.append(body)
                    counts.append(count)
        return merged

    def _insert(self, merged: _Merged, stored: set[str]) -> StoreError | None:
        """Insert each table's rows, adding the table to `stored` once all of its rows are in."""
        # Table order matters: data first, idempotency records last, so a crash in between
        # leaves data whose keys the restart reloads rather than a key without its data.
        order = list(WRITER_TABLES)
        for (table, columns), (bodies, counts) in sorted(
            merged.items(), key=lambda item: order.index(item[0][0])
        ):
            rows = sum(counts)
            if rows:
                try:
                    # Each body is comma-separated rows (storage/rows.py): joined, they are one.
                    self._backend.insert_row_body(table, columns, b",".join(bodies))
                except StoreError as exc:
                    log.exception("group commit failed", extra={"table": table, "rows": rows})
                    stored.discard(table)  # another layout of it may have gone in: not all did
                    return exc
                self._metrics.rows_stored.labels(table).inc(rows)
            stored.add(table)
        return None

    def _claim(
        self, commit: _Commit, table: str, keys: list[int], wait: set[tuple[_Commit, str]]
    ) -> list[int]:
        """Row indices that are duplicates: stored, claimed by another commit (added to `wait`),
        or repeated within this commit. Claims the others for `commit`."""
        mine = commit.keys.setdefault(table, set())
        others = [(other, other.keys.get(table, set())) for other in self._running if other is not commit]
        # Nearly every request repeats nothing: whole-set tests in C rather than a Python loop
        # per key. The loop held the GIL, which the event loop waits for, in 2.4 % of py-spy's
        # samples at 1,024 clients; in-process this is 215-229 instead of 371-384 ns per key.
        fresh = set(keys)
        if (
            len(fresh) == len(keys)
            and fresh.isdisjoint(mine)
            and self._recent.isdisjoint(fresh)
            and all(fresh.isdisjoint(held) for _, held in others)
        ):
            mine |= fresh
            return []
        dups = []
        for index, key in enumerate(keys):
            holder = next((other for other, held in others if key in held), None)
            if holder is not None:
                wait.add((holder, table))
            elif key not in mine and key not in self._recent:
                mine.add(key)
                continue
            dups.append(index)
        return dups


def _settle(outcomes: list[tuple[_Request, _Outcome]]) -> None:
    """Answer each request: `submit`'s futures here, `write`'s with one call per event loop."""
    on_loops: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[WriteResult], _Outcome]]] = {}
    for request, outcome in outcomes:
        if isinstance(request.future, asyncio.Future):
            on_loops.setdefault(request.future.get_loop(), []).append((request.future, outcome))
        else:
            _resolve(request.future, outcome)
    for loop, waiters in on_loops.items():
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is left to answer
            loop.call_soon_threadsafe(_resolve_all, waiters)


def _resolve_all(waiters: list[tuple[asyncio.Future[WriteResult], _Outcome]]) -> None:
    for waiter, outcome in waiters:
        _resolve(waiter, outcome)


def _resolve(future: Future[WriteResult] | asyncio.Future[WriteResult], outcome: _Outcome) -> None:
    if future.done():
        return  # its caller went away (a closed connection): nobody to answer
    # A `submit` future can still be cancelled by its caller's thread between the test above and
    # this: the same case, and not the writer's error.
    with contextlib.suppress(InvalidStateError):
        if isinstance(outcome, StoreError):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
