"""The abnormal-event routes over real HTTP: auth like every native route, clear 400s."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from callscope.analytics.abnormal.vectors import scene
from callscope.app import Services
from tests.analytics.abnormal_helpers import detect, store_rows
from tests.helpers import bearer


def test_list_and_distribution_over_http(
    services: Services, client: httpx.Client, new_app: Callable[[], tuple[str, str]]
) -> None:
    app_id, key = new_app()
    origin = int(time.time() * 1_000_000) - 600_000_000
    store_rows(services.backend, app_id, scene("video", receiver={"loss_ratio": 0.2}), origin)
    detect(services.backend)
    window = {"start": origin // 1000, "end": origin // 1000 + 60_000}
    listed = client.get(f"/v1/apps/{app_id}/abnormal-events", params=window, headers=bearer(key))
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["total"] == 1 and body["limit"] == 100 and body["offset"] == 0
    (event,) = body["events"]
    assert (event["type"], event["factor"], event["location"], event["stage"]) == (
        2,
        14,
        "local",
        "communication",
    )
    assert event["factor_desc"] == "Downlink video packet loss" and event["peer_id"] == f"{app_id}-p"
    filtered = client.get(
        f"/v1/apps/{app_id}/abnormal-events", params={**window, "type": 3}, headers=bearer(key)
    ).json()
    assert filtered["total"] == 0
    for dimension, row in (
        ("type", {"type": 2, "type_desc": "Video freezing", "factor": None, "factor_desc": None}),
        ("type,factor", {"type": 2, "type_desc": "Video freezing", "factor": 14}),
    ):
        answer = client.get(
            f"/v1/apps/{app_id}/abnormal-events/distribution",
            params={**window, "dimension": dimension},
            headers=bearer(key),
        )
        assert answer.status_code == 200, answer.text
        (got,) = answer.json()["rows"]
        assert got["user_count"] == 1 and row.items() <= got.items()


def test_bad_input_is_a_clear_problem(client: httpx.Client, new_app: Callable[[], tuple[str, str]]) -> None:
    app_id, key = new_app()
    other_id, _ = new_app()
    now = int(time.time() * 1000)
    base = f"/v1/apps/{app_id}/abnormal-events"
    cases = [
        (base + "/distribution", {"start": now - 1000, "end": now, "dimension": "region"}, key, 400),
        (base, {"start": now, "end": now - 1000}, key, 400),
        (base, {"start": "yesterday", "end": now}, key, 400),
        (base, {"start": now - 1000, "end": now, "type": 9}, key, 422),
        (base, {"start": now - 1000, "end": now}, None, 401),
        (f"/v1/apps/{other_id}/abnormal-events", {"start": now - 1000, "end": now}, key, 403),
    ]
    for path, params, credential, status in cases:
        response = client.get(path, params=params, headers=bearer(credential) if credential else {})
        assert response.status_code == status, (path, params, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"]
