"""Already-normalized samples (`POST /v1/ingest/samples`) → rows of the `samples` table."""

from __future__ import annotations

from typing import Any

from callscope.collectors.checks import Window, check_records
from callscope.collectors.decode import Decoded
from callscope.collectors.outcomes import ItemProblem, Outcome, Reason
from callscope.domain.samples import Direction, Sample, StreamKind
from callscope.domain.tenancy import IngestScope
from callscope.storage.dedupe import sample_key
from callscope.storage.schema import SAMPLES
from callscope.storage.writer import TableRows

_MEDIA_KINDS = {StreamKind.AUDIO, StreamKind.VIDEO, StreamKind.SCREEN}
_COPIED = [
    name
    for name in SAMPLES.names
    if name not in {"app_id", "ts", "ingested_at", "relayed"} and name in Sample.__struct_fields__
]


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
        decoded.items, decoded.problems, scope=scope, window=window, consistency=_consistency
    )
    kept, kept_ts = checked.records, checked.ts_us
    columns: dict[str, list[Any]] = {name: [getattr(s, name) for s in kept] for name in _COPIED}
    for enum_column in ("kind", "direction", "source", "quality_limitation"):
        columns[enum_column] = [v.value for v in columns[enum_column]]
    columns["relayed"] = [int(s.relayed) for s in kept]
    columns["ts"] = kept_ts
    columns["app_id"] = [app_id] * len(kept)
    columns["ingested_at"] = [window.now_us // 1000] * len(kept)
    keys = [
        sample_key(
            app_id,
            s.room_id,
            s.session_id,
            s.kind.value,
            s.direction.value,
            s.peer_id,
            s.stream_id,
            s.source.value,
            ts,
        )
        for s, ts in zip(kept, kept_ts, strict=True)
    ]
    return TableRows(columns, keys), checked.indexes, checked.problems
