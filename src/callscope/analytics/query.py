"""The one entry point for metric numbers: metrics × scope × time range × interval × filters.

Every surface (native API, vendor facades, dashboard) asks here; none computes its own
numbers. Answers come from the per-minute rollup, so they are exact for any interval that is a
whole number of minutes and cost minutes, not samples, to compute.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from callscope.analytics import limits, rollups
from callscope.analytics.metrics import CATALOG, DERIVED_SOURCES, Aggregation, Catalog, Metric, join_waits
from callscope.analytics.timerange import TimeRange
from callscope.domain.timestamps import now_us
from callscope.errors import BadRequest
from callscope.storage.base import StorageBackend, in_strings

Interval = Literal["1m", "5m", "10m", "1h", "1d", "total"]
INTERVAL_S: dict[str, int] = {"1m": 60, "5m": 300, "10m": 600, "1h": 3600, "1d": 86400}
DAY_US = 86_400_000_000
MINUTE_INTERVALS = ("1m", "5m", "10m")  # per-minute ("real-time") families: at most a day at a time
GROUPABLE = ("room_id", "user_id", "session_id", "kind", "direction", "peer_id", "source")
MAX_METRICS = 64  # the whole catalog (36 metrics) fits in one query


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
    """Which streams: any of these kinds, directions and sources (empty = all), and sessions
    whose SDK is of these types (`native`, `webrtc`: as the session's join said)."""

    kind: tuple[str, ...] = ()
    direction: tuple[str, ...] = ()
    source: tuple[str, ...] = ()
    sdk_type: tuple[str, ...] = ()


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
    keys = list(dict.fromkeys(group_by))
    bad = [g for g in keys if g not in GROUPABLE]
    if bad:
        raise BadRequest(
            f"cannot group by {', '.join(bad)}; choose from {', '.join(GROUPABLE)}", field="group_by"
        )
    if interval != "total" and interval not in INTERVAL_S:
        raise BadRequest(f"interval must be one of {', '.join([*INTERVAL_S, 'total'])}", field="interval")
    span = limits.REALTIME if interval in MINUTE_INTERVALS else limits.HISTORY
    span.check(window, now_us=now_us())
    _check_user_median(chosen, scope, filters, keys)
    by_plan: dict[str, tuple[_Source, list[Metric]]] = {}
    for m in chosen:
        plan = _plan(m, interval, window)
        by_plan.setdefault(plan.table, (plan, []))[1].append(m)
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for plan, group in by_plan.values():
        rows = _run(backend, plan, group, scope, window, interval, filters, keys)
        for row in rows:
            key = tuple(row.get(k) for k in ("ts", *keys))
            merged.setdefault(key, {}).update(row)
    out = []
    for key in sorted(merged, key=lambda k: tuple((v is None, v) for v in k)):
        row = merged[key]
        for m in chosen:
            value = row.get(m.name)
            if m.aggregation in (Aggregation.DISTINCT, Aggregation.PEAK):
                row[m.name] = int(value or 0)
            elif m.aggregation is Aggregation.SUM:
                row[m.name] = float(value or 0)  # nothing received is 0 minutes, not unknown
            else:
                row[m.name] = None if value is None or value != value else float(value)  # NaN → None
        out.append(row)
    info = [MetricInfo(m.name, m.unit, m.version, m.better.value) for m in chosen]
    return MetricResult(interval, info, keys, out)


@dataclass(frozen=True)
class _Source:
    """Where a source's metrics are computed: the table, its time column, what it can filter."""

    table: str
    time_column: str
    columns: frozenset[str]
    count: str  # how many source rows the answer covers, named after them
    expression: Callable[[Metric], str]
    # The window's ends (bound parameters `lo`, `hi`: µs) as the time column reads them; the
    # start is taken back to its minute, the resolution of the rollups.
    since: str = "toStartOfMinute(fromUnixTimestamp64Micro({lo:Int64}, 'UTC'))"
    until: str = "fromUnixTimestamp64Micro({hi:Int64}, 'UTC')"


_SAMPLES = frozenset(GROUPABLE)
_SOURCES = {
    # Samples are many: their metrics come from the per-minute rollup.
    "samples": _Source(rollups.TABLE, "minute", _SAMPLES, "sum(samples) AS samples", rollups.merged),
    # Events are few (a handful per session): their metrics are computed from the rows.
    "events": _Source(
        "events",
        "ts",
        frozenset({"room_id", "user_id", "session_id", "peer_id", "source"}),
        "count() AS events",
        lambda m: m.sql(),
    ),
}
# Join waits need the events of the look-back before the window (an attempt there starts the
# wait of a join inside it); the outer query then keeps the joins inside the window.
_JOIN_WAITS_WHERE = (
    "app_id = {app:String} "
    "AND ts >= toStartOfMinute(fromUnixTimestamp64Micro({lo:Int64}, 'UTC')) "
    f"- toIntervalSecond({join_waits.LOOKBACK_S}) "
    "AND ts < fromUnixTimestamp64Micro({hi:Int64}, 'UTC')"
)
_SOURCES["join_waits"] = _Source(
    f"({join_waits.select_sql(DERIVED_SOURCES['join_waits'][0], _JOIN_WAITS_WHERE)})",
    "ts",
    _SOURCES["events"].columns,
    "count() AS attempts",
    lambda m: m.sql(),
)
# Whole UTC days of sample metrics come from the per-day rollup, which outlives the minutes.
_SAMPLE_DAYS = _Source(
    rollups.DAY_TABLE,
    "day",
    _SAMPLES,
    "sum(samples) AS samples",
    rollups.merged,
    since="toDate(fromUnixTimestamp64Micro({lo:Int64}, 'UTC'))",
    until="toDate(fromUnixTimestamp64Micro({hi:Int64}, 'UTC'))",
)


SDK_TYPES = ("native", "webrtc")
SESSION_LOOKBACK_US = 86_400_000_000  # a session counted in a window joined at most a day before it


def _sdk_type_clause(sdk_types: tuple[str, ...], params: dict[str, Any]) -> str:
    """Sessions whose join (or failed join) named one of these SDK types. The type rides on the
    join event only, so samples and other events are matched through their session."""
    unknown = [t for t in sdk_types if t not in SDK_TYPES]
    if unknown:
        raise BadRequest(f"sdk_type must be one of {', '.join(SDK_TYPES)}", field="sdk_type")
    wanted, bound = in_strings("sdk_type", sdk_types, "sdk_type")
    params |= bound | {"joined_after": params["lo"] - SESSION_LOOKBACK_US}
    # Only fixed text and generated parameter names are formatted in; the values are bound.
    return (
        "session_id IN (SELECT session_id FROM events WHERE app_id = {app:String} "  # noqa: S608
        "AND type IN ('join', 'join_failed') "
        "AND ts >= fromUnixTimestamp64Micro({joined_after:Int64}, 'UTC') "
        f"AND ts < fromUnixTimestamp64Micro({{hi:Int64}}, 'UTC') AND {wanted})"
    )


def _plan(metric: Metric, interval: str, window: TimeRange) -> _Source:
    whole_days = window.start_us % DAY_US == 0 and window.end_us % DAY_US == 0
    per_day = interval in ("1d", "total") and whole_days
    # A peak needs the minutes themselves; days keep only their sums.
    if metric.source == "samples" and per_day and metric.aggregation is not Aggregation.PEAK:
        return _SAMPLE_DAYS
    return _SOURCES[metric.source]


# A median of users reads every participant's rows (publishers' uplinks, receivers' jitter):
# narrowing to one user, stream kind or direction would hide half of each path.
_WHOLE_ROOM_SCOPE = ("user_id", "session_id", "peer_id")
_WHOLE_ROOM_FILTERS = ("kind", "direction")
_WHOLE_ROOM_GROUPS = ("room_id", "source")


def _check_user_median(chosen: list[Metric], scope: Scope, filters: Filters, keys: list[str]) -> None:
    medians = [m.name for m in chosen if m.aggregation is Aggregation.USER_MEDIAN]
    if not medians:
        return
    names = ", ".join(medians)
    for key in _WHOLE_ROOM_SCOPE:
        if getattr(scope, key) is not None:
            raise BadRequest(f"{names}: a median over users cannot be narrowed by {key}", field=key)
    for key in _WHOLE_ROOM_FILTERS:
        if getattr(filters, key):
            raise BadRequest(f"{names}: the metric chooses its own streams; no {key} filter", field=key)
    bad = [k for k in keys if k not in _WHOLE_ROOM_GROUPS]
    if bad:
        raise BadRequest(f"{names}: cannot group by {', '.join(bad)}", field="group_by")


def _run(
    backend: StorageBackend,
    plan: _Source,
    chosen: list[Metric],
    scope: Scope,
    window: TimeRange,
    interval: str,
    filters: Filters,
    keys: list[str],
) -> list[dict[str, Any]]:
    names = ", ".join(m.name for m in chosen)
    t = plan.time_column
    params: dict[str, Any] = {"app": scope.app_id, "lo": window.start_us, "hi": window.end_us}
    where = [
        "app_id = {app:String}",
        f"{t} >= {plan.since}",
        f"{t} < {plan.until}",
    ]
    for key in ("room_id", "user_id", "session_id", "peer_id"):
        value = getattr(scope, key)
        if value is not None:
            params[key] = value
            where.append(f"{key} = {{{key}:String}}")
    for key in ("kind", "direction", "source"):
        values = getattr(filters, key)
        if values and key not in plan.columns:
            raise BadRequest(f"{names}: cannot filter by {key}", field=key)
        if values:
            clause, bound = in_strings(key, values, key)
            params |= bound
            where.append(clause)
    if filters.sdk_type:
        where.append(_sdk_type_clause(filters.sdk_type, params))
    unusable = [k for k in keys if k not in plan.columns]
    if unusable:
        raise BadRequest(f"{names}: cannot group by {', '.join(unusable)}", field="group_by")
    select = [*keys, plan.count, *(f"{plan.expression(m)} AS `{m.name}`" for m in chosen)]
    group_keys = list(keys)
    if interval != "total":
        # DateTime64 so the bucket reaches Python as a datetime (a DateTime comes back as an int).
        # Named `bucket`, not `ts`: a select alias would shadow the events' own ts in WHERE.
        seconds = INTERVAL_S[interval]
        start = f"toStartOfInterval(toDateTime({t}, 'UTC'), toIntervalSecond({seconds}))"
        select.insert(0, f"toDateTime64({start}, 0, 'UTC') AS bucket")
        group_keys = ["bucket", *group_keys]
    group = f" GROUP BY {', '.join(group_keys)}" if group_keys else ""
    # Only catalog SQL, fixed column names and validated keys are formatted in; values are bound.
    sql = f"SELECT {', '.join(select)} FROM {plan.table} WHERE {' AND '.join(where)}{group}"  # noqa: S608
    rows = backend.query(sql, params)
    for row in rows:
        if "bucket" in row:
            row["ts"] = row.pop("bucket")
    return rows


DIMENSIONS = ("region", "isp", "country", "network_type", "platform", "sdk_version")


@dataclass
class Distribution:
    """Users online in one minute, split by a session attribute (sorted by users, most first).

    `online_users` is the minute's `online_users` metric: the values' counts add up to it."""

    minute: Any  # datetime, the minute's start
    dimension: str
    online_users: int
    values: list[dict[str, Any]]


# Online = at least one sample in the minute (the online_users metric). A user's attributes are
# those of its session that joined last (a user online twice at once, e.g. two devices, counts
# once); a session with no join event is ''. Attributes ride on the join (or failed join).
_DISTRIBUTION_SQL = """
WITH online AS (
    SELECT DISTINCT user_id, session_id FROM {rollup}
    WHERE app_id = {{app:String}} AND minute = toStartOfMinute(fromUnixTimestamp64Micro({{at:Int64}}, 'UTC'))
      AND {scope}
), attributes AS (
    SELECT session_id, argMin({dimension}, ts) AS value, min(ts) AS joined FROM events
    WHERE app_id = {{app:String}} AND type IN ('join', 'join_failed')
      AND ts >= fromUnixTimestamp64Micro({{joined_after:Int64}}, 'UTC')
      AND ts < fromUnixTimestamp64Micro({{at:Int64}}, 'UTC') + toIntervalMinute(1)
      AND session_id IN (SELECT session_id FROM online)
    GROUP BY session_id
)
SELECT value, count() AS online_users FROM (
    SELECT online.user_id AS user_id, argMax(attributes.value, attributes.joined) AS value
    FROM online LEFT JOIN attributes ON online.session_id = attributes.session_id
    GROUP BY online.user_id
)
GROUP BY value ORDER BY online_users DESC, value"""


def online_distribution(
    backend: StorageBackend,
    *,
    scope: Scope,
    at_us: int,
    dimension: str,
    filters: Filters = Filters(),
) -> Distribution:
    """Users online in the minute holding `at_us`, per value of `dimension` (SparkRTC S4)."""
    if dimension not in DIMENSIONS:
        raise BadRequest(f"dimension must be one of {', '.join(DIMENSIONS)}", field="dimension")
    for key in ("user_id", "session_id", "peer_id"):
        if getattr(scope, key) is not None:
            raise BadRequest(f"a distribution of users cannot be narrowed by {key}", field=key)
    if filters.kind or filters.direction or filters.source:
        raise BadRequest("a distribution of users counts every stream; only sdk_type filters it")
    minute_us = at_us // 60_000_000 * 60_000_000
    params: dict[str, Any] = {
        "app": scope.app_id,
        "at": minute_us,
        "lo": minute_us,
        "hi": minute_us + 60_000_000,
    }
    params["joined_after"] = minute_us - SESSION_LOOKBACK_US
    clauses = ["1"]
    if scope.room_id is not None:
        params["room_id"] = scope.room_id
        clauses.append("room_id = {room_id:String}")
    if filters.sdk_type:
        clauses.append(_sdk_type_clause(filters.sdk_type, params))
    # Only fixed names, generated clauses and the validated dimension are formatted in (format
    # does not re-read the braces of the bound parameters inside them); values are bound.
    sql = _DISTRIBUTION_SQL.format(rollup=rollups.TABLE, scope=" AND ".join(clauses), dimension=dimension)
    rows = backend.query(sql, params)
    values: list[dict[str, Any]] = [
        {"value": r["value"] or "", "online_users": int(r["online_users"])} for r in rows
    ]
    return Distribution(
        datetime.fromtimestamp(minute_us / 1_000_000, UTC),
        dimension,
        sum(v["online_users"] for v in values),
        values,
    )
