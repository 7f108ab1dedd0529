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


class RtcStats(msgspec.Struct, gc=False):
    """One stats object of a report, holding only the members the normalizer reads.

    Why not a dict: the decoder skips every other member without building it, and these objects
    are not tracked by the garbage collector. Chromium's ~35 objects per report carry ~25 members
    each, most of them unused here. Members keep their W3C names and accept any JSON value: one
    of the wrong type leaves its metric unmeasured (the normalizer's rule); it does not make the
    report invalid.
    """

    id: Any = None
    type: Any = None
    ssrc: Any = None
    kind: Any = None
    mediaType: Any = None  # noqa: N815 - W3C member names, as on the wire
    mediaSourceId: Any = None  # noqa: N815
    trackIdentifier: Any = None  # noqa: N815
    contentType: Any = None  # noqa: N815
    mid: Any = None
    rid: Any = None
    remoteId: Any = None  # noqa: N815
    bytesSent: Any = None  # noqa: N815
    packetsSent: Any = None  # noqa: N815
    bytesReceived: Any = None  # noqa: N815
    packetsReceived: Any = None  # noqa: N815
    packetsLost: Any = None  # noqa: N815
    retransmittedPacketsReceived: Any = None  # noqa: N815
    roundTripTime: Any = None  # noqa: N815
    currentRoundTripTime: Any = None  # noqa: N815
    jitter: Any = None
    fractionLost: Any = None  # noqa: N815
    frameWidth: Any = None  # noqa: N815
    frameHeight: Any = None  # noqa: N815
    framesEncoded: Any = None  # noqa: N815
    framesDecoded: Any = None  # noqa: N815
    framesPerSecond: Any = None  # noqa: N815
    qualityLimitationReason: Any = None  # noqa: N815
    qualityLimitationDurations: Any = None  # noqa: N815
    concealedSamples: Any = None  # noqa: N815
    silentConcealedSamples: Any = None  # noqa: N815
    totalSamplesReceived: Any = None  # noqa: N815
    freezeCount: Any = None  # noqa: N815
    totalFreezesDuration: Any = None  # noqa: N815
    selectedCandidatePairId: Any = None  # noqa: N815
    localCandidateId: Any = None  # noqa: N815
    nominated: Any = None
    state: Any = None
    candidateType: Any = None  # noqa: N815
    protocol: Any = None
    relayProtocol: Any = None  # noqa: N815


class WebRtcReport(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    room_id: Id
    user_id: Id
    session_id: Id
    ts: WireTimestamp  # when getStats() resolved
    pc_id: OptionalId = ""  # which RTCPeerConnection of this session; counters are per connection
    peer_id: OptionalId = ""  # the remote participant whose media this connection receives
    screen_track_ids: list[str] = []  # track ids (local or remote) that carry screen share
    stats: Annotated[list[RtcStats], msgspec.Meta(max_length=MAX_STATS_OBJECTS)]
