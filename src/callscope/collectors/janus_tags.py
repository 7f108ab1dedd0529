"""The `opaque_id` convention that ties a Janus handle to a Callscope user and session.

Janus repeats a handle's `opaque_id` on every event it emits for it, so whoever attaches a
handle (Callscope's signaling, or for now a client talking to Janus directly) sets

    callscope:v1?user=<user_id>&session=<session_id>[&feed=screen]

with the values percent-encoded (`urllib.parse.urlencode`), so ids may hold any character.
`feed=screen` marks a handle that publishes or receives a screen share: Janus reports a screen
as plain `video`, and only the tag lets its samples be of kind `screen`.
The room is not in the tag: it comes from the Janus room the handle joins, which Callscope
created and maps back to (app_id, room_id); a handle in a room Callscope did not create is not
stored. A handle without the tag is still measured: its user is the publisher's `display` (or
`janus-<session>`), its session `janus-<node>-<session>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode

PREFIX = "callscope:v1?"


@dataclass(frozen=True, slots=True)
class HandleTag:
    user_id: str
    session_id: str
    screen: bool = False


def opaque_id(user_id: str, session_id: str, *, screen: bool = False) -> str:
    fields = {"user": user_id, "session": session_id} | ({"feed": "screen"} if screen else {})
    return PREFIX + urlencode(fields)


def parse_opaque_id(value: str | None) -> HandleTag | None:
    """The tag in `value`, or None when it is not ours (or incomplete)."""
    if not value or not value.startswith(PREFIX):
        return None
    fields = parse_qs(value[len(PREFIX) :], keep_blank_values=False)
    user, session = fields.get("user", [""])[0], fields.get("session", [""])[0]
    if not user or not session:
        return None
    return HandleTag(user, session, screen=fields.get("feed", [""])[0] == "screen")
