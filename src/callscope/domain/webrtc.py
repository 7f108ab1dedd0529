"""A browser's `getStats()` report as the SDK posts it (`POST /v1/ingest/webrtc`).

`stats` is the RTCStatsReport as an array of its values
(https://www.w3.org/TR/webrtc-stats/#summary); the rest says whose report it is.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from callscope.domain.ids import Id, OptionalId
from callscope.domain.timestamps import WireTimestamp

MAX_STATS_OBJECTS = 2000


class WebRtcReport(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    room_id: Id
    user_id: Id
    session_id: Id
    ts: WireTimestamp  # when getStats() resolved
    pc_id: OptionalId = ""  # which RTCPeerConnection of this session; counters are per connection
    peer_id: OptionalId = ""  # the remote participant whose media this connection receives
    screen_track_ids: list[str] = []  # track ids (local or remote) that carry screen share
    stats: Annotated[list[dict[str, Any]], msgspec.Meta(max_length=MAX_STATS_OBJECTS)]
