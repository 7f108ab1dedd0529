"""The streaming view's one function: connections, bandwidth and places at an instant.

Every surface (the native API now, the WMSPanel facade later, the dashboard) calls
`realtime_stats`; none counts anything itself. Definitions (docs/streaming.md, `DEFINITION`):

- a **connection** is a participant session online at `at` (`store.py` has the rule, the same
  as the ONLINE state of `calls.py`), in the selection;
- **bandwidth in** is the sum, over the connections' published (`up`) streams, of each stream's
  newest `bitrate_kbps` measured in the `window_s` seconds before `at`; **bandwidth out** the
  same over received (`down`) streams. In and out are seen from the media server: what
  publishers send it, what it delivers to receivers. When both the client and the media server
  measured one flow, the media server's figure counts (it is the traffic it carried), never both;
- **places**: each connection's country from its join IP (`geo.py`), ranked by connections.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from callscope.analytics.calls import SESSION_IDLE_S
from callscope.analytics.streaming import geo, store
from callscope.analytics.streaming.slices import SliceFilters, StreamRef
from callscope.domain.timestamps import from_epoch_us
from callscope.errors import BadRequest, NotFound
from callscope.storage.base import StorageBackend

DEFINITION = "streaming@v1"
TOP_PLACES = 20  # WMSPanel's geo list: top-20 countries
DEFAULT_WINDOW_S = 10
MAX_WINDOW_S = SESSION_IDLE_S  # a stream older than the idle limit belongs to no connection


@dataclass(frozen=True)
class Selection:
    """Which sessions count. None means no restriction; an empty set selects nothing."""

    room_ids: frozenset[str] | None = None
    streams: frozenset[StreamRef] | None = None

    @classmethod
    def build(
        cls,
        *,
        data_slice: SliceFilters | None = None,
        stream: StreamRef | None = None,
        media_server: str | None = None,
        placements: Mapping[str, frozenset[str]] | None = None,
    ) -> Selection:
        """The intersection of a slice, one stream and one media server (each optional).

        `placements`: each media server's rooms of this app as placed now. A slice's servers
        select the union of their rooms (a server not configured now has none); an explicit
        `media_server` must be configured (NotFound otherwise).
        """
        placements = placements or {}
        room_sets: list[frozenset[str]] = []
        stream_sets: list[frozenset[StreamRef]] = []
        if data_slice is not None:
            if data_slice.room_ids:
                room_sets.append(frozenset(data_slice.room_ids))
            if data_slice.streams:
                stream_sets.append(frozenset(data_slice.streams))
            if data_slice.media_servers:
                on_servers = (placements.get(name, frozenset()) for name in data_slice.media_servers)
                room_sets.append(frozenset().union(*on_servers))
        if media_server is not None:
            if media_server not in placements:
                raise NotFound(f"no media server {media_server!r}")
            room_sets.append(placements[media_server])
        if stream is not None:
            stream_sets.append(frozenset({stream}))
        rooms = frozenset.intersection(*room_sets) if room_sets else None
        streams = frozenset.intersection(*stream_sets) if stream_sets else None
        if streams is not None:  # a stream lives in one room: only its room is worth reading
            stream_rooms = frozenset(s.room_id for s in streams)
            rooms = stream_rooms if rooms is None else rooms & stream_rooms
        return cls(rooms, streams)


@dataclass(frozen=True, slots=True)
class CountryConnections:
    country: str  # ISO 3166-1 alpha-2
    connections: int


@dataclass(frozen=True, slots=True)
class CityConnections:
    country: str
    city: str
    connections: int


@dataclass(frozen=True)
class RealtimeStats:
    at: datetime
    window_s: int
    connections: int
    bandwidth_in_kbps: float
    bandwidth_out_kbps: float
    streams_measured: int  # streams whose bitrate entered the bandwidth sums
    countries: list[CountryConnections] = field(default_factory=list)  # top 20, known only
    unknown_country_connections: int = 0
    cities: list[CityConnections] = field(default_factory=list)  # top 20 where a city is known
    definition_version: str = DEFINITION

    @property
    def bandwidth_kbps(self) -> float:
        return self.bandwidth_in_kbps + self.bandwidth_out_kbps


def check_window(window_s: int) -> int:
    if not 1 <= window_s <= MAX_WINDOW_S:
        raise BadRequest(f"window_s must be 1-{MAX_WINDOW_S} seconds", field="window_s")
    return window_s


def realtime_stats(
    backend: StorageBackend,
    *,
    app_id: str,
    selection: Selection,
    at_us: int,
    window_s: int = DEFAULT_WINDOW_S,
) -> RealtimeStats:
    """Connections, bandwidth and top places of the selection at `at_us` (UTC microseconds)."""
    check_window(window_s)
    empty = RealtimeStats(from_epoch_us(at_us), window_s, 0, 0.0, 0.0, 0)
    if selection.room_ids is not None and not selection.room_ids:
        return empty
    online = [
        s
        for s in store.sessions(
            backend, app_id=app_id, room_ids=selection.room_ids, at_us=at_us, idle_s=SESSION_IDLE_S
        )
        if s.online
    ]
    flows = store.streams(
        backend,
        app_id=app_id,
        room_ids=selection.room_ids,
        at_us=at_us,
        idle_s=SESSION_IDLE_S,
        window_s=window_s,
    )
    online_keys = {(s.room_id, s.session_id) for s in online}
    flows = [f for f in flows if (f.room_id, f.session_id) in online_keys]
    if selection.streams is not None:
        flows = [f for f in flows if _in_streams(f, selection.streams)]
        taking_part = {(f.room_id, f.session_id) for f in flows}
        online = [
            s
            for s in online
            if (s.room_id, s.session_id) in taking_part
            or StreamRef(s.room_id, s.user_id) in selection.streams
        ]
    counted = _one_source_per_flow([f for f in flows if f.measured])
    places = [geo.place(s.ip, s.country, s.city) for s in online]
    countries = Counter(p.country for p in places if p.country != geo.UNKNOWN)
    cities = Counter((p.country, p.city) for p in places if p.country != geo.UNKNOWN and p.city)
    return RealtimeStats(
        at=empty.at,
        window_s=window_s,
        connections=len(online),
        bandwidth_in_kbps=sum(f.bitrate_kbps for f in counted if f.direction == "up"),
        bandwidth_out_kbps=sum(f.bitrate_kbps for f in counted if f.direction == "down"),
        streams_measured=len(counted),
        countries=[
            CountryConnections(c, n) for c, n in sorted(countries.items(), key=lambda i: (-i[1], i[0]))
        ][:TOP_PLACES],
        unknown_country_connections=sum(1 for p in places if p.country == geo.UNKNOWN),
        cities=[
            CityConnections(c, city, n)
            for (c, city), n in sorted(cities.items(), key=lambda i: (-i[1], i[0]))
        ][:TOP_PLACES],
    )


def _in_streams(flow: store.StreamRow, streams: frozenset[StreamRef]) -> bool:
    """A flow of a selected stream: its publisher's uplink, or a receiver's downlink of it."""
    publisher = flow.user_id if flow.direction == "up" else flow.peer_id
    return StreamRef(flow.room_id, publisher) in streams


def _one_source_per_flow(flows: list[store.StreamRow]) -> list[store.StreamRow]:
    """Where the media server measured a flow, drop the client's measurement of the same flow."""
    by_server = {
        (f.room_id, f.session_id, f.kind, f.direction, f.peer_id) for f in flows if f.source == "server"
    }
    return [
        f
        for f in flows
        if f.source == "server" or (f.room_id, f.session_id, f.kind, f.direction, f.peer_id) not in by_server
    ]
