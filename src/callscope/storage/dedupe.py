"""Item keys and the bounded memory of recently stored ones.

A key is a 64-bit hash of what makes an item unique: a stream has one sample per instant, and
a session has one event of a type per instant (or per client `event_id`). Retried items hash
the same and are dropped before they reach the store, so rollups never count them twice.
"""

from __future__ import annotations

import xxhash

from callscope.storage.base import StorageBackend

_SEP = "\x1f"  # cannot occur in ids (control characters are refused)


_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15  # odd, so multiplying by it permutes 64-bit integers


def identity_hash(*parts: str) -> int:
    """Hash of what identifies a series (a stream, or a session's events of one type)."""
    return int(xxhash.xxh3_64_intdigest(_SEP.join(parts).encode()))


def instant_key(identity: int, ts_us: int) -> int:
    """Key of one item of a series: distinct instants of one series never collide."""
    return identity ^ ((ts_us * _GOLDEN) & _MASK64)


def sample_key(
    app_id: str,
    room_id: str,
    session_id: str,
    kind: str,
    direction: str,
    peer_id: str,
    stream_id: str,
    source: str,
    ts_us: int,
) -> int:
    identity = identity_hash(app_id, room_id, session_id, kind, direction, peer_id, stream_id, source)
    return instant_key(identity, ts_us)


def event_key(app_id: str, room_id: str, session_id: str, type_: str, event_id: str, ts_us: int) -> int:
    return instant_key(identity_hash(app_id, room_id, session_id, type_, event_id), ts_us)


class RecentKeys:
    """Keys of recently stored items, bounded: two generations, the older dropped when full."""

    def __init__(self, capacity: int) -> None:
        self._generation_size = max(1, capacity // 2)
        self._current: set[int] = set()
        self._previous: set[int] = set()

    def __contains__(self, key: int) -> bool:
        return key in self._current or key in self._previous

    def __len__(self) -> int:
        return len(self._current) + len(self._previous)

    def isdisjoint(self, keys: set[int]) -> bool:
        """True when none of `keys` is remembered."""
        return self._current.isdisjoint(keys) and self._previous.isdisjoint(keys)

    def add_many(self, keys: set[int] | list[int]) -> None:
        self._current.update(keys)
        if len(self._current) >= self._generation_size:
            self._previous, self._current = self._current, set()


_SAMPLE_KEY_SQL = """
SELECT app_id, room_id, session_id, kind, direction, peer_id, stream_id, source,
       toUnixTimestamp64Micro(ts) AS ts_us
FROM samples
WHERE ingested_at >= now64(3) - toIntervalSecond({window_s:UInt32})
ORDER BY ingested_at DESC
LIMIT {limit:UInt64}
"""

_EVENT_KEY_SQL = """
SELECT app_id, room_id, session_id, type, event_id, toUnixTimestamp64Micro(ts) AS ts_us
FROM events
WHERE ingested_at >= now64(3) - toIntervalSecond({window_s:UInt32})
ORDER BY ingested_at DESC
LIMIT {limit:UInt64}
"""


def reload_recent_keys(backend: StorageBackend, keys: RecentKeys, window_s: int, limit: int) -> int:
    """Refill `keys` from rows stored in the last `window_s` seconds (a crash forgets them)."""
    if window_s <= 0:
        return 0
    params = {"window_s": window_s, "limit": limit}
    loaded: list[int] = []
    for row in backend.query_arrow(_SAMPLE_KEY_SQL, params).to_pylist():
        loaded.append(sample_key(**row))
    for row in backend.query_arrow(_EVENT_KEY_SQL, params).to_pylist():
        row["type_"] = row.pop("type")
        loaded.append(event_key(**row))
    keys.add_many(loaded)
    return len(loaded)
