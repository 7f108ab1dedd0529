"""Already-normalized samples (`POST /v1/ingest/samples`) → rows of the `samples` table."""

from __future__ import annotations

from itertools import repeat
from operator import add, attrgetter, gt, itemgetter

import msgspec

from callscope.collectors.checks import Window, check_records, ids_acceptable, in_scope, window_us_of_ms
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
# Positions in a `_SERIES_OF` tuple: its ids (with user_id, all of ID_FIELDS), kind and direction.
_STREAM_IDS = itemgetter(0, 1, 4, 5)
_KIND_DIRECTION = itemgetter(2, 3)
_TS, _USER = attrgetter("ts"), attrgetter("user_id")
_LOST, _EXPECTED = attrgetter("packets_lost"), attrgetter("packets_expected")
_FREEZE, _WINDOW = attrgetter("freeze_ms"), attrgetter("window_ms")


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
    samples = [s for _, s in decoded.items]
    series = list(map(_SERIES_OF, samples))
    streams = set(series)
    ts_us = _batch_checked(samples, streams, scope, window)
    if ts_us is not None:
        indexes, problems = [i for i, _ in decoded.items], list(decoded.problems)
    else:
        checked = check_records(
            decoded.items,
            decoded.problems,
            scope=scope,
            window=window,
            consistency=_consistency,
            id_fields=ID_FIELDS,
        )
        samples, ts_us, indexes, problems = checked.records, checked.ts_us, checked.indexes, checked.problems
        series = list(map(_SERIES_OF, samples))
        streams = set(series)
    # The samples are this request's own and not read after this, so each wire timestamp is
    # overwritten with the checked one: the row is then the struct's C-level tuple plus two
    # values, not a copy field by field.
    for s, ts in zip(samples, ts_us, strict=True):
        s.ts = ts
    stored = (app_id, window.now_us // 1000)
    rows = list(map(add, map(msgspec.structs.astuple, samples), repeat(stored)))
    identity = {one: identity_hash(app_id, *one) for one in streams}
    keys = list(map(instant_key, map(identity.__getitem__, series), ts_us))
    return TableRows.encode(ROW_COLUMNS, rows, keys), indexes, problems


def _batch_checked(
    samples: list[Sample], streams: set[tuple[str, ...]], scope: IngestScope, window: Window
) -> list[int] | None:
    """The checked timestamps (µs) when every sample passes every check, else None.

    Why: nearly every batch is wholly valid, and these whole-batch tests (C-level passes over
    the batch, rules applied once per distinct stream) cost a fraction of `check_records`' loop
    per item. Anything doubtful returns None, and the item-by-item checks, the only ones that
    word a problem, decide: a batch never gets a different outcome here than there
    (tests/collectors/test_samples.py compares the two on mixed batches)."""
    ts_us = window_us_of_ms(list(map(_TS, samples)), window)
    if ts_us is None:
        return None
    users = set(map(_USER, samples))
    ids = {value for stream in streams for value in _STREAM_IDS(stream)}
    if not (ids_acceptable(ids | users) and in_scope(scope, (stream[0] for stream in streams), users)):
        return None
    for stream in streams:
        kind, direction = _KIND_DIRECTION(stream)
        if (kind in _MEDIA_KINDS) == (direction is Direction.NONE):
            return None
    # `_consistency`'s counter rules are narrower (a loss needs packets expected; a freeze, a
    # known window), so any sample these flag goes to the item checks, which apply them exactly.
    if any(map(gt, map(_LOST, samples), map(_EXPECTED, samples))):
        return None
    if any(map(gt, map(_FREEZE, samples), map(_WINDOW, samples))):
        return None
    return ts_us
