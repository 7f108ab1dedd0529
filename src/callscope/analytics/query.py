"""The one entry point for metric numbers: metrics × scope × time range × interval × filters.

Every surface (native API, vendor facades, dashboard) asks here; none computes its own
numbers. Answers come from the per-minute rollup, so they are exact for any interval that is a
whole number of minutes and cost minutes, not samples, to compute.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from callscope.analytics import rollups
from callscope.analytics.metrics import CATALOG, Aggregation, Catalog, Metric
from callscope.analytics.timerange import TimeRange
from callscope.errors import BadRequest
from callscope.storage.base import StorageBackend

Interval = Literal["1m", "5m", "10m", "1h", "1d", "total"]
INTERVAL_S: dict[str, int] = {"1m": 60, "5m": 300, "10m": 600, "1h": 3600, "1d": 86400}
GROUPABLE = ("room_id", "user_id", "session_id", "kind", "direction", "peer_id", "source")
MAX_METRICS = 32


@dataclass(frozen=True)
class Scope:
    """Whose numbers: an app, optionally narrowed to a room, a user, a session, a publisher."""

    app_id: str
    room_id: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    peer_id: str | None = None


@dataclass(frozen=True)
class Filters:
    """Which streams: any of these kinds, directions and sources (empty = all)."""

    kind: tuple[str, ...] = ()
    direction: tuple[str, ...] = ()
    source: tuple[str, ...] = ()


@dataclass(frozen=True)
class MetricInfo:
    name: str
    unit: str
    version: int
    better: str


@dataclass
class MetricResult:
    """Rows of `ts` (bucket start; absent for interval=total), the group-by keys, `samples`
    and one value per metric (None where nothing was measured), described by `metrics`."""

    interval: str
    metrics: list[MetricInfo]
    group_by: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)


def _metrics(names: Sequence[str], catalog: Catalog) -> list[Metric]:
    if not names:
        raise BadRequest("name at least one metric", field="metric")
    if len(names) > MAX_METRICS:
        raise BadRequest(f"at most {MAX_METRICS} metrics per query", field="metric")
    try:
        return [catalog[n] for n in dict.fromkeys(names)]
    except KeyError as exc:
        raise BadRequest(str(exc.args[0]), field="metric") from exc


def query_metrics(
    backend: StorageBackend,
    *,
    metrics: Sequence[str],
    scope: Scope,
    window: TimeRange,
    interval: Interval = "1m",
    filters: Filters = Filters(),
    group_by: Sequence[str] = (),
    catalog: Catalog = CATALOG,
) -> MetricResult:
    chosen = _metrics(metrics, catalog)
    bad = [g for g in group_by if g not in GROUPABLE]
    if bad:
        raise BadRequest(
            f"cannot group by {', '.join(bad)}; choose from {', '.join(GROUPABLE)}", field="group_by"
        )
    if interval != "total" and interval not in INTERVAL_S:
        raise BadRequest(f"interval must be one of {', '.join([*INTERVAL_S, 'total'])}", field="interval")
    params: dict[str, Any] = {"app": scope.app_id, "lo": window.start_us, "hi": window.end_us}
    where = [
        "app_id = {app:String}",
        "minute >= toStartOfMinute(fromUnixTimestamp64Micro({lo:Int64}, 'UTC'))",
        "minute < fromUnixTimestamp64Micro({hi:Int64}, 'UTC')",
    ]
    for key in ("room_id", "user_id", "session_id", "peer_id"):
        value = getattr(scope, key)
        if value is not None:
            params[key] = value
            where.append(f"{key} = {{{key}:String}}")
    for key in ("kind", "direction", "source"):
        values = getattr(filters, key)
        if values:  # one bound parameter per value: the engine's Array binding is unreliable
            names = [f"{key}_{i}" for i in range(len(values))]
            params |= dict(zip(names, values, strict=True))
            where.append(f"{key} IN ({', '.join(f'{{{n}:String}}' for n in names)})")
    keys = list(dict.fromkeys(group_by))
    select = [*keys, "sum(samples) AS samples", *(f"{rollups.merged(m)} AS `{m.name}`" for m in chosen)]
    if interval != "total":
        # DateTime64 so the bucket reaches Python as a datetime (a DateTime comes back as an int).
        bucket = (
            f"toDateTime64(toStartOfInterval(minute, toIntervalSecond({INTERVAL_S[interval]})), 0, 'UTC')"
        )
        select.insert(0, f"{bucket} AS ts")
        keys = ["ts", *keys]
    group = f" GROUP BY {', '.join(keys)} ORDER BY {', '.join(keys)}" if keys else ""
    # Only catalog SQL, fixed column names and validated keys are formatted in; values are bound.
    sql = f"SELECT {', '.join(select)} FROM {rollups.TABLE} WHERE {' AND '.join(where)}{group}"  # noqa: S608
    rows = backend.query(sql, params)
    for row in rows:
        for m in chosen:
            value = row[m.name]
            if m.aggregation is Aggregation.DISTINCT:
                row[m.name] = int(value)
            else:
                row[m.name] = None if value is None or value != value else float(value)  # NaN → None
    info = [MetricInfo(m.name, m.unit, m.version, m.better.value) for m in chosen]
    return MetricResult(interval, info, list(dict.fromkeys(group_by)), rows)
