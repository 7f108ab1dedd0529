"""Health, readiness, metrics and request ids."""

from __future__ import annotations

import logging

import httpx
import pytest

from callscope.observability import JsonFormatter
from tests.conftest import ADMIN_TOKEN
from tests.helpers import bearer, sample


def test_health_and_readiness(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["queued_rows"] >= 0


def test_metrics_need_admin_and_count_outcomes(client: httpx.Client, app_creds: tuple[str, str]) -> None:
    client.post(
        "/v1/ingest/samples", json={"samples": [sample(), sample(loss_ratio=3)]}, headers=bearer(app_creds[1])
    )
    assert client.get("/metrics").status_code == 401
    text = client.get("/metrics", headers=bearer(ADMIN_TOKEN)).text
    for needle in (
        'callscope_ingest_items_total{endpoint="samples",outcome="accepted",reason=""}',
        'callscope_ingest_items_total{endpoint="samples",outcome="invalid",reason="out_of_range"}',
        "callscope_writer_queue_rows",
        "callscope_writer_commit_seconds_bucket",
        'callscope_rows_stored_total{table="samples"}',
    ):
        assert needle in text, needle


def test_request_id_is_echoed_and_logged_without_secrets(
    client: httpx.Client, app_creds: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="callscope.http"):
        response = client.post(
            "/v1/ingest/samples",
            json={"samples": [sample()]},
            headers={**bearer(app_creds[1]), "X-Request-ID": "abc-123"},
        )
    assert response.headers["x-request-id"] == "abc-123"
    generated = client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32
    lines = [JsonFormatter().format(r) for r in caplog.records if r.name == "callscope.http"]
    ingest_line = next(line for line in lines if '"/v1/ingest/samples"' in line)
    assert '"request_id":"abc-123"' in ingest_line and '"status":200' in ingest_line
    secret = app_creds[1].split(".")[1]
    assert all(secret not in line for line in lines)
