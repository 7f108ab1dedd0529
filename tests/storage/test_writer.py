"""Group commit: shared commits, ack after durable, duplicates dropped, bounded queue."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest

from callscope.errors import Backpressure, StoreError
from callscope.observability import Metrics
from callscope.storage.base import StorageBackend
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
    )


def count(backend: StorageBackend) -> int:
    return int(backend.scalar("SELECT count() FROM ingest_batches"))


def test_concurrent_requests_share_commits_and_are_acked_after_commit(backend: StorageBackend) -> None:
    metrics = Metrics()
    writer = make_writer(backend, metrics)
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
    commits = metrics.commit_requests.collect()[0].samples
    n_commits = next(s.value for s in commits if s.name.endswith("_count"))
    assert n_commits < 160  # some requests shared a commit


def test_duplicates_within_and_across_requests_are_dropped(backend: StorageBackend) -> None:
    writer = make_writer(backend, Metrics())
    writer.start()
    first = writer.submit({"ingest_batches": batch_rows([1, 2, 2, 3])}).result(timeout=30)
    second = writer.submit({"ingest_batches": batch_rows([3, 4])}).result(timeout=30)
    writer.stop()
    assert first.duplicates == {"ingest_batches": [2]}
    assert second.duplicates == {"ingest_batches": [0]}
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
