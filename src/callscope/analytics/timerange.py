"""Time ranges for queries: validated once, with the limits every surface shares."""

from __future__ import annotations

from dataclasses import dataclass

from callscope.domain.timestamps import US_PER_S, WireTimestamp, to_epoch_us
from callscope.errors import BadRequest

MAX_SPAN_S = 31 * 86_400  # the longest history any vendor API we mirror allows in one query


@dataclass(frozen=True, slots=True)
class TimeRange:
    start_us: int
    end_us: int

    @classmethod
    def parse(cls, start: WireTimestamp, end: WireTimestamp, *, max_span_s: int = MAX_SPAN_S) -> TimeRange:
        try:
            start_us, end_us = to_epoch_us(start), to_epoch_us(end)
        except (ValueError, OverflowError) as exc:
            raise BadRequest(f"start/end: {exc}", field="start") from exc
        if start_us >= end_us:
            raise BadRequest("start must be before end", field="start")
        if end_us - start_us > max_span_s * US_PER_S:
            raise BadRequest(
                f"the time range may span at most {max_span_s} s", field="end", max_span_s=max_span_s
            )
        return cls(start_us, end_us)
