"""The ingest pipeline every source shares: idempotency → decode → check → write → outcomes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

import orjson

from callscope.collectors.checks import Window, check_records
from callscope.collectors.decode import Decoded, decode_batch
from callscope.collectors.events import event_rows
from callscope.collectors.outcomes import BatchSummary, ItemProblem, Outcome
from callscope.collectors.samples import sample_rows
from callscope.collectors.webrtc import Baseline, Normalized, Outdated, WebRtcNormalizer
from callscope.domain.events import Event
from callscope.domain.samples import Sample
from callscope.domain.tenancy import IngestScope
from callscope.domain.timestamps import now_us
from callscope.domain.webrtc import WebRtcReport
from callscope.errors import Backpressure
from callscope.observability import Metrics
from callscope.storage.idempotency import IdempotencyLedger, Origin
from callscope.storage.writer import GroupCommitWriter, TableRows

REPORT_ID_FIELDS = ("room_id", "user_id", "session_id", "pc_id", "peer_id")


class Endpoint(StrEnum):
    SAMPLES = "samples"
    EVENTS = "events"
    WEBRTC = "webrtc"


@dataclass(frozen=True)
class IngestLimits:
    max_items: int
    max_age_s: int
    max_skew_s: int


class IngestPipeline:
    def __init__(
        self,
        *,
        writer: GroupCommitWriter,
        ledger: IdempotencyLedger,
        limits: IngestLimits,
        metrics: Metrics,
        clock: Callable[[], int] = now_us,
    ) -> None:
        self._writer = writer
        self._ledger = ledger
        self._limits = limits
        self._metrics = metrics
        self._clock = clock
        self._normalizer = WebRtcNormalizer()
        self._in_flight: dict[tuple[str, str], asyncio.Future[BatchSummary]] = {}

    async def ingest(
        self,
        endpoint: Endpoint,
        body: bytes,
        *,
        scope: IngestScope,
        idempotency_key: str | None = None,
        origin: Origin = "request",
    ) -> BatchSummary:
        """Store what is valid in `body`; one outcome per item. Raises Backpressure when full."""
        if idempotency_key is None:
            summary = await self._ingest(endpoint, body, scope)
        else:
            summary = await self._ingest_once(endpoint, body, scope, idempotency_key, origin)
        for (outcome, reason), count in summary.reason_counts().items():
            if count:
                self._metrics.ingest_items.labels(endpoint.value, outcome, reason).inc(count)
        return summary

    async def _ingest_once(
        self, endpoint: Endpoint, body: bytes, scope: IngestScope, key: str, origin: Origin
    ) -> BatchSummary:
        slot = (scope.app_id, key)
        if slot in self._in_flight:  # the same key concurrently: answer as the first one did
            return _as_replay(await asyncio.shield(self._in_flight[slot]))
        done: asyncio.Future[BatchSummary] = asyncio.get_running_loop().create_future()
        self._in_flight[slot] = done
        try:
            prior = await asyncio.to_thread(self._ledger.lookup, scope.app_id, key)
            if prior is not None:
                summary = _as_replay(BatchSummary.from_wire(orjson.loads(prior)))
            else:
                summary = await self._ingest(endpoint, body, scope)
                record = self._ledger.rows(
                    scope.app_id,
                    key,
                    origin,
                    orjson.dumps(summary.to_wire()).decode(),
                    self._clock(),
                )
                # Acknowledged only once the key is durable too, so any retry after our answer
                # is recognised; a crash before this leaves only rows the item keys catch.
                await self._writer.write({"ingest_batches": record})
            done.set_result(summary)
            return summary
        except BaseException as exc:
            done.set_exception(exc)
            done.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._in_flight[slot]

    async def _ingest(self, endpoint: Endpoint, body: bytes, scope: IngestScope) -> BatchSummary:
        window = Window(self._clock(), self._limits.max_age_s, self._limits.max_skew_s)
        if endpoint is Endpoint.WEBRTC:
            prepared = self._prepare_reports(body, scope, window)
        else:
            prepared = self._validate(endpoint, body, scope, window)
        summary = BatchSummary(total=prepared.total, problems=prepared.problems)
        if len(prepared.rows) == 0:
            prepared.on_commit()
            return summary
        try:
            written = self._writer.write({prepared.table: prepared.rows})
        except Backpressure as exc:
            self._metrics.rejected_requests.labels("queue_full").inc()
            self._metrics.ingest_items.labels(endpoint.value, "rate_limited", "").inc(prepared.total)
            exc.extra["rate_limited"] = prepared.total
            raise
        result = await written
        prepared.on_commit()
        if prepared.row_items is not None:
            for row_index in result.duplicates.get(prepared.table, []):
                summary.problems.append(
                    ItemProblem(
                        prepared.row_items[row_index], Outcome.DUPLICATE, None, None, "already stored"
                    )
                )
        return summary

    def _validate(self, endpoint: Endpoint, body: bytes, scope: IngestScope, window: Window) -> _Prepared:
        app_id, max_items = scope.app_id, self._limits.max_items
        if endpoint is Endpoint.SAMPLES:
            samples = decode_batch(body, "samples", Sample, max_items=max_items)
            rows, indexes, problems = sample_rows(samples, app_id=app_id, scope=scope, window=window)
            return _Prepared("samples", rows, indexes, problems, samples.total)
        events = decode_batch(body, "events", Event, max_items=max_items)
        rows, indexes, problems = event_rows(events, app_id=app_id, scope=scope, window=window)
        return _Prepared("events", rows, indexes, problems, events.total)

    def _prepare_reports(self, body: bytes, scope: IngestScope, window: Window) -> _Prepared:
        """Reports are the items; their samples are stored, and baselines advance on commit."""
        reports = decode_batch(body, "reports", WebRtcReport, max_items=self._limits.max_items)
        checked = check_records(
            reports.items,
            reports.problems,
            scope=scope,
            window=window,
            consistency=lambda _index, _report: None,
            id_fields=REPORT_ID_FIELDS,
        )
        problems = checked.problems
        normalized: list[Normalized] = []
        pending: dict[tuple[str, str, str], Baseline] = {}
        derived: list[tuple[int, Sample]] = []
        for report, ts_us, index in zip(checked.records, checked.ts_us, checked.indexes, strict=True):
            try:
                window_samples = self._normalizer.normalize(scope.app_id, report, ts_us / 1000, pending)
            except Outdated as exc:
                problems.append(ItemProblem(index, Outcome.DUPLICATE, None, None, str(exc)))
                continue
            normalized.append(window_samples)
            derived += [(index, sample) for sample in window_samples.samples]
        rows, _, sample_problems = sample_rows(
            Decoded(derived, [], len(derived)), app_id=scope.app_id, scope=scope, window=window
        )
        # Derived samples are built by us; a problem here is a bug, reported against its report.
        problems += [replace(p, message=f"derived sample: {p.message}") for p in sample_problems]

        def advance() -> None:
            for item in normalized:
                self._normalizer.commit(item)

        return _Prepared("samples", rows, None, problems, reports.total, advance)


@dataclass
class _Prepared:
    """A validated batch: rows for one table and what to report about its items."""

    table: str
    rows: TableRows
    row_items: list[int] | None  # item index of each row, when rows and items are one to one
    problems: list[ItemProblem]
    total: int
    on_commit: Callable[[], None] = lambda: None


def _as_replay(original: BatchSummary) -> BatchSummary:
    """A repeated batch: nothing new is stored; what was accepted then is a duplicate now."""
    problems = [p for p in original.problems if p.outcome is Outcome.INVALID]
    listed = {p.index for p in problems}
    problems += [
        ItemProblem(i, Outcome.DUPLICATE, None, None, "already stored (repeated Idempotency-Key)")
        for i in range(original.total)
        if i not in listed
    ]
    return BatchSummary(total=original.total, problems=problems, replayed=True)
