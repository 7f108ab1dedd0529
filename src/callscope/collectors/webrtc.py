"""Raw browser `getStats()` reports (`POST /v1/ingest/webrtc`).

Normalization into samples arrives with the WebRTC telemetry issue. Until then every report is
answered `invalid / not_supported` and nothing un-normalized is stored, so no client can mistake
a silent drop for success.
"""

from __future__ import annotations

from callscope.collectors.decode import check_count, raw_items
from callscope.collectors.outcomes import BatchSummary, ItemProblem, Outcome, Reason


def reject_reports(body: bytes, *, max_items: int) -> BatchSummary:
    reports = raw_items(body, "reports")
    check_count(len(reports), max_items, "reports")
    message = (
        "getStats() normalization is not available in this version; nothing was stored. "
        "Send normalized samples to /v1/ingest/samples instead."
    )
    problems = [
        ItemProblem(i, Outcome.INVALID, Reason.NOT_SUPPORTED, None, message) for i in range(len(reports))
    ]
    return BatchSummary(total=len(reports), problems=problems)
