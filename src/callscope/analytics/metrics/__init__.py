"""The metric catalog: every number Callscope shows is one of these definitions."""

from __future__ import annotations

from callscope.analytics.metrics import joins, scale, scores, stream_quality, usage
from callscope.analytics.metrics.catalog import Aggregation, Better, Catalog, Metric, Thresholds, Vector

CATALOG = Catalog()
CATALOG.register(*stream_quality.METRICS, *scores.METRICS, *usage.METRICS, *scale.METRICS, *joins.METRICS)

__all__ = ["CATALOG", "Aggregation", "Better", "Catalog", "Metric", "Thresholds", "Vector"]
