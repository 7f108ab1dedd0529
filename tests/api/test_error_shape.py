"""The native API's one error shape (RFC 9457 problem+json), pinned."""

from __future__ import annotations

import httpx

from tests.helpers import bearer

PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body.keys() >= PROBLEM_KEYS
    assert body["type"] == f"urn:callscope:problem:{code}"
    assert body["status"] == status and body["code"] == code
    assert isinstance(body["title"], str) and isinstance(body["detail"], str) and body["detail"]
    return body


def test_error_shape_is_the_same_everywhere(client: httpx.Client, app_creds: tuple[str, str]) -> None:
    assert_problem(client.get("/v1/admin/apps"), 401, "unauthorized")
    assert_problem(client.get("/v1/no-such-route"), 404, "not_found")
    assert_problem(client.post("/v1/ingest/nonsense", headers=bearer(app_creds[1])), 422, "unprocessable")
    assert_problem(
        client.post("/v1/ingest/samples", content=b"{", headers=bearer(app_creds[1])), 400, "malformed_body"
    )
    body = assert_problem(
        client.post(
            f"/v1/apps/{app_creds[0]}/ingest-tokens", json={"room_id": ""}, headers=bearer(app_creds[1])
        ),
        422,
        "unprocessable",
    )
    assert {e["field"] for e in body["errors"]} == {"room_id", "user_id"}  # type: ignore[attr-defined]
