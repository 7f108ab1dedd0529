"""SparkRTC's abnormal-experience taxonomy: types, factors, stages, locations (spec §10.13).

Codes and English descriptions are the vendor's (seed 004, §5.11–5.12), so a facade can pass
them through. SparkRTC numbers no "Others" factor for type 1; we reuse 16 ("Others" of types
2 and 3) so every event has a factor.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class AbnormalType(IntEnum):
    SLOW_JOIN = 1
    VIDEO_FREEZE = 2
    AUDIO_FREEZE = 3

    @property
    def description(self) -> str:
        return TYPE_DESCRIPTIONS[self]


TYPE_DESCRIPTIONS = {
    AbnormalType.SLOW_JOIN: "It takes a long time to enter a room (longer than 5s).",
    AbnormalType.VIDEO_FREEZE: "Video freezing",
    AbnormalType.AUDIO_FREEZE: "Audio freezing",
}


class Stage(StrEnum):
    JOIN_ROOM = "join_room"
    COMMUNICATION = "communication"


class Location(StrEnum):
    LOCAL = "local"  # the user who experienced it
    REMOTE = "remote"  # the peer whose stream it was


OTHERS = 16

JOIN_FACTORS: dict[int, str] = {
    1: "Link setup failure",
    2: "The room is not idle.",
    3: "Server exception",
    4: "The server returns 503.",
    5: "Authentication failed",
    6: "Authentication reattempt",
    7: "Time synchronization failure.",
    8: "Incorrect URL.",
    9: "An internal error occurs on the terminal.",
    15: "An exception occurred when setting the SDP in the browser.",
    OTHERS: "Others",
    90000004: "The response to the signaling sent by the SDK for joining a room times out.",
    90100009: "The web system does not receive the configuration information delivered by the MSP.",
    90100008: "The WebSocket link fails to be established.",
    10000001: "Exception information returned by the server.",
    31000003: "Exception information returned by the server.",
    32000030: "Exception information returned by the server.",
}

FREEZE_FACTORS: dict[int, str] = {
    1: "Heavy system CPU usage",
    2: "Heavy app CPU usage",
    3: "Uplink audio latency",
    4: "Uplink audio jitter",
    5: "Uplink video latency",
    6: "Uplink video jitter",
    7: "Downlink audio latency",
    8: "Downlink audio jitter",
    9: "Downlink video latency",
    10: "Downlink video jitter",
    11: "Uplink audio packet loss",
    12: "Uplink video packet loss",
    13: "Downlink audio packet loss",
    14: "Downlink video packet loss",
    15: "No sound is heard in the downlink audio.",
    OTHERS: "Others",
    17: "The peer user is offline.",
    18: "The peer user has no code stream.",
    19: "No frame rate of the peer user",
    20: "There is no downlink code stream on the local server.",
    21: "Downlink No Frame Rate of Local Server",
}


def factor_description(abnormal_type: int, factor: int) -> str:
    table = JOIN_FACTORS if abnormal_type == AbnormalType.SLOW_JOIN else FREEZE_FACTORS
    return table.get(factor, "Others")


def type_description(abnormal_type: int) -> str:
    try:
        return AbnormalType(abnormal_type).description
    except ValueError:
        return "Others"
