"""Already-normalized samples (`POST /v1/ingest/samples`) → rows of the `samples` table."""

from __future__ import annotations

from operator import attrgetter

import msgspec

from callscope.collectors.checks import Window, check_records
from callscope.collectors.decode import Decoded
from callscope.collectors.outcomes import ItemProblem, Outcome, Reason
from callscope.domain.samples import Direction, Sample, StreamKind
from callscope.domain.tenancy import IngestScope
from callscope.storage.dedupe import identity_hash, instant_key
from callscope.storage.schema import SAMPLES
from callscope.storage.writer import TableRows

_MEDIA_KINDS = {StreamKind.AUDIO, StreamKind.VIDEO, StreamKind.SCREEN}
# A stored row is the sample's own fields in struct order, with `ts` replaced by the checked
# timestamp (µs), then the app and the ingest time: the C-level tuple of the struct plus two
# values, not a copy field by field (storage/rows.py: rows, not columns).
ROW_COLUMNS = (*Sample.__struct_fields__, "app_id", "ingested_at")
assert sorted(ROW_COLUMNS) == sorted(SAMPLES.names), "a sample field without a column, or the reverse"
ID_FIELDS = ("room_id", "user_id", "session_id", "peer_id", "stream_id")
# What makes a series (storage.dedupe: one sample per series and instant), besides the app.
_SERIES_OF = attrgetter("room_id", "session_id", "kind", "direction", "peer_id", "stream_id", "source")


def _consistency(index: int, s: Sample) -> ItemProblem | None:
    if s.kind in _MEDIA_KINDS and s.direction is Direction.NONE:
        return ItemProblem(
            index,
            Outcome.INVALID,
            Reason.INCONSISTENT,
            "direction",
            f"direction: a {s.kind.value} stream is `up` (published) or `down` (received)",
        )
    if s.kind not in _MEDIA_KINDS and s.direction is not Direction.NONE:
        return ItemProblem(
            index,
            Outcome.INVALID,
            Reason.INCONSISTENT,
            "direction",
            f"direction: {s.kind.value} samples have direction `none`",
        )
    if s.packets_lost > s.packets_expected > 0:
        return ItemProblem(
            index,
            Outcome.INVALID,
            Reason.INCONSISTENT,
            "packets_lost",
            f"packets_lost: {s.packets_lost} lost of {s.packets_expected} expected",
        )
    if s.window_ms and s.freeze_ms > s.window_ms:
        return ItemProblem(
            index,
            Outcome.INVALID,
            Reason.INCONSISTENT,
            "freeze_ms",
            f"freeze_ms: {s.freeze_ms} ms frozen in a {s.window_ms} ms window",
        )
    return None


def sample_rows(
    decoded: Decoded[Sample], *, app_id: str, scope: IngestScope, window: Window
) -> tuple[TableRows, list[int], list[ItemProblem]]:
    """Validated rows, the batch index of each row, and the problems found."""
    checked = check_records(
        decoded.items,
        decoded.problems,
        scope=scope,
        window=window,
        consistency=_consistency,
        id_fields=ID_FIELDS,
    )
    kept, kept_ts = checked.records, checked.ts_us
    stored = (app_id, window.now_us // 1000)
    astuple = msgspec.structs.astuple
    known: dict[tuple[str, ...], int] = {}
    keys, rows = [], []
    for s, ts in zip(kept, kept_ts, strict=True):
        # The sample is this request's own and not read after this, so its wire timestamp is
        # overwritten with the checked one: one tuple concatenation per row instead of two
        # slices and two (0.75-0.88 vs 1.13-1.16 µs per sample for this loop, in-process).
        s.ts = ts
        rows.append(astuple(s) + stored)
        series = _SERIES_OF(s)
        identity = known.get(series)
        if identity is None:
            identity = known[series] = identity_hash(app_id, *series)
        keys.append(instant_key(identity, ts))
    return TableRows.encode(ROW_COLUMNS, rows, keys), checked.indexes, checked.problems
