"""Call events (`POST /v1/ingest/events`) → rows of the `events` table."""

from __future__ import annotations

import math

from callscope.collectors.checks import Window, check_records, record_columns
from callscope.collectors.decode import Decoded
from callscope.collectors.outcomes import ItemProblem, Outcome, Reason
from callscope.domain.events import PEER_STATES, STATE_EVENTS, TIMED_EVENTS, Event, EventType
from callscope.domain.samples import Source
from callscope.domain.tenancy import IngestScope
from callscope.storage.dedupe import event_key
from callscope.storage.schema import EVENTS
from callscope.storage.writer import TableRows

_COPIED = [
    name
    for name in EVENTS.names
    if name not in {"app_id", "ts", "ingested_at", "type", "source"} and name in Event.__struct_fields__
]


ID_FIELDS = ("room_id", "user_id", "session_id", "event_id", "peer_id")


def _consistency(index: int, e: Event) -> ItemProblem | None:
    if e.type in STATE_EVENTS and e.state not in PEER_STATES:
        return ItemProblem(
            index,
            Outcome.INVALID,
            Reason.INVALID_VALUE,
            "state",
            f"state: {e.type.value} needs one of {', '.join(sorted(PEER_STATES))}; got {e.state!r}",
        )
    if e.type in TIMED_EVENTS and not math.isfinite(e.elapsed_ms):
        return ItemProblem(
            index, Outcome.INVALID, Reason.MISSING_FIELD, "elapsed_ms", f"{e.type.value} needs elapsed_ms"
        )
    return None


_JOINS = (EventType.JOIN, EventType.JOIN_FAILED)


def event_rows(
    decoded: Decoded[Event],
    *,
    app_id: str,
    scope: IngestScope,
    window: Window,
    source: Source = Source.CLIENT,
) -> tuple[TableRows, list[int], list[ItemProblem]]:
    """Rows of the `events` table; `source` says who saw them (the server, for events our
    collectors and signaling record)."""
    checked = check_records(
        decoded.items,
        decoded.problems,
        scope=scope,
        window=window,
        consistency=_consistency,
        id_fields=ID_FIELDS,
    )
    kept, kept_ts = checked.records, checked.ts_us
    columns = record_columns(kept, [*_COPIED, "type"], app_id=app_id, ts_us=kept_ts, now_us=window.now_us)
    columns["source"] = [source.value] * len(kept)
    if scope.client_ip:
        columns["ip"] = [
            scope.client_ip if not ip and e.type in _JOINS else ip
            for e, ip in zip(kept, columns["ip"], strict=True)
        ]
    keys = [
        event_key(app_id, e.room_id, e.session_id, e.type, e.event_id, ts)
        for e, ts in zip(kept, kept_ts, strict=True)
    ]
    return TableRows.from_columns(columns, keys), checked.indexes, checked.problems
