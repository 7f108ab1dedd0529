"""One participant of the signaling: its Janus session, publisher feeds and subscriptions.

Plain state the hub (signaling.py) drives; `send` never raises (a client that went away is torn
down by its own reader).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from callscope.media.controller import PlacedRoom
from callscope.media.janus_session import JanusSession
from callscope.media.join_tokens import JoinGrant

log = logging.getLogger(__name__)

Message = dict[str, Any]
Send = Callable[[Message], Awaitable[None]]
CAMERA, SCREEN = "camera", "screen"  # the publisher feeds a participant may have
_MID = re.compile(r"^a=mid:(\S+)", re.MULTILINE)


def mids_of(sdp: str) -> dict[str, str]:
    """kind → mid of each m-line of an offer (the first of a kind)."""
    found: dict[str, str] = {}
    for section in sdp.split("\nm=")[1:]:
        kind = section.split(" ", 1)[0]
        mid = _MID.search(section)
        if mid is not None:
            found.setdefault(kind, mid.group(1))
    return found


@dataclass(eq=False)
class ScreenShare:
    """A participant's screen: a second publisher handle in the room, so its own feed."""

    handle: int
    feed: int
    publishing: bool = False


@dataclass(eq=False)
class Peer:
    grant: JoinGrant
    session_id: str
    send_raw: Send
    room: PlacedRoom
    janus: JanusSession
    handle: int = 0  # the publisher handle
    feed: int = 0  # the Janus publisher id
    publishing: bool = False  # Janus has the media (webrtcup): others may subscribe
    announced: bool = False
    muted: dict[str, bool] = field(default_factory=dict)
    mids: dict[str, str] = field(default_factory=dict)
    subscriptions: dict[int, int] = field(default_factory=dict)  # feed → subscriber handle
    screen: ScreenShare | None = None
    gone: asyncio.Event = field(default_factory=asyncio.Event)
    joined_at: float = field(default_factory=time.monotonic)

    @property
    def user(self) -> str:
        return self.grant.user_id

    def describe(self) -> Message:
        screen = self.screen.feed if self.screen is not None and self.screen.publishing else 0
        return {
            "user": self.user,
            "feed": self.feed,
            "publishing": self.publishing,
            "muted": self.muted,
            "screen_feed": screen,
        }

    def feeds(self) -> list[int]:
        """Every feed this participant publishes (or is about to)."""
        return [self.feed] + ([self.screen.feed] if self.screen is not None else [])

    async def send(self, message: Message) -> None:
        if self.gone.is_set():
            return
        try:
            await self.send_raw(message)
        except Exception:  # noqa: BLE001 (the client went away; its reader tears down)
            log.debug("signaling send failed", extra={"session_id": self.session_id})
