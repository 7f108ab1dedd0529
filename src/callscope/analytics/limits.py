"""How long a time range each family of queries may cover: the vendors' limits, as data.

Every surface inherits these from the analytics functions, so a vendor facade refuses what its
vendor refuses and the native API is no looser. Limits follow SparkRTC's statistics APIs
(`../shared/specs/sparkrtc.md` §9 table), the strictest of the vendors we mirror.
"""

from __future__ import annotations

from dataclasses import dataclass

from callscope.analytics.timerange import TimeRange
from callscope.domain.timestamps import US_PER_S
from callscope.errors import BadRequest

DAY_S = 86_400


@dataclass(frozen=True)
class SpanLimit:
    family: str
    max_span_s: int
    max_age_s: int | None  # how far back the start may lie; None: the store's retention decides
    source: str

    def check(self, window: TimeRange, *, now_us: int) -> None:
        if window.end_us - window.start_us > self.max_span_s * US_PER_S:
            raise BadRequest(
                f"{self.family} queries may span at most {_human(self.max_span_s)}",
                field="end",
                max_span_s=self.max_span_s,
            )
        if self.max_age_s is not None and window.start_us < now_us - self.max_age_s * US_PER_S:
            raise BadRequest(
                f"{self.family} queries reach back at most {_human(self.max_age_s)}",
                field="start",
                max_age_s=self.max_age_s,
            )


def _human(seconds: int) -> str:
    days = seconds / DAY_S
    return f"{days:g} day" + ("" if days == 1 else "s")


REALTIME = SpanLimit("per-minute", DAY_S, None, "SparkRTC real-time scale/quality/network: span ≤ 1 day")
HISTORY = SpanLimit("history", 31 * DAY_S, None, "SparkRTC history scale/quality/usage: span ≤ 31 days")
ROOM_LIST = SpanLimit("room and user list", 90 * DAY_S, None, "SparkRTC room and user lists: span ≤ 90 days")
PER_USER = SpanLimit(
    "per-user indicator", DAY_S, 5 * DAY_S, "SparkRTC client QoS details: last 5 days, span ≤ 24 h"
)
FAMILIES = (REALTIME, HISTORY, ROOM_LIST, PER_USER)
