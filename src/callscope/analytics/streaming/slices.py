"""Data slices: an app's saved filters over rooms, published streams and media servers.

A slice selects the participant sessions the streaming view counts (docs/streaming.md):
a session is in the slice when it passes every non-empty filter (AND across filters, OR within
one). Ids are 24 lowercase hex characters like WMSPanel's, fixed for the slice's life, so the
WMSPanel facade can hand them out unchanged.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from callscope.domain.ids import ID_MAX_CHARS, id_problem
from callscope.domain.timestamps import now_us
from callscope.errors import BadRequest, NotFound
from callscope.storage.base import StorageBackend

TABLE = "data_slices"
NAME_MAX_CHARS = 128
MAX_FILTER_VALUES = 200  # per filter; every value is a bound parameter of the real-time query
SLICE_ID_CHARS = 24


@dataclass(frozen=True, slots=True)
class StreamRef:
    """A published stream: what one participant publishes in one room (all kinds)."""

    room_id: str
    user_id: str  # the publisher


@dataclass(frozen=True, slots=True)
class SliceFilters:
    room_ids: tuple[str, ...] = ()
    streams: tuple[StreamRef, ...] = ()
    media_servers: tuple[str, ...] = ()  # Janus node names

    def to_json(self) -> dict[str, Any]:
        return {
            "room_ids": list(self.room_ids),
            "streams": [{"room_id": s.room_id, "user_id": s.user_id} for s in self.streams],
            "media_servers": list(self.media_servers),
        }


@dataclass(frozen=True, slots=True)
class DataSlice:
    slice_id: str
    name: str
    filters: SliceFilters
    created_at: datetime


def is_slice_id(value: str) -> bool:
    return len(value) == SLICE_ID_CHARS and all(c in "0123456789abcdef" for c in value)


def check_filters(
    room_ids: list[str], streams: list[tuple[str, str]], media_servers: list[str]
) -> SliceFilters:
    """Validated, de-duplicated filters (order kept); BadRequest names the field at fault."""
    for field, values in (
        ("room_ids", room_ids),
        ("streams", streams),
        ("media_servers", media_servers),
    ):
        if len(values) > MAX_FILTER_VALUES:
            raise BadRequest(f"{field}: at most {MAX_FILTER_VALUES} values", field=field)
    for field, ids in (
        ("room_ids", room_ids),
        ("streams.room_id", [r for r, _ in streams]),
        ("streams.user_id", [u for _, u in streams]),
        ("media_servers", media_servers),
    ):
        for value in ids:
            check_id(value, field)
    return SliceFilters(
        tuple(dict.fromkeys(room_ids)),
        tuple(dict.fromkeys(StreamRef(r, u) for r, u in streams)),
        tuple(dict.fromkeys(media_servers)),
    )


def check_id(value: str, field: str) -> str:
    """An id as ingest accepts it (domain/ids.py), or BadRequest naming `field`."""
    problem = id_problem(value) if value else "must not be empty"
    if problem is None and len(value) > ID_MAX_CHARS:
        problem = f"must be at most {ID_MAX_CHARS} characters"
    if problem is not None:
        raise BadRequest(f"{field}: {value!r} {problem}", field=field)
    return value


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > NAME_MAX_CHARS or id_problem(name) is not None:
        raise BadRequest(f"name must be 1-{NAME_MAX_CHARS} printable characters", field="name")
    return name


class SliceStore:
    """CRUD over `data_slices`; every read sees the newest version of each slice."""

    def __init__(self, backend: StorageBackend) -> None:
        self._backend = backend

    def create(self, app_id: str, name: str, filters: SliceFilters) -> DataSlice:
        slice_id = secrets.token_hex(SLICE_ID_CHARS // 2)
        now = now_us()
        self._write(app_id, slice_id, _check_name(name), filters, created_us=now, deleted=False)
        return self.get(app_id, slice_id)

    def replace(self, app_id: str, slice_id: str, name: str, filters: SliceFilters) -> DataSlice:
        current = self.get(app_id, slice_id)
        created_us = int(current.created_at.timestamp() * 1_000_000)
        self._write(app_id, slice_id, _check_name(name), filters, created_us=created_us, deleted=False)
        return self.get(app_id, slice_id)

    def delete(self, app_id: str, slice_id: str) -> None:
        current = self.get(app_id, slice_id)
        created_us = int(current.created_at.timestamp() * 1_000_000)
        self._write(app_id, slice_id, current.name, current.filters, created_us=created_us, deleted=True)

    def get(self, app_id: str, slice_id: str) -> DataSlice:
        if not is_slice_id(slice_id):
            raise BadRequest(
                f"data slice ids are {SLICE_ID_CHARS} lowercase hex characters", field="slice_id"
            )
        found = self._select(app_id, "AND slice_id = {id:String}", {"id": slice_id})
        if not found:
            raise NotFound(f"no data slice {slice_id!r}")
        return found[0]

    def list_slices(self, app_id: str) -> list[DataSlice]:
        """The app's slices in creation order (what WMSPanel's list returns)."""
        return self._select(app_id, "", {})

    def _select(self, app_id: str, extra: str, params: dict[str, Any]) -> list[DataSlice]:
        # `extra` is one of two fixed strings above; every value is bound.
        rows = self._backend.query(
            "SELECT slice_id, name, filters, created_at FROM data_slices FINAL "  # noqa: S608
            f"WHERE app_id = {{app:String}} AND deleted = 0 {extra} ORDER BY created_at, slice_id",
            {"app": app_id, **params},
        )
        return [_from_row(row) for row in rows]

    def _write(
        self, app_id: str, slice_id: str, name: str, filters: SliceFilters, *, created_us: int, deleted: bool
    ) -> None:
        self._backend.command(
            "INSERT INTO data_slices VALUES ({app:String}, {id:String}, {name:String}, {filters:String}, "
            "fromUnixTimestamp64Micro({created:Int64}, 'UTC'), {deleted:UInt8}, {version:UInt64})",
            {
                "app": app_id,
                "id": slice_id,
                "name": name,
                "filters": orjson.dumps(filters.to_json()).decode(),
                "created": created_us,
                "deleted": int(deleted),
                "version": _next_version(),
            },
        )


class _Versions:
    """Microseconds now, strictly increasing within the process (two edits in one µs stay ordered)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def next(self) -> int:
        with self._lock:
            self._last = max(now_us(), self._last + 1)
            return self._last


_next_version = _Versions().next


def _from_row(row: dict[str, Any]) -> DataSlice:
    filters = orjson.loads(row["filters"])
    return DataSlice(
        row["slice_id"],
        row["name"],
        SliceFilters(
            tuple(filters.get("room_ids", ())),
            tuple(StreamRef(s["room_id"], s["user_id"]) for s in filters.get("streams", ())),
            tuple(filters.get("media_servers", ())),
        ),
        row["created_at"],
    )
