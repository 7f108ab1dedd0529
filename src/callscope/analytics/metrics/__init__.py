"""The metric catalog: every number Callscope shows is one of these definitions."""

from __future__ import annotations

from callscope.analytics.metrics import (
    delay,
    join_waits,
    joins,
    scale,
    scores,
    stream_quality,
    stream_start,
    usage,
)
from callscope.analytics.metrics.catalog import Aggregation, Better, Catalog, Metric, Thresholds, Vector

CATALOG = Catalog()
CATALOG.register(
    *stream_quality.METRICS,
    *scores.METRICS,
    *usage.METRICS,
    *scale.METRICS,
    *joins.METRICS,
    *stream_start.METRICS,
    *delay.METRICS,
)
# Sources computed from a stored table: name → (the table, SELECT over it given a row filter).
DERIVED_SOURCES = {"join_waits": ("events", join_waits.select_sql)}

__all__ = ["CATALOG", "DERIVED_SOURCES", "Aggregation", "Better", "Catalog", "Metric", "Thresholds", "Vector"]
