"""Every metric's golden vectors, evaluated by the real engine with the SQL the queries use."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from callscope.analytics.metrics import CATALOG, DERIVED_SOURCES, Aggregation, Metric, Vector
from callscope.app import Services
from callscope.storage.base import StorageBackend
from callscope.storage.schema import EVENTS, SAMPLES

SCHEMAS = {"samples": SAMPLES, "events": EVENTS}
CASES = [(m, v) for m in CATALOG for v in m.vectors]


def _default(field: pa.Field) -> Any:
    if pa.types.is_floating(field.type):
        return math.nan  # "not measured", as ingest stores it
    if pa.types.is_integer(field.type):
        return 0
    if pa.types.is_timestamp(field.type):
        return int(time.time() * 1e6)
    return ""


def _table(schema: pa.Schema, rows: tuple[dict[str, Any], ...]) -> pa.Table:
    unknown = {k for row in rows for k in row} - set(schema.names)
    assert not unknown, f"vector uses columns the table does not have: {unknown}"
    columns = {f.name: [row.get(f.name, _default(f)) for row in rows] for f in schema}
    return pa.Table.from_pydict(columns, schema=schema)


@pytest.fixture(scope="module")
def scratch(services: Services) -> Iterator[tuple[StorageBackend, str]]:
    """A scratch copy of each source table's structure (Memory engine), dropped afterwards."""
    backend, prefix = services.backend, f"vectors_{uuid.uuid4().hex[:8]}"
    for source in SCHEMAS:
        backend.command(f"CREATE TABLE {prefix}_{source} AS {source} ENGINE = Memory")
    yield backend, prefix
    for source in SCHEMAS:
        backend.command(f"DROP TABLE IF EXISTS {prefix}_{source}")


def evaluate(backend: StorageBackend, prefix: str, metric: Metric, rows: tuple[dict[str, Any], ...]) -> Any:
    stored, derive = DERIVED_SOURCES.get(metric.source, (metric.source, None))
    table = f"{prefix}_{stored}"
    backend.command(f"TRUNCATE TABLE {table}")
    if rows:
        backend.insert_arrow(table, _table(SCHEMAS[stored], rows))
    # A derived source is computed from the vector's rows by the same SQL the queries use.
    source = table if derive is None else f"({derive(table, '1')})"
    return backend.query(f"SELECT {metric.sql()} AS v FROM {source}")[0]["v"]  # noqa: S608 - catalog SQL


@pytest.mark.parametrize(("metric", "vector"), CASES, ids=[f"{m.name}-{v.name}" for m, v in CASES])
def test_golden_vector(scratch: tuple[StorageBackend, str], metric: Metric, vector: Vector) -> None:
    got = evaluate(*scratch, metric, vector.rows)
    if vector.expected is None:
        assert got is None or math.isnan(got), f"{metric.name}: expected no value, got {got}"
    else:
        assert got is not None and abs(got - vector.expected) <= vector.tolerance, (
            f"{metric.definition_version} {vector.name}: got {got}, expected {vector.expected}"
        )


def test_every_metric_has_vectors_and_only_ratios_have_denominators() -> None:
    for metric in CATALOG:
        assert metric.vectors, f"{metric.name} has no golden vectors"
        assert metric.aggregation is Aggregation.RATIO or metric.denominator == "1"


def test_no_rows_is_no_value_except_for_counts(scratch: tuple[StorageBackend, str]) -> None:
    for metric in CATALOG:
        got = evaluate(*scratch, metric, ())
        if metric.aggregation in (Aggregation.DISTINCT, Aggregation.PEAK, Aggregation.SUM):
            assert got == 0, f"{metric.name}: no rows are zero users, rooms or minutes, got {got}"
        else:
            assert got is None or math.isnan(got), f"{metric.name} over no rows gave {got}"
