"""The continuous detector: bounded, incremental passes over what ingest stored since last time.

Each pass, per source table (`samples` for freezes, `events` for slow joins):
1. reads candidates with `ingested_at` in (watermark, now − settle], at most `max_candidates`
   (the watermark moves only past what was read completely);
2. re-reads the `overlap_s` before the watermark as well, so rows whose commit became visible
   late, and freezes deferred while the publisher's reports for the window were still on their
   way (at most `peer_grace_s`), are looked at again;
3. drops events already stored (deterministic keys, see `store`) and inserts the rest;
4. stores the new watermark (restarts resume there; the overlap makes a crash between 3 and 4
   harmless).
Passes of every detector on one store in this process take turns (a lock per store), so two
detectors never insert the same event. Run one detector per store: with several processes on a
ClickHouse server, turn `abnormal_detection` off in all but one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from callscope.analytics.abnormal import freezes, joins, store
from callscope.analytics.abnormal.rules import THRESHOLDS, Thresholds
from callscope.analytics.abnormal.store import DetectedEvent
from callscope.storage.base import StorageBackend

log = logging.getLogger(__name__)

SOURCES = ("samples", "events")
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _store_lock(url: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(url, threading.Lock())


@dataclass
class PassResult:
    candidates: int = 0
    deferred: int = 0
    stored: int = 0
    caught_up: bool = True  # every source read up to now − settle


class Detector:
    def __init__(
        self,
        backend: StorageBackend,
        *,
        settle_s: float = 1.0,
        overlap_s: float = 60.0,
        peer_grace_s: float = 15.0,
        max_candidates: int = 20_000,
        persist_every_s: float = 10.0,
        thresholds: Thresholds = THRESHOLDS,
    ) -> None:
        if peer_grace_s >= overlap_s and overlap_s > 0:
            raise ValueError("peer_grace_s must be shorter than overlap_s (deferred freezes are re-read)")
        self.backend = backend
        self.settle_ms = int(settle_s * 1000)
        self.overlap_ms = int(overlap_s * 1000)
        self.peer_grace_ms = int(peer_grace_s * 1000)
        self.max_candidates = max_candidates
        self.persist_every_ms = int(persist_every_s * 1000)
        self.thresholds = thresholds
        self._lock = _store_lock(backend.url)

    def run_pass(self, now_ms: int | None = None) -> PassResult:
        result = PassResult()
        with self._lock:
            now = now_ms if now_ms is not None else int(time.time() * 1000)
            for source in SOURCES:
                self._pass(source, now, result)
        return result

    def run_until_caught_up(self, max_passes: int = 1000) -> PassResult:
        total = PassResult()
        for _ in range(max_passes):
            result = self.run_pass()
            total.candidates += result.candidates
            total.deferred += result.deferred
            total.stored += result.stored
            if result.caught_up:
                return total
        total.caught_up = False
        return total

    def _pass(self, source: str, now_ms: int, result: PassResult) -> None:
        hi = now_ms - self.settle_ms
        persisted = store.read_watermark(self.backend, source)
        watermark = persisted if persisted is not None else self._start(source)
        if hi <= watermark:
            return
        fresh, reached = self._read(source, watermark, hi)
        recheck: list[Any] = []
        if self.overlap_ms > 0:
            recheck, _ = self._read(source, watermark - self.overlap_ms, watermark)
        result.caught_up = result.caught_up and reached == hi
        result.candidates += len(fresh)
        events, deferred = self._evaluate(source, [*recheck, *fresh], now_ms)
        result.deferred += deferred
        known = store.existing_keys(self.backend, events) if events else set()
        new = list({e.key: e for e in events if e.key not in known}.values())
        store.insert(self.backend, new)
        result.stored += len(new)
        if persisted is None or new or reached - persisted >= self.persist_every_ms:
            store.write_watermark(self.backend, source, max(reached, persisted or reached))

    def _start(self, source: str) -> int:
        """Where a detector that never ran starts: just before the oldest stored row."""
        oldest = self.backend.scalar(f"SELECT toUnixTimestamp64Milli(min(ingested_at)) FROM {source}")  # noqa: S608
        return int(oldest) - 1 if oldest else int(time.time() * 1000) - self.settle_ms

    def _read(self, source: str, lo: int, hi: int) -> tuple[list[Any], int]:
        """Candidates in (lo, hi], and how far they cover: `hi`, or less when the limit cut in
        (then the last, possibly partial, millisecond is left for the next pass)."""
        read: Callable[[StorageBackend, int, int, int], Sequence[Any]]
        read = freezes.read_candidates if source == "samples" else joins.read_candidates
        found: list[Any] = list(read(self.backend, lo, hi, self.max_candidates))
        if len(found) < self.max_candidates:
            return found, hi
        last = found[-1].ingested_ms
        complete = [c for c in found if c.ingested_ms < last]
        if complete:
            return complete, last - 1
        # One commit larger than the limit: take that millisecond whole (a commit is bounded
        # by the writer's batch size), or the watermark could never pass it.
        return list(read(self.backend, last - 1, last, 2**31)), last

    def _evaluate(self, source: str, candidates: list[Any], now_ms: int) -> tuple[list[DetectedEvent], int]:
        events: list[DetectedEvent] = []
        deferred = 0
        if source == "events":
            for group in joins.groups(candidates):
                context = joins.read_context(self.backend, group, self.thresholds)
                events += joins.evaluate(group, context, self.thresholds)
            return events, 0
        for fgroup in freezes.groups(candidates):
            rows = freezes.read_context(self.backend, fgroup, self.thresholds)
            found, waiting = freezes.evaluate(
                fgroup, rows, now_ms=now_ms, peer_grace_ms=self.peer_grace_ms, th=self.thresholds
            )
            events += found
            deferred += len(waiting)
        return events, deferred


class BackgroundDetector:
    """Runs `Detector.run_pass` every `poll_s` on the app's event loop (the pass itself in a
    worker thread). `stop()` lets the current pass finish, so the store is never closed under it."""

    def __init__(self, detector: Detector, poll_s: float) -> None:
        self.detector = detector
        self.poll_s = poll_s
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="abnormal-detector")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                result = await asyncio.to_thread(self.detector.run_pass)
                if result.stored:
                    log.info("abnormal events detected", extra={"stored": result.stored})
            except Exception:  # noqa: BLE001 - a failed pass is retried on the next tick
                log.exception("abnormal-event detection pass failed")
            wait_s = max(0.0, self.poll_s - (time.monotonic() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=wait_s)
