"""docs/metrics.md, rendered from the catalog (`callscope metrics --markdown`)."""

from __future__ import annotations

import math

from callscope.analytics.metrics.catalog import Aggregation, Catalog, Metric

_HEADER = """# Metrics

Generated from the metric catalog (`src/callscope/analytics/metrics/`) by
`callscope metrics --markdown > docs/metrics.md`; a test fails when this file and the catalog
disagree. Every metric is versioned: a change of meaning is a new version, and stored results
(abnormal events, reports) name the version they used (`name@vN`).

How to read a definition: the **rows** are windows of one stream (one sample each, usually 5 s)
from the table named in *source*, after the query's own filters (app, room, participant, kind,
direction…) and the metric's *where*. A **ratio** is Σ numerator / Σ denominator over those rows,
counting only rows where the numerator was measured (NaN is "not measured", never 0), so it
rolls up exactly from minutes to days. **max**/**min** are over measured rows. No rows: no value
(`null`), never 0. A **median of users** (the end-to-end delays) first computes each user's value
from that user's rows (and its publishers'), then takes the exact median over users; it is
re-evaluated over the rollups' RTT and jitter sums, so minutes and days give exact answers too.

Golden vectors (rows in, answer out) are run on the real engine by
`tests/analytics/test_metric_vectors.py`; unlisted columns take defaults (numbers NaN or 0).
"""


_MEDIAN_OF_USERS = (
    "per user: sums of its rows (as maps user → Σ), its delay from them as the description says; "
    "then the exact median over users (`src/callscope/analytics/metrics/delay.py`)"
)
_DERIVED = {
    "join_waits": "one row per `join` / `join_failed` event with its `join_wait_ms`, computed from "
    "`events` by `src/callscope/analytics/metrics/join_waits.py`"
}


def _value(v: object) -> str:
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    return str(v)


def _metric(m: Metric) -> str:
    lines = [
        f"## `{m.name}` (v{m.version})",
        "",
        m.description,
        "",
        "| | |",
        "|---|---|",
        f"| unit | {m.unit} |",
        f"| better | {m.better.value} |",
        f"| source | `{m.source}`: {', '.join(f'`{f}`' for f in m.fields)} |",
        *([f"| derived source | {_DERIVED[m.source]} |"] if m.source in _DERIVED else []),
        f"| aggregation | {m.aggregation.value} |",
    ]
    if m.aggregation is Aggregation.RATIO:
        lines.append(f"| numerator (per row) | `{m.value}` |")
        lines.append(f"| denominator (per row) | `{m.denominator}` |")
    elif m.aggregation is Aggregation.USER_MEDIAN:
        # The SQL is a page long; the description states it and the module renders it.
        lines.append(f"| value | {_MEDIAN_OF_USERS} |")
    else:
        lines.append(f"| value (per row) | `{m.value}` |")
    if m.aggregation is not Aggregation.USER_MEDIAN:
        lines.append(f"| where | `{m.where}` |")
    if m.thresholds is not None:
        t = m.thresholds
        good, poor = ("≤", "≥") if m.better.value == "lower" else ("≥", "≤")
        lines.append(f"| thresholds | good {good} {t.good}, poor {poor} {t.poor} ({t.source}) |")
    if m.notes:
        lines.append(f"| notes | {m.notes} |")
    lines += ["", "Golden vectors:", ""]
    for v in m.vectors:
        rows = "; ".join("{" + ", ".join(f"{k}={_value(x)}" for k, x in r.items()) + "}" for r in v.rows)
        answer = "no value" if v.expected is None else f"{v.expected}"
        lines.append(f"- {v.name}: {rows} → **{answer}**")
    return "\n".join(lines) + "\n"


def render(catalog: Catalog) -> str:
    index = "\n".join(f"- [`{m.name}`](#{m.name}-v{m.version}) ({m.unit})" for m in catalog)
    body = "\n".join(_metric(m) for m in catalog)
    return f"{_HEADER}\n{index}\n\n{body}"
