"""The streaming view (WMSPanel's real-time stats): connections, bandwidth and top countries
for a data slice, a published stream or a media server. docs/streaming.md has the definitions.
"""

from callscope.analytics.streaming.geo import UNKNOWN, Basis, Place, country_of_ip, place
from callscope.analytics.streaming.realtime import (
    DEFAULT_WINDOW_S,
    DEFINITION,
    MAX_WINDOW_S,
    TOP_PLACES,
    CityConnections,
    CountryConnections,
    RealtimeStats,
    Selection,
    check_window,
    realtime_stats,
)
from callscope.analytics.streaming.slices import (
    DataSlice,
    SliceFilters,
    SliceStore,
    StreamRef,
    check_filters,
    check_id,
    is_slice_id,
)

__all__ = [
    "DEFAULT_WINDOW_S",
    "DEFINITION",
    "MAX_WINDOW_S",
    "TOP_PLACES",
    "UNKNOWN",
    "Basis",
    "CityConnections",
    "CountryConnections",
    "DataSlice",
    "Place",
    "RealtimeStats",
    "Selection",
    "SliceFilters",
    "SliceStore",
    "StreamRef",
    "check_filters",
    "check_id",
    "check_window",
    "country_of_ip",
    "is_slice_id",
    "place",
    "realtime_stats",
]
