"""Identifier rules shared by every record.

Ids come from customers' systems (TRTC user ids, Zoom emails, Huawei room numbers), so we accept
any printable Unicode, quotes and SQL metacharacters included: every query binds parameters, so
`'; DROP TABLE` is just an odd room name, stored and returned verbatim. We refuse what breaks
logs, URLs and CSV exports: control characters, surrounding whitespace, and more than 128 chars.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

ID_MAX_CHARS = 128

# No C0/C1 control characters anywhere; no whitespace at either end.
ID_PATTERN = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"

_ID = re.compile(ID_PATTERN)

# Length is checked while decoding; the character rules by `id_problem`, once per distinct id in
# a batch (a batch repeats the same few ids hundreds of times, and a regex per field per item
# was the largest cost of decoding).
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=ID_MAX_CHARS)]
OptionalId = Annotated[str, msgspec.Meta(max_length=ID_MAX_CHARS)]


def id_problem(value: str) -> str | None:
    """Why `value` is not an acceptable id, or None. The empty string is left to the caller."""
    if value and not _ID.match(value):
        return "must not contain control characters or start or end with whitespace"
    return None
