"""Every API authenticates; ingest tokens are scoped; apps never touch each other's data."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import httpx
import orjson
import pytest

from callscope.api.deps import Services
from callscope.api.tokens import IngestTokens
from callscope.app import create_app
from callscope.domain.tenancy import IngestScope
from tests.conftest import ADMIN_TOKEN, TOKEN_SECRET
from tests.helpers import bearer, sample

OPEN_PATHS = {"/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}


def mint(client: httpx.Client, app_id: str, key: str, room: str = "room-1", user: str = "alice") -> str:
    response = client.post(
        f"/v1/apps/{app_id}/ingest-tokens", json={"room_id": room, "user_id": user}, headers=bearer(key)
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def test_no_endpoint_answers_without_auth(client: httpx.Client, services: Services) -> None:
    paths = create_app(services.settings, services).openapi()["paths"]
    checked = 0
    for template, operations in paths.items():
        if template in OPEN_PATHS:
            continue
        path = template.replace("{app_id}", "1400000001").replace("{endpoint}", "samples")
        for method in operations:
            for headers in ({}, bearer("cs_sk_0000.forged"), {"Authorization": "Basic abc"}):
                response = client.request(method, path, json={}, headers=headers)
                assert response.status_code == 401, (method, path, headers, response.text)
                assert response.headers["www-authenticate"] == "Bearer"
                checked += 1
    assert checked >= 15
    assert client.get("/healthz").status_code == 200


def test_ingest_token_is_scoped_to_room_and_user(
    client: httpx.Client, services: Services, app_creds: tuple[str, str]
) -> None:
    app_id, key = app_creds
    token = mint(client, app_id, key)
    result = client.post(
        "/v1/ingest/samples",
        json={"samples": [sample(), sample(room_id="room-2"), sample(user_id="mallory")]},
        headers=bearer(token),
    ).json()
    assert result["accepted"] == 1
    assert [(p["reason"], p["field"]) for p in result["items"]] == [
        ("out_of_scope", "room_id"),
        ("out_of_scope", "user_id"),
    ]


def test_forged_expired_and_foreign_tokens_are_refused(
    client: httpx.Client, app_creds: tuple[str, str]
) -> None:
    app_id, key = app_creds
    token = mint(client, app_id, key)
    prefix, payload, signature = token.split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=="))
    forged_payload = base64.urlsafe_b64encode(orjson.dumps(claims | {"room": None})).rstrip(b"=").decode()
    expired = (
        IngestTokens(TOKEN_SECRET, max_ttl_s=3600)
        .issue(IngestScope(app_id, "room-1", "alice"), ttl_s=60, now_us=int((time.time() - 7200) * 1e6))
        .token
    )
    other_secret = (
        IngestTokens("another-secret-that-is-long-enough-xx", max_ttl_s=3600)
        .issue(IngestScope(app_id, "room-1", "alice"), ttl_s=600, now_us=int(time.time() * 1e6))
        .token
    )
    cases = {
        "forged payload": f"{prefix}.{forged_payload}.{signature}",
        "truncated signature": token[:-3],
        "expired": expired,
        "other server": other_secret,
        "garbage": "cst1.%%%.%%%",
    }
    for name, credential in cases.items():
        response = client.post("/v1/ingest/samples", json={"samples": [sample()]}, headers=bearer(credential))
        assert response.status_code == 401, name
        assert response.headers["content-type"] == "application/problem+json"
    assert (
        "expired"
        in client.post("/v1/ingest/samples", json={"samples": []}, headers=bearer(expired)).json()["detail"]
    )


def test_token_lifetime_is_capped(
    client: httpx.Client, services: Services, app_creds: tuple[str, str]
) -> None:
    app_id, key = app_creds
    response = client.post(
        f"/v1/apps/{app_id}/ingest-tokens",
        json={"room_id": "r", "user_id": "u", "ttl_s": 10 * 86_400},
        headers=bearer(key),
    )
    assert response.json()["expires_at"] - time.time() <= services.settings.ingest_token_max_ttl_s + 5
    too_short = client.post(
        f"/v1/apps/{app_id}/ingest-tokens",
        json={"room_id": "r", "user_id": "u", "ttl_s": 1},
        headers=bearer(key),
    )
    assert too_short.status_code == 422 and "ttl_s" in too_short.json()["detail"]


def test_apps_cannot_reach_each_other(
    client: httpx.Client, services: Services, new_app: Callable[[], tuple[str, str]]
) -> None:
    app_a, key_a = new_app()
    app_b, key_b = new_app()
    # B's key cannot mint tokens for A, and A's admin-only routes need the admin token.
    denied = client.post(
        f"/v1/apps/{app_a}/ingest-tokens", json={"room_id": "r", "user_id": "u"}, headers=bearer(key_b)
    )
    assert denied.status_code == 403
    assert client.get("/v1/admin/apps", headers=bearer(key_a)).status_code == 401
    # Whatever B sends is stored under B: the app comes from the credential, never the body.
    spoof = sample() | {"app_id": app_a}
    assert (
        client.post("/v1/ingest/samples", json={"samples": [spoof]}, headers=bearer(key_b)).json()["items"][
            0
        ]["reason"]
        == "unknown_field"
    )
    client.post("/v1/ingest/samples", json={"samples": [sample()]}, headers=bearer(key_b))
    counts = {
        row["app_id"]: row["n"]
        for row in services.backend.query(
            "SELECT app_id, count() AS n FROM samples "
            "WHERE app_id IN ({a:String}, {b:String}) GROUP BY app_id",
            {"a": app_a, "b": app_b},
        )
    }
    assert counts == {app_b: 1}


def test_api_key_is_stored_hashed_only(services: Services, app_creds: tuple[str, str]) -> None:
    app_id, key = app_creds
    secret = key.split(".", 1)[1]
    rows = services.backend.query("SELECT * FROM api_keys WHERE app_id = {a:String}", {"a": app_id})
    assert rows and all(secret not in str(row) for row in rows)


def test_admin_token_guards_admin_routes(client: httpx.Client) -> None:
    assert client.get("/v1/admin/apps", headers=bearer("wrong")).status_code == 401
    assert client.get("/v1/admin/apps", headers=bearer(ADMIN_TOKEN)).status_code == 200


@pytest.mark.parametrize("header", ["Bearer", "Bearer x y", "cs_sk_abc.def", "Bearer cs_sk_.x"])
def test_malformed_authorization_headers(client: httpx.Client, header: str) -> None:
    response = client.post("/v1/ingest/samples", json={"samples": []}, headers={"Authorization": header})
    assert response.status_code == 401


def test_browser_join_events_take_the_request_address_server_ones_do_not(
    client: httpx.Client, services: Services, new_app: Callable[[], tuple[str, str]]
) -> None:
    app_id, key = new_app()
    token = mint(client, app_id, key, room="room-1", user="alice")
    now_ms = int(time.time() * 1000)
    base = {"room_id": "room-1", "user_id": "alice", "ts": now_ms}
    browser = [
        base | {"session_id": "s-browser", "type": "join"},
        base | {"session_id": "s-told", "type": "join", "ip": "8.8.8.8"},  # an address it was given
        base | {"session_id": "s-browser", "type": "camera_on", "ts": now_ms + 1},
    ]
    server = [base | {"session_id": "s-server", "type": "join"}]
    for events, credential in ((browser, token), (server, key)):
        reply = client.post("/v1/ingest/events", json={"events": events}, headers=bearer(credential))
        assert reply.status_code == 200 and reply.json()["accepted"] == len(events), reply.text
    rows = services.backend.query(
        "SELECT session_id, type, ip FROM events WHERE app_id = {app:String} ORDER BY session_id, type",
        {"app": app_id},
    )
    assert [(r["session_id"], r["type"], r["ip"]) for r in rows] == [
        ("s-browser", "camera_on", ""),  # only joins say where the participant is
        ("s-browser", "join", "127.0.0.1"),  # the test client connects over loopback
        ("s-server", "join", ""),  # the customer's server is not the participant
        ("s-told", "join", "8.8.8.8"),
    ]
