"""Already-normalized samples (`POST /v1/ingest/samples`) → rows of the `samples` table."""

from __future__ import annotations

from typing import Any

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
_FIELDS = Sample.__struct_fields__
_COPIED = [(name, _FIELDS.index(name)) for name in SAMPLES.names if name in _FIELDS and name != "ts"]
_RELAYED = _FIELDS.index("relayed")
ID_FIELDS = ("room_id", "user_id", "session_id", "peer_id", "stream_id")


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
    # One C-level transpose instead of a Python loop per column.
    by_field = list(zip(*map(msgspec.structs.astuple, kept), strict=True)) or [()] * len(_FIELDS)
    columns: dict[str, list[Any]] = {name: list(by_field[i]) for name, i in _COPIED}
    columns["relayed"] = [int(flag) for flag in by_field[_RELAYED]]
    columns["ts"] = kept_ts
    columns["app_id"] = [app_id] * len(kept)
    columns["ingested_at"] = [window.now_us // 1000] * len(kept)
    identities: dict[tuple[str, ...], int] = {}
    keys = []
    for s, ts in zip(kept, kept_ts, strict=True):
        series = (s.room_id, s.session_id, s.kind, s.direction, s.peer_id, s.stream_id, s.source)
        identity = identities.get(series)
        if identity is None:
            identity = identities[series] = identity_hash(app_id, *series)
        keys.append(instant_key(identity, ts))
    return TableRows(columns, keys), checked.indexes, checked.problems
