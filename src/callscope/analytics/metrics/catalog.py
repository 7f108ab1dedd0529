"""What a metric is: a registered, versioned, documented definition with known answers.

Every metric is a ratio of two sums over rows of one source table (or a max/min of a per-row
value, a sum, or a count of distinct keys), because these roll up: a minute's numerator and
denominator add into an hour's or a day's, and any filter or group-by can be applied before the
division. A mean of a per-row value
is the ratio of Σ value over Σ 1 where the value was measured (NaN rows excluded, never counted
as 0). The end-to-end delays are the exception: a median over users of per-user values
(USER_MEDIAN), which does not add up, so it is re-evaluated from other metrics' partial sums.
The engine evaluates the one SQL expression; there is no second implementation to drift.

Golden vectors (rows in, answer out) live beside each definition, are rendered into
docs/metrics.md and are checked on the real engine by tests/analytics/test_metric_vectors.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

DIALECTS = ("clickhouse",)  # chDB and ClickHouse servers run the same SQL
NAN = math.nan  # "not measured" in vectors, as in the store


class Better(StrEnum):
    HIGHER = "higher"
    LOWER = "lower"


class Aggregation(StrEnum):
    RATIO = "ratio"  # Σ numerator / Σ denominator over the rows that pass the filter
    MAX = "max"  # largest measured per-row value
    MIN = "min"  # smallest measured per-row value
    SUM = "sum"  # total of a measured per-row value (durations, counts)
    DISTINCT = "distinct"  # how many different values of a key column (users, rooms) the rows have
    PEAK = "peak"  # the most different values of a key column in any one minute (concurrency)
    # The median over users of each user's own value in the bucket (vendors' "daily median of
    # users"). `value` is the whole aggregate over raw rows, `rollup_value` the same over the
    # per-minute/day rollup's partial sums; neither rolls up by addition, both are re-evaluated.
    USER_MEDIAN = "median of users"


@dataclass(frozen=True)
class Thresholds:
    """Bands for colouring and alerting: `good` and `poor` bounds in the metric's unit.

    With Better.LOWER a value ≤ good is good and ≥ poor is poor; with Better.HIGHER the reverse.
    """

    good: float
    poor: float
    source: str  # where the numbers come from


@dataclass(frozen=True)
class Vector:
    """A golden test vector: source rows (missing columns take the table's defaults) → answer."""

    name: str
    rows: tuple[dict[str, Any], ...]
    expected: float | None  # None: no answer (no measured rows)
    tolerance: float = 1e-6


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    description: str
    better: Better
    version: int
    source: str  # the table the rows come from
    fields: tuple[str, ...]  # the source columns the definition reads
    aggregation: Aggregation
    value: str  # per-row SQL: the numerator (RATIO) or the value (MAX/MIN); NaN = unmeasured
    denominator: str = "1"  # per-row SQL, RATIO only
    where: str = "1"  # per-row SQL filter
    rollup_value: str = ""  # USER_MEDIAN only: the aggregate over rollup rows
    thresholds: Thresholds | None = None
    vectors: tuple[Vector, ...] = ()
    notes: str = ""

    @property
    def definition_version(self) -> str:
        return f"{self.name}@v{self.version}"

    def sql(self, dialect: str = "clickhouse", *, minute: str = "toStartOfMinute(ts)") -> str:
        """The aggregate expression over the source rows; NULL when nothing was measured.

        `minute` is how a row's minute is read: from a timestamp in raw rows, or the `minute`
        column of the per-minute rollup (PEAK only)."""
        if dialect not in DIALECTS:
            raise ValueError(f"no {dialect!r} rendering of {self.name}; known: {', '.join(DIALECTS)}")
        if self.aggregation is Aggregation.RATIO:
            num, den = self.sums_sql()
            return f"{num} / nullIf({den}, 0)"
        if self.aggregation is Aggregation.DISTINCT:
            return f"uniqExactIf({self.value}, {self.where})"
        if self.aggregation is Aggregation.PEAK:
            # Distinct values per minute (a map minute → count), then the largest; 0 for no rows.
            return f"arrayMax(mapValues(uniqExactMapIf(map({minute}, {self.value}), {self.where})))"
        if self.aggregation is Aggregation.SUM:
            return self.sums_sql()[0]
        if self.aggregation is Aggregation.USER_MEDIAN:
            return self.value
        fn = "max" if self.aggregation is Aggregation.MAX else "min"
        return f"{fn}IfOrNull({self._alias('value')}, ({self.where}) AND {self._measured()})"

    def sums_sql(self) -> tuple[str, str]:
        """Σ numerator and Σ denominator over the rows that pass `where` and were measured
        (value and denominator finite). Each sum rolls up by addition."""
        rows = f"({self.where}) AND {self._measured()}"
        return f"sumIf({self._alias('value')}, {rows})", f"sumIf({self._alias('weight')}, {rows})"

    def _measured(self) -> str:
        # The value's expression is written once and named (an alias the engine reuses), not
        # repeated in the sum and the finiteness test: the engine parses and analyses the
        # rollup view's SQL on every insert, and repetition made that ~45 ms per commit.
        value = f"isFinite(toFloat64({self.value}) AS {self._alias('value')})"
        return f"{value} AND isFinite(toFloat64({self.denominator}) AS {self._alias('weight')})"

    def _alias(self, part: str) -> str:
        """A query-wide name for a per-row expression of this metric and version."""
        return f"{self.name}_v{self.version}__{part}"


@dataclass
class Catalog:
    metrics: dict[str, Metric] = field(default_factory=dict)

    def register(self, *metrics: Metric) -> None:
        for metric in metrics:
            if metric.name in self.metrics:
                raise ValueError(f"metric {metric.name} registered twice")
            if metric.aggregation is not Aggregation.RATIO and metric.denominator != "1":
                raise ValueError(f"{metric.name}: only ratios have a denominator")
            if (metric.aggregation is Aggregation.USER_MEDIAN) != bool(metric.rollup_value):
                raise ValueError(f"{metric.name}: a median of users (and only that) has a rollup_value")
            self.metrics[metric.name] = metric

    def __getitem__(self, name: str) -> Metric:
        try:
            return self.metrics[name]
        except KeyError:
            raise KeyError(f"unknown metric {name!r}; known: {', '.join(sorted(self.metrics))}") from None

    def __iter__(self) -> Any:
        return iter(self.metrics.values())
