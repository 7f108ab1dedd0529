"""Timestamps on the wire and in the store.

Wire: an RFC 3339 string with an offset (`2026-11-22T05:27:00.123Z`) or a number of
milliseconds since the Unix epoch (what `Date.now()` and `performance.timeOrigin + now()` give).
Store: UTC microseconds (`DateTime64(6, 'UTC')`).
"""

from __future__ import annotations

from datetime import UTC, datetime

US_PER_S = 1_000_000
US_PER_MS = 1_000

WireTimestamp = datetime | int | float


def to_epoch_us(value: WireTimestamp) -> int:
    """Convert a wire timestamp to integer microseconds since the epoch (UTC)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamp needs a UTC offset, e.g. 2026-11-22T05:27:00Z")
        return int(value.timestamp() * US_PER_S)
    return round(value * US_PER_MS)


def from_epoch_us(epoch_us: int) -> datetime:
    return datetime.fromtimestamp(epoch_us / US_PER_S, tz=UTC)


def now_us() -> int:
    return int(datetime.now(tz=UTC).timestamp() * US_PER_S)
