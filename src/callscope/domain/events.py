"""An event: something that happened at an instant (ARCHITECTURE.md, "Vocabulary")."""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated

import msgspec

from callscope.domain.ids import Id, OptionalId
from callscope.domain.timestamps import WireTimestamp


class EventType(StrEnum):
    JOIN = "join"
    JOIN_FAILED = "join_failed"
    LEAVE = "leave"
    CAMERA_ON = "camera_on"
    CAMERA_OFF = "camera_off"
    MIC_ON = "mic_on"
    MIC_OFF = "mic_off"
    SCREEN_ON = "screen_on"
    SCREEN_OFF = "screen_off"
    DEVICE_CHANGE = "device_change"
    CONNECTION_STATE = "connection_state"
    ICE_STATE = "ice_state"
    MEDIA_ERROR = "media_error"  # getUserMedia failures and the like
    KICKED = "kicked"
    ROOM_DISMISSED = "room_dismissed"
    # A local track started sending media (first packets out) / gave up before any left.
    PUBLISH = "publish"
    PUBLISH_FAILED = "publish_failed"
    # A remote track started receiving media (first packets in) / gave up before any arrived.
    SUBSCRIBE = "subscribe"
    SUBSCRIBE_FAILED = "subscribe_failed"
    # The first decoded frame / sample of a received track; `elapsed_ms` says how long it took.
    FIRST_VIDEO_FRAME = "first_video_frame"
    FIRST_AUDIO_FRAME = "first_audio_frame"


# W3C RTCPeerConnectionState and RTCIceConnectionState values
# (https://www.w3.org/TR/webrtc/#rtcpeerconnectionstate-enum).
STATE_EVENTS = {EventType.CONNECTION_STATE, EventType.ICE_STATE}
PEER_STATES = frozenset(
    {"new", "checking", "connecting", "connected", "completed", "disconnected", "failed", "closed"}
)
# Events that carry a duration in `elapsed_ms` (what it measures is the event type's).
TIMED_EVENTS = {EventType.FIRST_VIDEO_FRAME, EventType.FIRST_AUDIO_FRAME}
MAX_ELAPSED_MS = 3_600_000.0  # an hour: a longer wait for a first frame is a clock mistake

ShortText = Annotated[str, msgspec.Meta(max_length=256)]


class Event(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The event as ingest accepts it (`POST /v1/ingest/events`).

    Session attributes (platform, network, place) ride on `join`; later events may omit them.
    `peer_id` names the publisher on subscribe and first-frame events (the track's sender).
    """

    room_id: Id
    user_id: Id
    session_id: Id
    ts: WireTimestamp
    type: EventType
    event_id: OptionalId = ""  # client-chosen; makes two same-instant events distinct
    peer_id: OptionalId = ""
    state: ShortText = ""  # connection_state / ice_state: the new state
    reason: ShortText = ""  # join_failed, leave, media_error, kicked, publish/subscribe_failed: why
    # first_video_frame / first_audio_frame: ms from the later of the session's join and the
    # start of the subscription to the first decoded frame (video) or sample (audio). NaN: none.
    elapsed_ms: Annotated[float, msgspec.Meta(ge=0, le=MAX_ELAPSED_MS)] = math.nan
    device: ShortText = ""  # device_change: the new device label; join: the device model
    platform: ShortText = ""
    os: ShortText = ""
    browser: ShortText = ""
    sdk_name: ShortText = ""
    sdk_version: ShortText = ""
    sdk_type: Annotated[str, msgspec.Meta(pattern="^(|native|webrtc)$")] = ""
    network_type: ShortText = ""
    ip: ShortText = ""
    region: ShortText = ""
    country: ShortText = ""
    city: ShortText = ""
    isp: ShortText = ""
