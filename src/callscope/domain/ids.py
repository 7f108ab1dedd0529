"""Identifier rules shared by every record.

Ids come from customers' systems (TRTC user ids, Zoom emails, Huawei room numbers), so we accept
any printable Unicode, quotes and SQL metacharacters included: every query binds parameters, so
`'; DROP TABLE` is just an odd room name, stored and returned verbatim. We refuse what breaks
logs, URLs and CSV exports: control characters, surrounding whitespace, and more than 128 chars.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

ID_MAX_CHARS = 128

# No C0/C1 control characters anywhere; no whitespace at either end.
ID_PATTERN = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=ID_MAX_CHARS, pattern=ID_PATTERN)]
OptionalId = Annotated[str, msgspec.Meta(max_length=ID_MAX_CHARS, pattern=f"^$|{ID_PATTERN}")]
