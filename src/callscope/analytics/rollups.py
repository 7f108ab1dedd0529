"""Per-minute rollups, maintained by the engine as samples arrive.

`stream_minutes` holds, per stream and minute, the partial sums (or max/min) of every catalog
metric. A materialized view fills it inside the same insert that stores the samples, so a
sample is in the per-minute numbers the moment it is acknowledged (the rollup is fsync'd like
the samples), and no job recomputes anything. Because every ratio metric is Σ numerator /
Σ denominator, any coarser interval, filter or group-by is exact: sum the partials, then
divide. Known gap: a crash between the two part writes of one insert (samples, then rollup)
leaves that minute short; the request was not acknowledged, and nothing rebuilds such a
minute from the samples yet.

`stream_days` holds the same partials per stream and UTC day, filled by a second view on
`stream_minutes` (views cascade: a sample reaches both in the one insert). Days outlive minutes
(400 vs 31 days by default), which is what history queries over a year read.

Columns are named after the definition version (`audio_mos_v1__num`). A new metric or a new
version adds columns on start-up (`ensure`), recreates the view and backfills the new columns
from the raw samples still retained; columns of an older version stay, so the numbers stored
under it never change meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

from callscope.analytics.metrics import Aggregation, Catalog, Metric
from callscope.storage.base import StorageBackend
from callscope.storage.migrations import set_retention

TABLE = "stream_minutes"
VIEW = "stream_minutes_mv"
DAY_TABLE = "stream_days"
DAY_VIEW = "stream_days_mv"
TABLES = (TABLE, DAY_TABLE)
KEYS = ("app_id", "room_id", "user_id", "session_id", "kind", "direction", "peer_id", "source")
_KEY_TYPES = {"app_id": "LowCardinality(String)", "kind": "LowCardinality(String)"}
_KEY_TYPES |= {"direction": "LowCardinality(String)", "source": "LowCardinality(String)"}


@dataclass(frozen=True)
class Column:
    name: str
    merge: str  # how partials combine (parts into parts, minutes into days): sum, max or min
    value_type: str
    select: str  # the aggregate over samples that fills it

    @property
    def type(self) -> str:
        return f"SimpleAggregateFunction({self.merge}, {self.value_type})"


def columns(metric: Metric) -> list[Column]:
    base = f"{metric.name}_v{metric.version}"
    if metric.aggregation is Aggregation.RATIO:
        num, den = metric.sums_sql()
        return [
            Column(f"{base}__num", "sum", "Float64", num),
            Column(f"{base}__den", "sum", "Float64", den),
        ]
    if metric.aggregation is Aggregation.SUM:
        return [Column(f"{base}__sum", "sum", "Float64", metric.sql())]
    if metric.aggregation is Aggregation.USER_MEDIAN:
        return []  # evaluated over other metrics' partial sums (its rollup_value)
    if metric.aggregation in (Aggregation.DISTINCT, Aggregation.PEAK):
        if metric.value not in KEYS:
            raise ValueError(f"{metric.name}: distinct counts need a rollup key, not {metric.value}")
        return []  # counted over the rollup's own key columns
    fn = metric.aggregation.value
    return [Column(f"{base}__{fn}", fn, "Nullable(Float64)", metric.sql())]


def merged(metric: Metric) -> str:
    """The metric over rollup rows: sum the partials, then divide (or max/min of the extremes)."""
    base = f"{metric.name}_v{metric.version}"
    if metric.aggregation is Aggregation.RATIO:
        return f"sum({base}__num) / nullIf(sum({base}__den), 0)"
    if metric.aggregation is Aggregation.SUM:
        return f"sum({base}__sum)"
    if metric.aggregation is Aggregation.DISTINCT:
        return metric.sql()  # `where` reads key columns only, which the rollup keeps
    if metric.aggregation is Aggregation.PEAK:
        return metric.sql(minute="minute")
    if metric.aggregation is Aggregation.USER_MEDIAN:
        return metric.rollup_value
    fn = metric.aggregation.value
    return f"{fn}OrNull({base}__{fn})"


def _wanted(catalog: Catalog) -> list[Column]:
    return [c for m in catalog if m.source == "samples" for c in columns(m)]


def _create_table_sql(table: str, time_column: str, time_type: str, retention_days: int) -> str:
    keys = ",\n    ".join(f"{k} {_KEY_TYPES.get(k, 'String')}" for k in KEYS)
    return f"""CREATE TABLE IF NOT EXISTS {table} (
    {keys},
    {time_column} {time_type},
    samples SimpleAggregateFunction(sum, UInt64)
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM({time_column})
ORDER BY (app_id, {time_column}, room_id, user_id, session_id, kind, direction, peer_id, source)
TTL toDateTime({time_column}) + INTERVAL {int(retention_days)} DAY
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1"""


def _select_sql(wanted: list[Column], with_count: bool) -> str:
    parts = [*KEYS, "toStartOfMinute(ts) AS minute"]
    if with_count:
        parts.append("count() AS samples")
    parts += [f"{c.select} AS {c.name}" for c in wanted]
    # Fixed key names and catalog SQL only; no request value reaches this text.
    return f"SELECT {', '.join(parts)} FROM samples GROUP BY {', '.join(KEYS)}, minute"  # noqa: S608


def _days_sql(wanted: list[Column]) -> str:
    """Minutes into days: every partial combines the way its column type says."""
    parts = [*KEYS, "toDate(minute) AS day", "sum(samples) AS samples"]
    parts += [f"{c.merge}({c.name}) AS {c.name}" for c in wanted]
    return f"SELECT {', '.join(parts)} FROM {TABLE} GROUP BY {', '.join(KEYS)}, day"  # noqa: S608


def _exists(backend: StorageBackend, table: str) -> bool:
    return bool(backend.query("EXISTS TABLE " + table)[0].popitem()[1])


def _add_columns(backend: StorageBackend, table: str, wanted: list[Column]) -> list[Column]:
    present = {r["name"] for r in backend.query(f"DESCRIBE TABLE {table}")}
    missing = [c for c in wanted if c.name not in present]
    for c in missing:
        backend.command(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {c.name} {c.type}")
    return missing


def ensure(
    backend: StorageBackend,
    catalog: Catalog,
    *,
    retention_days: int,
    day_retention_days: int = 400,
    views: bool = True,
) -> list[str]:
    """Bring the rollups up to the catalog. Runs at start-up, before ingest, so the backfill
    and the views never both count the same sample. Returns the minute columns added.

    `views=False` (setting `rollups`) keeps the tables but drops the views, so ingest pays
    nothing for rollups: only for measuring that cost. Samples stored meanwhile never reach the
    rollups (the backfill on a later start covers new columns only, not missed samples)."""
    minutes_existed, days_existed = _exists(backend, TABLE), _exists(backend, DAY_TABLE)
    backend.command(_create_table_sql(TABLE, "minute", "DateTime('UTC')", retention_days))
    backend.command(_create_table_sql(DAY_TABLE, "day", "Date", day_retention_days))
    set_retention(backend, TABLE, "minute", retention_days)
    set_retention(backend, DAY_TABLE, "day", day_retention_days)
    wanted = _wanted(catalog)
    missing = _add_columns(backend, TABLE, wanted)
    _add_columns(backend, DAY_TABLE, wanted)
    # The views are always rebuilt: their SQL may have changed (same definitions, cheaper text)
    # and nothing is being ingested yet, so no insert can slip between the drop and the create.
    backend.command(f"DROP VIEW IF EXISTS {VIEW}")
    backend.command(f"DROP VIEW IF EXISTS {DAY_VIEW}")
    if not views:
        return []
    if minutes_existed and not days_existed:
        # Daily rollups are new to this store: seed them from the minutes it still holds, before
        # the minute backfill below (which flows into days through the view) adds new columns.
        kept = [c for c in wanted if c not in missing]
        names = ", ".join([*KEYS, "day", "samples", *(c.name for c in kept)])
        backend.command(f"INSERT INTO {DAY_TABLE} ({names}) {_days_sql(kept)}")
    backend.command(f"CREATE MATERIALIZED VIEW {DAY_VIEW} TO {DAY_TABLE} AS {_days_sql(wanted)}")
    backend.command(f"CREATE MATERIALIZED VIEW {VIEW} TO {TABLE} AS {_select_sql(wanted, with_count=True)}")
    # Rows holding only the new columns (zeros elsewhere) merge into the existing minutes exactly,
    # and reach the days through the day view.
    backfill = wanted if not minutes_existed else missing
    if backfill:
        names = ", ".join(
            [*KEYS, "minute", *(["samples"] if not minutes_existed else []), *(c.name for c in backfill)]
        )
        backend.command(
            f"INSERT INTO {TABLE} ({names}) {_select_sql(backfill, with_count=not minutes_existed)}"
        )
    return [c.name for c in missing]
