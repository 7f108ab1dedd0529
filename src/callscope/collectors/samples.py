"""Already-normalized samples (`POST /v1/ingest/samples`) → rows of the `samples` table."""

from __future__ import annotations

from callscope.collectors.checks import Window, check_records, record_columns
from callscope.collectors.decode import Decoded
from callscope.collectors.outcomes import ItemProblem, Outcome, Reason
from callscope.domain.samples import Direction, Sample, StreamKind
from callscope.domain.tenancy import IngestScope
from callscope.storage.dedupe import identity_hash, instant_key
from callscope.storage.schema import SAMPLES
from callscope.storage.writer import TableRows

_MEDIA_KINDS = {StreamKind.AUDIO, StreamKind.VIDEO, StreamKind.SCREEN}
_COPIED = [name for name in SAMPLES.names if name in Sample.__struct_fields__ and name != "ts"]
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
    columns = record_columns(kept, _COPIED, app_id=app_id, ts_us=kept_ts, now_us=window.now_us)
    columns["relayed"] = [int(flag) for flag in columns["relayed"]]
    identities: dict[tuple[str, ...], int] = {}
    keys = []
    for s, ts in zip(kept, kept_ts, strict=True):
        series = (s.room_id, s.session_id, s.kind, s.direction, s.peer_id, s.stream_id, s.source)
        identity = identities.get(series)
        if identity is None:
            identity = identities[series] = identity_hash(app_id, *series)
        keys.append(instant_key(identity, ts))
    return TableRows(columns, keys), checked.indexes, checked.problems
