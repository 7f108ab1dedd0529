"""The batch checks of `collectors/samples.py` against the item-by-item checks they shortcut.

`sample_rows` takes a batch through `_batch_checked` (whole-batch tests) when they pass it, and
through `check_records` (one item at a time) otherwise. The shortcut is only sound if it never
passes a batch that the item checks would fault, and never times a sample differently. These
tests build batches that mix every kind of fault the item checks know with good samples, and
compare the two on each.
"""

from __future__ import annotations

import math
import random
from typing import Any

import orjson

from callscope.collectors import samples as samples_module
from callscope.collectors.checks import Window, check_records
from callscope.collectors.decode import Decoded, decode_batch
from callscope.domain.samples import Sample
from callscope.domain.tenancy import IngestScope
from callscope.storage import rows as rows_format
from callscope.storage.dedupe import sample_key

NOW_US = 1_790_000_000_000_000
WINDOW = Window(NOW_US, max_age_s=86_400, max_skew_s=300)
NOW_MS = NOW_US // 1000
OLDEST_MS, NEWEST_MS = WINDOW.oldest_us / 1000, WINDOW.newest_us / 1000


def good(i: int) -> dict[str, Any]:
    return {
        "room_id": "room-1",
        "user_id": "alice",
        "session_id": "s-1",
        "ts": NOW_MS - 60_000 + i,
        "kind": "video",
        "direction": "down",
        "peer_id": "bob",
        "window_ms": 5000,
        "bitrate_kbps": 900.5,
        "packets_expected": 200,
        "packets_lost": 3,
        "freeze_ms": 120,
    }


# Each turns a good sample into one the item checks fault, or into an edge they accept.
FAULTS: list[dict[str, Any]] = [
    {"ts": OLDEST_MS - 1},  # too old
    {"ts": NEWEST_MS + 1},  # in the future
    {"ts": OLDEST_MS},  # the oldest accepted instant
    {"ts": NEWEST_MS},  # the newest
    {"ts": OLDEST_MS - 0.0004},  # rounds onto the bound
    {"ts": NEWEST_MS + 0.0006},  # rounds past it
    {"ts": float(NOW_MS) - 0.5},  # a float in the window
    # Whole ms (what the SDK sends: every other sample here is whole too) on and past the bounds.
    {"ts": math.ceil(OLDEST_MS)},
    {"ts": math.ceil(OLDEST_MS) - 1},
    {"ts": math.floor(NEWEST_MS)},
    {"ts": math.floor(NEWEST_MS) + 1},
    {"ts": "2026-09-21T13:06:40Z"},  # RFC 3339: the item checks convert it
    {"ts": "2026-09-21T13:06:40"},  # no offset
    {"ts": 1e300},
    {"room_id": "room\u0007bell"},
    {"user_id": " alice"},
    {"peer_id": "bob\n"},
    {"stream_id": "\x9ftrack"},
    {"session_id": "sess "},
    {"room_id": "'; DROP TABLE samples --"},  # odd, but an acceptable id
    {"room_id": "room-2"},  # out of a room-scoped token's scope
    {"user_id": "mallory"},  # out of a user-scoped token's scope
    {"kind": "connection"},  # with direction `down`: inconsistent
    {"kind": "connection", "direction": "none"},
    {"direction": "none"},  # a video stream needs a direction
    {"packets_lost": 201},  # more lost than expected
    {"packets_lost": 5, "packets_expected": 0},  # loss without a count expected: allowed
    {"freeze_ms": 6000},  # longer than the window
    {"freeze_ms": 6000, "window_ms": 0},  # unknown window: allowed
    {"kind": "audio", "direction": "up", "stream_id": "mic"},  # another stream, fine
]
SCOPES = [
    IngestScope("app-1"),
    IngestScope("app-1", room_id="room-1"),
    IngestScope("app-1", room_id="room-1", user_id="alice"),
]


def decoded(items: list[dict[str, Any]]) -> Decoded[Sample]:
    return decode_batch(orjson.dumps({"samples": items}), "samples", Sample, max_items=1000)


def item_checks(batch: Decoded[Sample], scope: IngestScope) -> tuple[list[int], list[int], list[Any]]:
    checked = check_records(
        batch.items,
        batch.problems,
        scope=scope,
        window=WINDOW,
        consistency=samples_module._consistency,
        id_fields=samples_module.ID_FIELDS,
    )
    return checked.indexes, checked.ts_us, checked.problems


def batch_checks(batch: Decoded[Sample], scope: IngestScope) -> list[int] | None:
    samples = [s for _, s in batch.items]
    streams = set(map(samples_module._SERIES_OF, samples))
    return samples_module._batch_checked(samples, streams, scope, WINDOW)


def test_a_clean_batch_takes_the_batch_checks_with_the_item_checks_timestamps() -> None:
    items = [good(i) for i in range(100)]
    for scope in SCOPES:
        indexes, ts_us, problems = item_checks(decoded(items), scope)
        assert problems == [] and indexes == list(range(100))
        assert batch_checks(decoded(items), scope) == ts_us


def test_each_fault_alone_gets_the_item_checks_outcome() -> None:
    for fault in FAULTS:
        items = [good(i) for i in range(5)]
        items[2] |= fault
        for scope in SCOPES:
            _, ts_us, problems = item_checks(decoded(items), scope)
            shortcut = batch_checks(decoded(items), scope)
            if problems:
                assert shortcut is None, (fault, scope, problems)
            else:
                assert shortcut in (None, ts_us), (fault, scope)


def test_random_mixed_batches_never_pass_the_batch_checks_wrongly() -> None:
    rng = random.Random(20261122)
    shortcut_taken = 0
    for _ in range(400):
        items = [good(i) for i in range(rng.randint(1, 30))]
        for item in rng.sample(items, k=rng.randint(0, min(3, len(items)))):
            item |= rng.choice(FAULTS)
        scope = rng.choice(SCOPES)
        _, ts_us, problems = item_checks(decoded(items), scope)
        shortcut = batch_checks(decoded(items), scope)
        if problems:
            assert shortcut is None, (items, scope, problems)
        elif shortcut is not None:
            assert shortcut == ts_us
            shortcut_taken += 1
    assert shortcut_taken > 50  # the comparison covered the shortcut, not only the fallback


def test_rows_are_the_same_whichever_checks_pass_them() -> None:
    """The stored rows and keys of a clean batch, through the batch checks, equal those of the
    same batch with one faulty sample added (which sends it through the item checks)."""
    clean = [good(i) for i in range(20)]
    scope = SCOPES[0]
    fast, fast_indexes, fast_problems = samples_module.sample_rows(
        decoded(clean), app_id="app-1", scope=scope, window=WINDOW
    )
    mixed = [*clean, good(99) | {"packets_lost": 500}]
    slow, slow_indexes, slow_problems = samples_module.sample_rows(
        decoded(mixed), app_id="app-1", scope=scope, window=WINDOW
    )
    assert fast_problems == [] and [p.index for p in slow_problems] == [20]
    assert fast_indexes == slow_indexes == list(range(20))
    assert (fast.body, fast.keys, fast.count) == (slow.body, slow.keys, slow.count)
    # The keys are those a restart reloads from stored rows (storage/dedupe.py: sample_key), so
    # a retry after a restart is still recognised.
    stored = [dict(zip(fast.columns, row, strict=True)) for row in rows_format.decode(fast.body)]
    series = ("room_id", "session_id", "kind", "direction", "peer_id", "stream_id", "source")
    expected = [sample_key(app_id="app-1", ts_us=row["ts"], **{f: row[f] for f in series}) for row in stored]
    assert fast.keys == expected
