"""Every golden vector of the abnormal rule set, stored on the real engine and detected by the
real detector; plus idempotency across passes and a restart that lost its watermark."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from callscope.analytics.abnormal import VERSION, Detector
from callscope.analytics.abnormal.docs import render
from callscope.analytics.abnormal.store import WATERMARKS_TABLE, write_watermark
from callscope.analytics.abnormal.vectors import VECTORS, Vector, scene
from callscope.app import Services
from tests.analytics.abnormal_helpers import detect, detected, store_rows

DOCS = Path(__file__).parent.parent.parent / "docs" / "abnormal.md"


def _origin_us() -> int:
    return int(time.time() * 1_000_000) - 600_000_000


@pytest.mark.parametrize("vector", VECTORS, ids=[v.name for v in VECTORS])
def test_golden_vector(services: Services, vector: Vector) -> None:
    app_id, origin = f"vec-{uuid.uuid4().hex[:10]}", _origin_us()
    store_rows(services.backend, app_id, vector.rows, origin)
    detect(services.backend)
    assert detected(services.backend, app_id, origin) == sorted(vector.expected)


def test_events_carry_evidence_thresholds_and_version(services: Services) -> None:
    from callscope.analytics.abnormal.queries import Filters, list_events
    from callscope.analytics.timerange import TimeRange

    app_id, origin = f"vec-{uuid.uuid4().hex[:10]}", _origin_us()
    store_rows(services.backend, app_id, scene("audio", publisher={"loss_ratio": 0.1}), origin)
    detect(services.backend)
    window = TimeRange(origin, origin + 60_000_000)
    (event,) = list_events(
        services.backend, app_id=app_id, window=window, filters=Filters(), limit=10, offset=0
    ).events
    assert (event.definition_version, event.stage, event.type_desc) == (
        VERSION,
        "communication",
        "Audio freezing",
    )
    assert event.factor_desc == "Uplink audio packet loss"
    evidence = event.evidence
    assert evidence["rule"] == "uplink_loss" and evidence["thresholds"]["loss_ratio"] == 0.03
    assert evidence["publisher_uplink"]["loss_ratio"] == pytest.approx(0.1)
    assert evidence["frozen"]["concealment_ratio"] == pytest.approx(0.12)
    assert evidence["receiver_cpu"]["system_cpu_ratio"] == pytest.approx(0.3)


def test_never_the_same_event_twice_even_after_a_restart(services: Services) -> None:
    app_id, origin = f"vec-{uuid.uuid4().hex[:10]}", _origin_us()
    store_rows(services.backend, app_id, scene("video", receiver={"loss_ratio": 0.2}), origin)
    detect(services.backend)
    first = detected(services.backend, app_id, origin)
    assert len(first) == 1
    detect(services.backend)  # nothing new: the watermark moved on
    # A restart that lost its progress reads everything again, from an hour back.
    write_watermark(services.backend, "samples", int(time.time() * 1000) - 3_600_000)
    restarted = Detector(services.backend, settle_s=0, overlap_s=0, peer_grace_s=0)
    assert restarted.run_until_caught_up().caught_up
    assert detected(services.backend, app_id, origin) == first
    assert services.backend.scalar(f"SELECT count() FROM {WATERMARKS_TABLE}") > 0  # noqa: S608


def test_a_freeze_is_deferred_until_the_publisher_reports_the_window(services: Services) -> None:
    """Live, the publisher's window may arrive after the receiver's: within the grace period the
    detector waits instead of blaming the downlink."""
    app_id, origin = f"vec-{uuid.uuid4().hex[:10]}", _origin_us()
    rows = [
        r for r in scene("audio", publisher={"loss_ratio": 0.1}) if not (r["user"] == "p" and r["at_s"] == 10)
    ]
    store_rows(services.backend, app_id, tuple(rows), origin)
    patient = Detector(services.backend, settle_s=0, overlap_s=60, peer_grace_s=30)
    assert patient.run_until_caught_up().caught_up
    assert detected(services.backend, app_id, origin) == []
    late = [r for r in scene("audio", publisher={"loss_ratio": 0.1}) if r["user"] == "p" and r["at_s"] == 10]
    store_rows(services.backend, app_id, tuple(late), origin)
    assert patient.run_until_caught_up().caught_up
    assert detected(services.backend, app_id, origin) == [(3, 11, "remote", "r", "p")]


def test_docs_list_every_rule_threshold_and_vector() -> None:
    text = DOCS.read_text()
    generated = render()
    assert generated in text, "docs/abnormal.md is stale: paste `render()` between the markers"
